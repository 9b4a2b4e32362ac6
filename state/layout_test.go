package state

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
)

func TestLayoutIndex(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), ".sovos", "state")
	main, _ := NewLayout(dir, "main")
	dev, _ := NewLayout(dir, "dev")
	s := sampleState()
	if _, err := main.Write(ctx, s); err != nil {
		t.Fatal(err)
	}
	if _, err := dev.Write(ctx, New("dev", "0.1.0")); err != nil {
		t.Fatal(err)
	}
	s.Serial++
	d, err := main.Write(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	// go-containerregistry reads it as a layout: two entries, one per workspace.
	idx, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]v1.Descriptor{}
	for _, m := range im.Manifests {
		names[m.Annotations[refNameAnnotation]] = m
	}
	if len(im.Manifests) != 2 || names["main"].Digest.String() != d || names["dev"].ArtifactType != ArtifactType {
		t.Errorf("index.json = %+v", im.Manifests)
	}
	img, err := idx.Image(names["main"].Digest)
	if err != nil {
		t.Fatal(err)
	}
	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	if m.ArtifactType != ArtifactType || m.Config.MediaType != "application/vnd.oci.empty.v1+json" || len(m.Layers) != 1 || m.Layers[0].MediaType != LayerMediaType {
		t.Errorf("manifest = %+v", m)
	}
	// The first state's blobs were collected: config, 2 layers, 2 manifests remain.
	blobs, _ := os.ReadDir(filepath.Join(dir, "blobs", "sha256"))
	if len(blobs) != 5 {
		t.Errorf("%d blobs left, want 5", len(blobs))
	}
}

func TestLayoutCorrupt(t *testing.T) {
	ctx := context.Background()
	for _, tt := range []struct {
		name    string
		corrupt func(t *testing.T, dir string, m *v1.Manifest)
		want    string
	}{
		{"layer bytes", func(t *testing.T, dir string, m *v1.Manifest) {
			p := filepath.Join(dir, "blobs", "sha256", m.Layers[0].Digest.Hex)
			data, _ := os.ReadFile(p)
			data[10] ^= 1
			os.WriteFile(p, data, 0o644)
		}, "is corrupted: its content has digest"},
		{"layer missing", func(t *testing.T, dir string, m *v1.Manifest) {
			os.Remove(filepath.Join(dir, "blobs", "sha256", m.Layers[0].Digest.Hex))
		}, "reading layer"},
		{"manifest missing", func(t *testing.T, dir string, m *v1.Manifest) {
			blobs, _ := filepath.Glob(filepath.Join(dir, "blobs", "sha256", "*"))
			for _, b := range blobs {
				os.Remove(b)
			}
		}, "reading manifest"},
		{"index", func(t *testing.T, dir string, m *v1.Manifest) {
			os.WriteFile(filepath.Join(dir, "index.json"), []byte("{"), 0o644)
		}, "not an OCI image index"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			l, _ := NewLayout(dir, "main")
			d, err := l.Write(ctx, sampleState())
			if err != nil {
				t.Fatal(err)
			}
			raw, _ := os.ReadFile(filepath.Join(dir, "blobs", "sha256", strings.TrimPrefix(d, "sha256:")))
			var m v1.Manifest
			json.Unmarshal(raw, &m)
			tt.corrupt(t, dir, &m)
			_, _, err = l.Read(ctx)
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "layout "+dir) {
				t.Errorf("Read = %v, want an error naming the layout and containing %q", err, tt.want)
			}
			if tt.name == "index" {
				return // a foreign index.json: not ours to overwrite
			}
			// Damage, not a foreign document: what `state push -force` repairs.
			if !errors.Is(err, ErrCorrupt) {
				t.Errorf("Read = %v, want ErrCorrupt", err)
			}
			h, err := Hold(ctx, l, NewLockInfo("state push", "0.1.0"))
			if err != nil {
				t.Fatal(err)
			}
			defer h.Release(ctx)
			fixed := sampleState()
			fixed.Serial = 9
			if _, err := h.Write(ctx, fixed); err != nil {
				t.Fatalf("writing over a damaged state: %v", err)
			}
			if s, _, err := l.Read(ctx); err != nil || s.Serial != 9 {
				t.Errorf("after the repair: %v, %v", s, err)
			}
		})
	}
}

func TestWriteErrored(t *testing.T) {
	dir := t.TempDir()
	p, err := WriteErrored(dir, sampleState())
	if err != nil {
		t.Fatal(err)
	}
	if p != filepath.Join(dir, ".sovos", "errored-state.json") {
		t.Errorf("path %s", p)
	}
	data, _ := os.ReadFile(p)
	if s, err := Decode(data, p); err != nil || s.Serial != 7 {
		t.Errorf("errored state reads back as %v, %v", s, err)
	}
	// It is the whole state, outputs included: only its owner reads it.
	if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("errored state mode %v, %v; want 0600", fi.Mode().Perm(), err)
	}
}
