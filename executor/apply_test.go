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

// BenchmarkApplyBookkeeping is the executor's fixed cost without any build: 8 unchanged
// kernels walked, and the state flushed to a local layout once. It bounds what sovos adds
// per node besides the BuildKit work itself.
func BenchmarkApplyBookkeeping(b *testing.B) {
	dir := b.TempDir()
	backend, err := state.NewLayout(filepath.Join(dir, "state"), "default")
	if err != nil {
		b.Fatal(err)
	}
	cfg := &config.Config{Dir: dir}
	p := &planner.Plan{Config: cfg}
	s := state.New("default", "bench")
	for i := range 8 {
		r := &config.Resource{Addr: config.Address{Type: "kernel", Name: fmt.Sprintf("k%d", i)}, Hash: strings.Repeat("a", 64), Tag: strings.Repeat("a", 16),
			Build: &config.BuildSpec{Image: "example.com/k"}}
		cfg.Resources = append(cfg.Resources, r)
		p.Changes = append(p.Changes, &planner.ResourceChange{Address: r.Addr.String(), Type: "kernel", Action: planner.ActionNoop, Resource: r})
		s.Resources = append(s.Resources, &state.Resource{Address: r.Addr.String(), Type: "kernel", Hash: r.Hash, Tag: r.Tag, Image: "example.com/k",
			Digest: "sha256:" + strings.Repeat("b", 64)})
	}
	p.Prior = s
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := Apply(context.Background(), p, Options{Writer: state.NewWriter(backend, s, nil), Dir: dir}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/8, "µs/node")
}
