package state_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/urmanac/sovos/internal/oci"
	"github.com/urmanac/sovos/internal/testenv"
	"github.com/urmanac/sovos/state"
)

// TestCNCFRegistry runs the registry backend against the real CNCF distribution registry.
func TestCNCFRegistry(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	ctx := context.Background()
	host := testenv.StartRegistry(t)
	open := func(ws string) *state.Registry {
		c := oci.New(oci.WithInsecure(host), oci.WithKeychain(authn.NewMultiKeychain()), oci.WithUserAgent("sovos-test"))
		r, err := state.NewRegistry(host+"/urmanac/sovos-state", ws, state.WithClient(c))
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	a, b := open("main"), open("main")

	if s, d, err := a.Read(ctx); s != nil || d != "" || err != nil {
		t.Fatalf("Read of a missing repository = %v, %q, %v", s, d, err)
	}
	s := state.New("main", "0.1.0")
	s.Serial = 1
	s.Resources = append(s.Resources, &state.Resource{Address: "kernel.k", Type: "kernel",
		Hash: strings.Repeat("ab", 32), Digest: "sha256:" + strings.Repeat("cd", 32)})
	d, err := a.Write(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	got, gd, err := b.Read(ctx)
	if err != nil || gd != d || got.Lineage != s.Lineage || got.Resource("kernel.k") == nil {
		t.Fatalf("Read after Write = %+v, %q (want %q), %v", got, gd, d, err)
	}

	// The registry kept the manifest as written.
	ref, _ := name.NewTag(host+"/urmanac/sovos-state:main", name.Insecure)
	desc, err := remote.Get(ref)
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		ArtifactType string `json:"artifactType"`
		Config       struct{ MediaType string }
		Layers       []struct{ MediaType string }
	}
	if err := json.Unmarshal(desc.Manifest, &m); err != nil {
		t.Fatal(err)
	}
	if m.ArtifactType != state.ArtifactType || m.Config.MediaType != "application/vnd.oci.empty.v1+json" ||
		len(m.Layers) != 1 || m.Layers[0].MediaType != state.LayerMediaType {
		t.Errorf("stored manifest: %s", desc.Manifest)
	}

	// Locking: a second locker gets the holder's info; after release it gets the lock,
	// and the released tags are gone (this registry allows deletes).
	h, err := state.Hold(ctx, a, state.NewLockInfo("apply", "0.1.0"))
	if err != nil {
		t.Fatal(err)
	}
	var le *state.LockError
	if _, err := state.Hold(ctx, b, state.NewLockInfo("apply", "0.1.0")); !errors.As(err, &le) || le.Info.ID != h.Info().ID {
		t.Fatalf("second locker: %v", err)
	} else {
		t.Logf("second locker: %v", err)
	}
	if _, err := h.Write(ctx, s); err != nil {
		t.Fatalf("fenced write: %v", err)
	}
	if err := h.Release(ctx); err != nil {
		t.Fatal(err)
	}
	h2, err := state.Hold(ctx, b, state.NewLockInfo("apply", "0.1.0"))
	if err != nil {
		t.Fatalf("locking after release: %v", err)
	}
	if err := h2.Release(ctx); err != nil {
		t.Fatal(err)
	}
	repo, _ := name.NewRepository(host+"/urmanac/sovos-state", name.Insecure)
	tags, err := remote.List(repo)
	if err != nil {
		t.Fatal(err)
	}
	if len(tags) != 1 || tags[0] != "main" {
		t.Errorf("tags after two locks released: %v, want [main]", tags)
	}
}
