package operation

import (
	"context"
	"fmt"
	"sync"

	"github.com/urmanac/sovos/config"
	"github.com/urmanac/sovos/executor/buildkit"
	"github.com/urmanac/sovos/internal/oci"
)

// builderPool connects to each builder of a configuration once, on first use (a
// configuration without builder blocks has one "default" builder at $BUILDKIT_HOST),
// and closes every connection it made. BuildKit pushes over plain HTTP to the
// registries reg does.
type builderPool struct {
	cfg *config.Config
	reg *oci.Client

	mu    sync.Mutex
	conns map[string]*builderConn
}

type builderConn struct {
	once sync.Once
	d    *buildkit.Driver
	err  error
}

func newBuilderPool(cfg *config.Config, reg *oci.Client) *builderPool {
	return &builderPool{cfg: cfg, reg: reg, conns: map[string]*builderConn{}}
}

// get returns the connection to builder name ("" is "default"), connecting once.
func (p *builderPool) get(ctx context.Context, name string) (*buildkit.Driver, error) {
	if name == "" {
		name = "default"
	}
	p.mu.Lock()
	c := p.conns[name]
	if c == nil {
		c = &builderConn{}
		p.conns[name] = c
	}
	p.mu.Unlock()
	c.once.Do(func() { c.d, c.err = p.connect(ctx, name) })
	return c.d, c.err
}

func (p *builderPool) connect(ctx context.Context, name string) (*buildkit.Driver, error) {
	opts := []buildkit.Option{buildkit.WithInsecureRegistries(p.reg.InsecureHosts()...)}
	addr := ""
	if b := p.cfg.Builders[name]; b != nil {
		addr = b.Address
		if t := b.TLS; t != nil {
			opts = append(opts, buildkit.WithTLS(t.CACert, t.Cert, t.Key, t.ServerName))
		}
	} else if name != "default" {
		return nil, fmt.Errorf("no builder %q in the configuration", name)
	}
	d, err := buildkit.New(ctx, addr, opts...)
	if err != nil {
		return nil, fmt.Errorf("builder.%s: %w", name, err)
	}
	return d, nil
}

// close closes every connection made.
func (p *builderPool) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		if c.d != nil {
			c.d.Close()
		}
	}
}
