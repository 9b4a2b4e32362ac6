package executor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/urmanac/sovos/config"
	"github.com/urmanac/sovos/planner"
	"github.com/urmanac/sovos/state"
)

// failingBackend stores nothing: every write fails, as a registry that went down would.
type failingBackend struct{ state.Backend }

func (failingBackend) Write(context.Context, *state.State) (string, error) {
	return "", errors.New("registry unreachable")
}
func (failingBackend) String() string { return "registry example.com/state:default" }

// A plan that needs no daemon: a profile without imager (rendered only) and a forgotten
// resource.
func offlinePlan(t *testing.T, dir string) (*planner.Plan, *state.State) {
	a, prof := profileApplier(t)
	prof.Profile.Dest = filepath.Join(dir, "profiles")
	prof.Tag = prof.Hash[:16]
	prior := a.p.Prior
	prior.Lineage, prior.Workspace, prior.Version = "6f1c7a8e-4b7e-4a53-9c55-7a7d6c1e2f00", "default", state.Version
	for _, r := range prior.Resources {
		r.Hash = strings.Repeat("d", 64)
		r.Type, _, _ = strings.Cut(r.Address, ".")
	}
	prior.Resources = append(prior.Resources, &state.Resource{Address: "kernel.old", Type: "kernel", Hash: strings.Repeat("e", 64)})
	p := a.p
	p.Changes = []*planner.ResourceChange{
		{Address: prof.Addr.String(), Type: "profile", Action: planner.ActionCreate, Resource: prof,
			DependsOn: []string{"installer.i", "extension.hailort"},
			Inputs:    map[string]json.RawMessage{"arch": json.RawMessage(`"arm64"`)}},
		{Address: "kernel.old", Type: "kernel", Action: planner.ActionForget, Prior: prior.Resources[2]},
	}
	// The executor records what the plan carries, not what it would compute itself.
	p.Data = []*planner.ResourceChange{{Address: "image.base", Type: "image", Action: planner.ActionNoop,
		After:  &planner.Snapshot{Hash: strings.Repeat("1", 64), Ref: "ghcr.io/siderolabs/installer-base:v1.13.3", Digest: "sha256:" + strings.Repeat("1", 64)},
		Inputs: map[string]json.RawMessage{"ref": json.RawMessage(`"ghcr.io/siderolabs/installer-base:v1.13.3"`)}}}
	return p, prior
}

func TestApplyOffline(t *testing.T) {
	dir := t.TempDir()
	p, prior := offlinePlan(t, dir)
	backend, err := state.NewLayout(filepath.Join(dir, "state"), "default")
	if err != nil {
		t.Fatal(err)
	}
	sum, err := Apply(context.Background(), p, Options{Writer: state.NewWriter(backend, prior, nil), Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Count(Rendered) != 1 || sum.Count(Forgotten) != 1 {
		t.Errorf("outcomes: %+v", sum.Resources)
	}
	s, _, err := backend.Read(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if s.Resource("kernel.old") != nil {
		t.Error("kernel.old is still in the state")
	}
	rec := s.Resource(`profile.talos["cm5-hailo10h"]`)
	if rec == nil || rec.Hash != strings.Repeat("c", 64) || rec.Digest != "" || string(rec.Inputs["arch"]) != `"arm64"` {
		t.Errorf("profile record: %+v", rec)
	}
	img := s.Resource("image.base")
	if img == nil || img.Hash != strings.Repeat("1", 64) || img.Digest != "sha256:"+strings.Repeat("1", 64) ||
		img.Image != "ghcr.io/siderolabs/installer-base:v1.13.3" || len(img.Inputs) != 1 {
		t.Errorf("image record: %+v", img)
	}
	if _, err := os.Stat(filepath.Join(dir, "profiles", "profile.talos__cm5-hailo10h__.yaml")); err != nil {
		t.Error(err)
	}
}

func TestApplyStateWriteFails(t *testing.T) {
	dir := t.TempDir()
	p, prior := offlinePlan(t, dir)
	_, err := Apply(context.Background(), p, Options{Writer: state.NewWriter(failingBackend{}, prior, nil), Dir: dir})
	if err == nil {
		t.Fatal("apply succeeded although the state could not be written")
	}
	path := filepath.Join(dir, ".sovos", "errored-state.json")
	for _, want := range []string{"registry unreachable", "sovos state push " + path} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
	data, rerr := os.ReadFile(path)
	if rerr != nil {
		t.Fatal(rerr)
	}
	s, derr := state.Decode(data, path)
	if derr != nil {
		t.Fatal(derr)
	}
	if s.Resource(`profile.talos["cm5-hailo10h"]`) == nil || s.Resource("kernel.old") != nil {
		t.Errorf("errored state does not hold the apply's results: %+v", s.Resources)
	}
}

func TestApplyWithoutWriter(t *testing.T) {
	p, _ := offlinePlan(t, t.TempDir())
	if _, err := Apply(context.Background(), p, Options{}); err == nil {
		t.Error("no error without a state writer")
	}
	if _, err := Apply(context.Background(), &planner.Plan{}, Options{}); err == nil {
		t.Error("no error for a plan without configuration")
	}
}

// benchmarkBookkeeping is the executor's own cost without any build, per node, for n
// kernels: a third adopted (recorded without a build), a third forgotten, a third
// unchanged, with the state flushed to a local layout. Compare µs/node at 1k and 10k:
// it stays flat only if recording a result does not scan the whole state.
func benchmarkBookkeeping(b *testing.B, n int) {
	dir := b.TempDir()
	backend, err := state.NewLayout(filepath.Join(dir, "state"), "default")
	if err != nil {
		b.Fatal(err)
	}
	cfg := &config.Config{Dir: dir}
	p := &planner.Plan{Config: cfg}
	prior := state.New("default", "bench")
	digest := "sha256:" + strings.Repeat("b", 64)
	kept := 0 // resources recorded after the apply
	for i := range n {
		addr := config.Address{Type: "kernel", Name: fmt.Sprintf("k%d", i)}
		rec := &state.Resource{Address: addr.String(), Type: "kernel", Hash: strings.Repeat("a", 64), Tag: strings.Repeat("a", 16),
			Image: "example.com/k", Digest: digest}
		switch i % 3 {
		case 0: // forgotten: in the state only
			prior.Resources = append(prior.Resources, rec)
			p.Changes = append(p.Changes, &planner.ResourceChange{Address: rec.Address, Type: "kernel", Action: planner.ActionForget, Prior: rec})
			continue
		case 1: // unchanged
			prior.Resources = append(prior.Resources, rec)
		}
		kept++
		r := &config.Resource{Addr: addr, Hash: rec.Hash, Tag: rec.Tag, Build: &config.BuildSpec{Image: "example.com/k"}}
		cfg.Resources = append(cfg.Resources, r)
		c := &planner.ResourceChange{Address: rec.Address, Type: "kernel", Action: planner.ActionNoop, Resource: r}
		if i%3 == 2 { // adopted: found in the registry, not in the state
			c.Action, c.AdoptDigest = planner.ActionAdopt, digest
		}
		p.Changes = append(p.Changes, c)
	}
	p.Prior = prior
	encoded, err := state.Encode(prior)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		b.StopTimer()
		working, err := state.Decode(encoded, "bench")
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		sum, err := Apply(context.Background(), p, Options{Writer: state.NewWriter(backend, working, nil), Dir: dir})
		if err != nil {
			b.Fatal(err)
		}
		if sum.Count(Adopted) != n/3 || len(working.Resources) != kept {
			b.Fatalf("adopted %d, %d resources recorded", sum.Count(Adopted), len(working.Resources))
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/float64(n), "µs/node")
}

func BenchmarkApplyBookkeeping1k(b *testing.B)  { benchmarkBookkeeping(b, 1000) }
func BenchmarkApplyBookkeeping10k(b *testing.B) { benchmarkBookkeeping(b, 10000) }
