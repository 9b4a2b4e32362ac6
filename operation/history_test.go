package operation_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"

	"github.com/urmanac/sovos/gc"
	"github.com/urmanac/sovos/hashing"
	"github.com/urmanac/sovos/internal/oci"
	"github.com/urmanac/sovos/internal/testenv"
	"github.com/urmanac/sovos/operation"
	"github.com/urmanac/sovos/rollback"
	"github.com/urmanac/sovos/state"
)

// historyConfig declares the kernel whose repository gc scans; nothing is built.
const historyConfig = `
sovos {
  insecure_registries = [%q]
}
source "s" {
  path = "./k"
}
kernel "k" {
  source = source.s
  image  = %q
  tags   = ["stable"]
}
`

// pushBuild pushes an image annotated as a sovos build of hash under its content tag,
// as apply does, and returns its digest.
func pushBuild(t *testing.T, reg *oci.Client, repo, hash string) string {
	t.Helper()
	img, err := random.Image(64, 1)
	if err != nil {
		t.Fatal(err)
	}
	img = mutate.Annotations(img, map[string]string{hashing.AnnotationHash: hash}).(v1.Image)
	ref, err := reg.NewTag(repo + ":" + hashing.ContentTag(hash))
	if err != nil {
		t.Fatal(err)
	}
	if err := reg.Write(context.Background(), ref, img); err != nil {
		t.Fatal(err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d.String()
}

// TestHistoryRollbackGC runs state history, rollback and gc without the CLI: two applies
// recorded in a local layout state, the stable tag rolled back to the first build, and
// gc deleting the one build nothing keeps.
func TestHistoryRollbackGC(t *testing.T) {
	ctx := context.Background()
	host := testenv.MemRegistry(t)
	reg := oci.New(oci.WithInsecure(host))
	repo := host + "/f/kernel"
	in, _ := workdir(t, map[string]string{"main.sovos.hcl": fmt.Sprintf(historyConfig, host, repo)})
	if err := os.MkdirAll(filepath.Join(in.Dir, "k"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(in.Dir, "k", "Dockerfile"), []byte("FROM scratch\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	h0, h1, h2 := strings.Repeat("0", 64), strings.Repeat("1", 64), strings.Repeat("2", 64)
	k0, k1, k2 := pushBuild(t, reg, repo, h0), pushBuild(t, reg, repo, h1), pushBuild(t, reg, repo, h2)
	stable, err := reg.NewTag(repo + ":stable")
	if err != nil {
		t.Fatal(err)
	}
	setStable := func(digest string) {
		d, _ := reg.NewDigest(repo + "@" + digest)
		desc, err := reg.Get(ctx, d)
		if err != nil {
			t.Fatal(err)
		}
		if err := reg.Tag(ctx, stable, desc); err != nil {
			t.Fatal(err)
		}
	}
	stableAt := func() string {
		desc, err := reg.Get(ctx, stable)
		if err != nil {
			t.Fatal(err)
		}
		return desc.Digest.String()
	}

	// Serial 1 built and promoted k1, serial 2 k2 (k0 was built by neither: an abandoned
	// build nothing refers to).
	b, err := state.NewLayout(filepath.Join(in.Dir, ".sovos", "state"), "default")
	if err != nil {
		t.Fatal(err)
	}
	s := state.New("default", "test")
	for _, build := range []struct{ hash, digest string }{{h1, k1}, {h2, k2}} {
		setStable(build.digest)
		w := state.NewWriter(b, s, nil)
		w.Update(func(s *state.State) {
			s.History = state.NewHistory("apply")
			s.History.Built = []string{"kernel.k"}
			s.Resources = []*state.Resource{{Address: "kernel.k", Type: "kernel", Hash: build.hash, Tag: hashing.ContentTag(build.hash),
				Image: repo, Digest: build.digest, Tags: map[string]string{"stable": build.digest}}}
		})
		if err := w.Close(ctx); err != nil {
			t.Fatal(err)
		}
	}

	serials := func() []string {
		t.Helper()
		entries, _, err := operation.StateHistory(ctx, operation.StateHistoryRequest{Inputs: in})
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, e := range entries {
			out = append(out, fmt.Sprintf("%d %s", e.Serial, e.Operation))
		}
		return out
	}
	if got, want := serials(), []string{"2 apply", "1 apply"}; !slices.Equal(got, want) {
		t.Fatalf("history = %q, want %q", got, want)
	}

	// Rollback to serial 1: shown, then the stable tag moves back to k1 and a new serial
	// records it.
	var shown *rollback.Plan
	rb, err := operation.Rollback(ctx, operation.RollbackRequest{Inputs: in, To: 1,
		Approve: func(p *rollback.Plan) (bool, error) { shown = p; return true, nil }})
	if err != nil {
		t.Fatal(err)
	}
	want := rollback.Move{Address: "kernel.k", Type: "kernel", Image: repo, Tag: "stable", From: k2, To: k1}
	if shown == nil || len(shown.Moves) != 1 || shown.Moves[0] != want || len(rb.Moved) != 1 || rb.Serial != 3 {
		t.Fatalf("rollback: shown %+v, result %+v", shown, rb)
	}
	if got := stableAt(); got != k1 {
		t.Errorf("stable -> %s after the rollback, want %s", got, k1)
	}
	if got, want := serials(), []string{"3 rollback", "2 apply", "1 apply"}; !slices.Equal(got, want) {
		t.Errorf("history after the rollback = %q, want %q", got, want)
	}

	// gc keeps k2 (the current state's build) and k1 (the stable tag), and deletes k0.
	deletes := func(p *gc.Plan) []string {
		var out []string
		for _, g := range p.Delete {
			for _, a := range g.Artifacts {
				out = append(out, a.Manifest())
			}
		}
		return out
	}
	dry, err := operation.GC(ctx, operation.GCRequest{Inputs: in, Keep: 1, DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if got := deletes(dry.Plan); !slices.Equal(got, []string{repo + "@" + k0}) || len(dry.Deleted) != 0 {
		t.Fatalf("gc -dry-run: would delete %q, deleted %q", got, dry.Deleted)
	}
	res, err := operation.GC(ctx, operation.GCRequest{Inputs: in, Keep: 1})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.Deleted, []string{repo + "@" + k0}) || res.Serial != 4 {
		t.Errorf("gc: deleted %q, serial %d", res.Deleted, res.Serial)
	}
	for d, kept := range map[string]bool{k0: false, k1: true, k2: true} {
		ref, _ := reg.NewDigest(repo + "@" + d)
		_, err := reg.Get(ctx, ref)
		if kept && err != nil || !kept && !oci.IsNotFound(err) {
			t.Errorf("%s after gc: %v (kept: %t)", d, err, kept)
		}
	}
	if got := serials(); len(got) != 4 || got[0] != "4 gc" {
		t.Errorf("history after gc = %q", got)
	}
}
