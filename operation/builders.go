package operation

import (
	"context"
	"fmt"

	"github.com/hashicorp/go-hclog"

	"github.com/urmanac/sovos/config"
	"github.com/urmanac/sovos/executor"
	"github.com/urmanac/sovos/executor/bkdriver"
	"github.com/urmanac/sovos/internal/oci"
)

// builderPool connects to the builders of cfg once each (a configuration without
// builder blocks has one "default" builder at $BUILDKIT_HOST). BuildKit pushes over
// plain HTTP to the registries reg does; what BuildKit's session logs goes to log, at
// debug level. The caller closes the pool.
func builderPool(cfg *config.Config, reg *oci.Client, log hclog.Logger) *bkdriver.Pool {
	return bkdriver.NewPool(func(ctx context.Context, name string) (*bkdriver.Driver, error) {
		opts := []bkdriver.Option{bkdriver.WithInsecureRegistries(reg.InsecureHosts()...), bkdriver.WithLogger(log)}
		addr := ""
		if b := cfg.Builders[name]; b != nil {
			addr = b.Address
			if t := b.TLS; t != nil {
				opts = append(opts, bkdriver.WithTLS(t.CACert, t.Cert, t.Key, t.ServerName))
			}
		} else if name != "default" {
			return nil, fmt.Errorf("no builder %q in the configuration", name)
		}
		d, err := bkdriver.New(ctx, addr, opts...)
		if err != nil {
			return nil, fmt.Errorf("builder.%s: %w", name, err)
		}
		return d, nil
	})
}

// builders adapts a pool to what the executor asks for.
func builders(p *bkdriver.Pool) func(context.Context, string) (executor.Builder, error) {
	return func(ctx context.Context, name string) (executor.Builder, error) {
		d, err := p.Get(ctx, name)
		if err != nil {
			return nil, err
		}
		return d, nil
	}
}
