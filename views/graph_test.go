package views

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"

	"github.com/urmanac/sovos/config"
	"github.com/urmanac/sovos/internal/testenv"
)

// TestGraphGolden renders the graph of ADR-005's configuration and of a keyed matrix,
// whose kernel.k[each.key] references are edges to one instance each, with and
// without notes from a plan.
func TestGraphGolden(t *testing.T) {
	for _, dir := range []string{"adr005", "matrix"} {
		cfg, diags := config.Load(context.Background(), filepath.Join("..", "config", "testdata", dir), config.EvalOptions{})
		if diags.HasErrors() {
			t.Fatal(diags.Error())
		}
		notes := map[string]string{cfg.Resources[len(cfg.Resources)-1].Addr.String(): "rebuild"}
		for _, tc := range []struct {
			file  string
			write func(*bytes.Buffer, map[string]string) error
		}{
			{dir + ".dot", func(b *bytes.Buffer, n map[string]string) error { return GraphDOT(b, cfg, n) }},
			{dir + ".mmd", func(b *bytes.Buffer, n map[string]string) error { return GraphMermaid(b, cfg, n) }},
		} {
			var plain, noted bytes.Buffer
			if err := tc.write(&plain, nil); err != nil {
				t.Fatal(err)
			}
			testenv.Golden(t, filepath.Join("testdata", "graph", tc.file), plain.Bytes())
			if err := tc.write(&noted, notes); err != nil {
				t.Fatal(err)
			}
			testenv.Golden(t, filepath.Join("testdata", "graph", "noted-"+tc.file), noted.Bytes())
		}
	}
}
