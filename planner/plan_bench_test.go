package planner

import (
	"context"
	"fmt"
	"testing"
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
		p, err := Build(context.Background(), cfg, prior, "", Options{})
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

func BenchmarkRenderMarkdown10000(b *testing.B) {
	p, err := Build(context.Background(), matrix(10000), nil, "", Options{})
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		_ = markdown(p, fmt.Sprint("."), MarkdownLimit)
	}
}
