package planner

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"

	"github.com/urmanac/sovos/config"
)

// Plan time grows linearly with the number of resources: every lookup is by map, and
// each resource is visited once. Compare ns/op per resource across the three sizes.
func benchmarkPlan(b *testing.B, n int) {
	cfg := matrix(n)
	prior := applied(b, cfg, false)
	// One kernel changed: its closure is rebuilt, everything else is a no-op.
	delete(prior.Resource("kernel.k0").Inputs, "flavour")
	prior.Resource("kernel.k0").Hash = "changed"
	b.ResetTimer()
	for b.Loop() {
		p, err := MakePlan(context.Background(), cfg, prior, "", Options{})
		if err != nil {
			b.Fatal(err)
		}
		if p.Summary.Rebuild == 0 {
			b.Fatal("nothing to rebuild")
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/resource")
}

func BenchmarkPlan500(b *testing.B)   { benchmarkPlan(b, 500) }
func BenchmarkPlan2000(b *testing.B)  { benchmarkPlan(b, 2000) }
func BenchmarkPlan10000(b *testing.B) { benchmarkPlan(b, 10000) }

// matrix is a configuration of n profiles over a few kernels, all to be created.
func matrix(n int) *config.Config {
	b := newCfg(planRegistry)
	b.gitSource("pkgs", strings.Repeat("1", 40))
	b.gitSource("talos", strings.Repeat("2", 40))
	kernels := 10
	for k := 0; k < kernels; k++ {
		b.build(fmt.Sprintf("kernel.k%d", k), "source.pkgs", map[string]cty.Value{"flavour": cty.NumberIntVal(int64(k))}, "", "stable")
		b.build(fmt.Sprintf("installer.i%d", k), "source.talos", nil, fmt.Sprintf("kernel.k%d", k))
	}
	for i := 0; len(b.cfg.Resources) < n; i++ {
		b.profile(fmt.Sprintf(`profile.board["board-%05d"]`, i), fmt.Sprintf("installer.i%d", i%kernels))
	}
	return b.cfg
}
