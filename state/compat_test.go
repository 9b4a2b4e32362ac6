package state

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/layout"

	"github.com/urmanac/sovos/internal/testenv"
)

// firstRelease is a layout the first-release sovos (4b53002) wrote with
// `sovos state push -state-path=DIR` (workspace main, serial 5): its index.json, its
// state artifact and its version-1 document, byte for byte. The registry backend
// stores the same artifact.
const firstRelease = "testdata/first-release-layout"

// TestFirstReleaseStateUpgraded (SPEC §12): what the first release stored is read by
// both backends as it is, and the next write stores it as version 2 with its history
// tag, lineage kept, serial grown, nothing it recorded lost.
func TestFirstReleaseStateUpgraded(t *testing.T) {
	stores := map[string]func(t *testing.T) Backend{
		"layout": func(t *testing.T) Backend {
			dir := filepath.Join(t.TempDir(), "state")
			if err := os.CopyFS(dir, os.DirFS(firstRelease)); err != nil {
				t.Fatal(err)
			}
			l, err := NewLayout(dir, "main")
			if err != nil {
				t.Fatal(err)
			}
			return l
		},
		"registry": func(t *testing.T) Backend {
			// The first release's manifest, pushed as it is.
			idx, err := layout.ImageIndexFromPath(firstRelease)
			if err != nil {
				t.Fatal(err)
			}
			im, err := idx.IndexManifest()
			if err != nil || len(im.Manifests) != 1 {
				t.Fatalf("%s: %v, %v", firstRelease, im, err)
			}
			img, err := idx.Image(im.Manifests[0].Digest)
			if err != nil {
				t.Fatal(err)
			}
			r := newTestRegistry(t, testenv.MemRegistry(t), "main")
			if err := r.client.Write(context.Background(), r.tag, img); err != nil {
				t.Fatal(err)
			}
			return r
		},
	}
	for name, open := range stores {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			b := open(t)
			s, _, err := b.Read(ctx)
			if err != nil || s == nil {
				t.Fatalf("reading the first release's state: %v, %v", s, err)
			}
			r := s.Resource("extension.hailort")
			if s.Serial != 5 || s.Lineage != "6f1c1a52-6a3b-4c55-9b1e-2f3f1f1d2a10" || s.Workspace != "main" || s.History != nil ||
				r == nil || r.Tags["stable"] != "sha256:2222222222222222222222222222222222222222222222222222222222222222" || r.Verified == nil || !r.Verified.OK ||
				string(s.Outputs["n"].Value) != "1" {
				t.Fatalf("read as serial %d, lineage %s, workspace %s, history %v, resource %+v", s.Serial, s.Lineage, s.Workspace, s.History, r)
			}

			s.History = NewHistory("state rm")
			w := NewWriter(b, s, nil)
			w.Update(func(s *State) { s.Outputs = nil })
			if err := w.Close(ctx); err != nil {
				t.Fatal(err)
			}
			data, err := readRaw(ctx, b)
			if err != nil {
				t.Fatal(err)
			}
			var doc struct {
				Version int             `json:"version"`
				Serial  uint64          `json:"serial"`
				Lineage string          `json:"lineage"`
				History json.RawMessage `json:"history"`
			}
			if err := json.Unmarshal(data, &doc); err != nil {
				t.Fatal(err)
			}
			if doc.Version != 2 || doc.Serial != 6 || doc.Lineage != s.Lineage || doc.History == nil {
				t.Errorf("written back as version %d, serial %d, lineage %s, history %s", doc.Version, doc.Serial, doc.Lineage, doc.History)
			}
			if serials, err := b.(Historian).HistorySerials(ctx); err != nil || !slices.Equal(serials, []uint64{6}) {
				t.Errorf("history after the upgrade: %v, %v", serials, err)
			}
			back, _, err := b.Read(ctx)
			if err != nil || back.Resource("extension.hailort") == nil || back.Resource("extension.hailort").Verified == nil {
				t.Errorf("read after the upgrade: %+v, %v", back, err)
			}
		})
	}
}

// readRaw returns the state document b stores, as stored.
func readRaw(ctx context.Context, b Backend) ([]byte, error) {
	switch b := b.(type) {
	case *Layout:
		desc, err := b.entry(b.workspace)
		if err != nil || desc == nil {
			return nil, fmt.Errorf("no entry %s: %v", b.workspace, err)
		}
		p := layout.Path(b.dir)
		raw, err := p.Bytes(desc.Digest)
		if err != nil {
			return nil, err
		}
		ld, err := parseArtifact(raw, desc.MediaType, ArtifactType, LayerMediaType, "layout")
		if err != nil {
			return nil, err
		}
		return p.Bytes(ld.Digest)
	case *Registry:
		p, err := b.puller(ctx)
		if err != nil {
			return nil, err
		}
		desc, err := b.get(ctx, p, b.tag)
		if err != nil || desc == nil {
			return nil, fmt.Errorf("no state at %s: %v", b.tag, err)
		}
		return b.fetch(ctx, p, desc, ArtifactType, LayerMediaType, "registry")
	}
	return nil, fmt.Errorf("backend %T", b)
}
