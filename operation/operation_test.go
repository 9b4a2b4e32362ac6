package operation_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/crane"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/hashicorp/hcl/v2"

	"github.com/urmanac/sovos/bootmedia"
	"github.com/urmanac/sovos/config"
	"github.com/urmanac/sovos/executor"
	"github.com/urmanac/sovos/internal/oci"
	"github.com/urmanac/sovos/internal/testenv"
	"github.com/urmanac/sovos/operation"
	"github.com/urmanac/sovos/planner"
	"github.com/urmanac/sovos/state"
)

// offlineConfig needs no daemon and no registry: a pinned upstream image and profiles
// that are only rendered.
const offlineConfig = `
variable "version" {
  type    = string
  default = "v1.13.3"
}

image "base" {
  ref    = "ghcr.io/siderolabs/installer:v1.13.3"
  digest = "sha256:0000000000000000000000000000000000000000000000000000000000000001"
}

profile "p" {
  for_each  = toset(["a", "b"])
  arch      = "arm64"
  platform  = "metal"
  version   = var.version
  installer = image.base.ref
  output { kind = "installer" }
}

output "version" { value = var.version }
`

// workdir writes a configuration and returns the Inputs of operations on it, whose
// diagnostics are collected in diags.
func workdir(t *testing.T, files map[string]string) (operation.Inputs, *hcl.Diagnostics) {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	diags := &hcl.Diagnostics{}
	return operation.Inputs{
		Dir:         dir,
		Environ:     []string{},
		Diagnostics: func(_ map[string]*hcl.File, ds hcl.Diagnostics) { *diags = append(*diags, ds...) },
	}, diags
}

func changes(p *planner.Plan) map[string]planner.Action {
	out := map[string]planner.Action{}
	for _, c := range p.Changes {
		out[c.Address] = c.Action
	}
	return out
}

// TestPlanApplyOffline runs plan, apply and the state operations on a configuration
// that needs no daemon, with the state in a local layout.
func TestPlanApplyOffline(t *testing.T) {
	ctx := context.Background()
	in, _ := workdir(t, map[string]string{"main.sovos.hcl": offlineConfig})

	res, err := operation.Plan(ctx, operation.PlanRequest{Inputs: in})
	if err != nil {
		t.Fatal(err)
	}
	if got := changes(res.Plan); got[`profile.p["a"]`] != planner.ActionCreate || got[`profile.p["b"]`] != planner.ActionCreate {
		t.Errorf("first plan: %v", got)
	}
	if res.Plan.Workspace != "default" || !strings.Contains(res.Backend, filepath.Join(in.Dir, ".sovos", "state")) {
		t.Errorf("workspace %q, backend %q", res.Plan.Workspace, res.Backend)
	}

	// Apply asks first; a refusal builds and records nothing.
	shown := 0
	_, err = operation.Apply(ctx, operation.ApplyRequest{Inputs: in, Approve: func(p *planner.Plan) (bool, error) {
		shown++
		return false, nil
	}})
	if !errors.Is(err, operation.ErrCancelled) || shown != 1 {
		t.Fatalf("refused apply: %v (shown %d times)", err, shown)
	}
	if addrs, err := operation.StateList(ctx, operation.StateListRequest{Inputs: in}); err != nil || len(addrs) != 0 {
		t.Fatalf("state after a refused apply: %v, %v", addrs, err)
	}

	ar, err := operation.Apply(ctx, operation.ApplyRequest{Inputs: in})
	if err != nil {
		t.Fatal(err)
	}
	if ar.Summary.Count(executor.Rendered) != 2 || string(ar.Outputs["version"].Value) != `"v1.13.3"` {
		t.Errorf("apply: %+v, outputs %v", ar.Summary.Resources, ar.Outputs)
	}
	if _, err := os.Stat(filepath.Join(in.Dir, "_out", "profiles", "profile.p__a__.yaml")); err != nil {
		t.Error(err)
	}

	// The next plan has nothing to do.
	res, err = operation.Plan(ctx, operation.PlanRequest{Inputs: in})
	if err != nil {
		t.Fatal(err)
	}
	if res.Plan.HasChanges() {
		t.Errorf("second plan: %v", changes(res.Plan))
	}

	addrs, err := operation.StateList(ctx, operation.StateListRequest{Inputs: in, Prefixes: []string{"profile.p"}})
	if err != nil || !slices.Equal(addrs, []string{`profile.p["a"]`, `profile.p["b"]`}) {
		t.Errorf("state list: %v, %v", addrs, err)
	}
	r, err := operation.StateShow(ctx, in, `profile.p["a"]`)
	if err != nil || r.Type != "profile" || r.Hash == "" {
		t.Errorf("state show: %+v, %v", r, err)
	}
	if _, err := operation.StateShow(ctx, in, "kernel.nope"); err == nil || !strings.Contains(err.Error(), "no resource kernel.nope") {
		t.Errorf("state show of an unknown address: %v", err)
	}
	out, err := operation.Output(ctx, operation.OutputRequest{Inputs: in, Name: "version"})
	if err != nil || string(out.Output.Value) != `"v1.13.3"` {
		t.Errorf("output: %+v, %v", out, err)
	}
	if _, err := operation.Output(ctx, operation.OutputRequest{Inputs: in, Name: "nope"}); err == nil || !strings.Contains(err.Error(), `no output "nope"`) {
		t.Errorf("unknown output: %v", err)
	}
	shownState, err := operation.Show(ctx, operation.ShowRequest{Inputs: in})
	if err != nil || shownState.Stored.State == nil || len(shownState.Stored.State.Resources) != 3 {
		t.Fatalf("show: %+v, %v", shownState, err)
	}
	serial := shownState.Stored.State.Serial

	// state pull, then push it back: allowed, and the serial still grows by one.
	data, _, err := operation.StatePull(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	pulled := filepath.Join(t.TempDir(), "pulled.json")
	if err := os.WriteFile(pulled, data, 0o644); err != nil {
		t.Fatal(err)
	}
	pw, err := operation.StatePush(ctx, operation.StatePushRequest{Inputs: in, File: pulled})
	if err != nil || pw.Serial != serial+1 || pw.Resources != 3 {
		t.Errorf("state push of the pulled state: %+v, %v (serial was %d)", pw, err, serial)
	}
	// The pulled copy is now older than the state: refused, unless forced; forced, the
	// serial does not move back.
	if _, err := operation.StatePush(ctx, operation.StatePushRequest{Inputs: in, File: pulled}); err == nil || !strings.Contains(err.Error(), "older than the state") {
		t.Errorf("pushing an older state: %v", err)
	}
	pw, err = operation.StatePush(ctx, operation.StatePushRequest{Inputs: in, File: pulled, Force: true})
	if err != nil || pw.Serial != serial+2 {
		t.Errorf("forced push: %+v, %v", pw, err)
	}

	rm, err := operation.StateRm(ctx, operation.StateRmRequest{Inputs: in, Addresses: []string{`profile.p["b"]`}})
	if err != nil || rm.Removed != 1 || rm.Serial != serial+3 {
		t.Errorf("state rm: %+v, %v", rm, err)
	}
	if _, err := operation.StateRm(ctx, operation.StateRmRequest{Inputs: in, Addresses: []string{`profile.p["a"]`, "kernel.nope"}}); err == nil || !strings.Contains(err.Error(), "nothing was removed") {
		t.Errorf("state rm of an unknown address: %v", err)
	}
	res, err = operation.Plan(ctx, operation.PlanRequest{Inputs: in})
	if err != nil {
		t.Fatal(err)
	}
	if got := changes(res.Plan); got[`profile.p["a"]`] != planner.ActionNoop || got[`profile.p["b"]`] != planner.ActionCreate {
		t.Errorf("plan after state rm: %v", got)
	}
}

// TestApplySavedPlan applies a saved plan once; the second time the state changed
// since it was made, and so did a variable it was made with.
func TestApplySavedPlan(t *testing.T) {
	ctx := context.Background()
	in, _ := workdir(t, map[string]string{"main.sovos.hcl": offlineConfig})
	planFile := filepath.Join(t.TempDir(), "tfplan")
	in.Vars = []config.VarArg{{Value: "version=v1.13.4"}}
	if _, err := operation.Plan(ctx, operation.PlanRequest{Inputs: in, Out: planFile}); err != nil {
		t.Fatal(err)
	}
	// The saved plan carries its variables: apply needs no -var again.
	in.Vars = nil
	called := false
	ar, err := operation.Apply(ctx, operation.ApplyRequest{Inputs: in, PlanFile: planFile,
		Approve: func(*planner.Plan) (bool, error) { called = true; return false, nil }})
	if err != nil {
		t.Fatal(err)
	}
	if called || string(ar.Outputs["version"].Value) != `"v1.13.4"` {
		t.Errorf("saved plan: approve called %v, outputs %v", called, ar.Outputs)
	}
	if _, err := operation.Apply(ctx, operation.ApplyRequest{Inputs: in, PlanFile: planFile}); err == nil || !strings.Contains(err.Error(), "stale plan") {
		t.Errorf("a saved plan applied twice: %v", err)
	}
	sh, err := operation.Show(ctx, operation.ShowRequest{PlanFile: planFile})
	if err != nil || sh.Plan == nil || sh.Plan.Summary.Create != 2 {
		t.Errorf("show FILE: %+v, %v", sh, err)
	}
}

// TestApplyLocked: an apply fails at once while someone else holds the lock, names the
// holder, and force-unlock removes a lock by its ID.
func TestApplyLocked(t *testing.T) {
	ctx := context.Background()
	in, _ := workdir(t, map[string]string{"main.sovos.hcl": offlineConfig})
	b, err := state.NewLayout(filepath.Join(in.Dir, ".sovos", "state"), "default")
	if err != nil {
		t.Fatal(err)
	}
	info := state.NewLockInfo("apply", "test")
	info.Who = "ci@runner-7"
	held, err := state.Hold(ctx, b, info)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Release(ctx)
	_, err = operation.Apply(ctx, operation.ApplyRequest{Inputs: in})
	if err == nil || !strings.Contains(err.Error(), "ci@runner-7") {
		t.Errorf("apply while locked: %v", err)
	}
	// -lock=false applies anyway.
	if _, err := operation.Apply(ctx, operation.ApplyRequest{Inputs: in, Lock: operation.LockOptions{Skip: true}}); err != nil {
		t.Errorf("apply -lock=false: %v", err)
	}

	var asked *state.LockInfo
	_, err = operation.ForceUnlock(ctx, operation.ForceUnlockRequest{Inputs: in, ID: info.ID,
		Confirm: func(l *state.LockInfo) bool { asked = l; return false }})
	if !errors.Is(err, operation.ErrNotConfirmed) || asked == nil || asked.Who != "ci@runner-7" {
		t.Errorf("force-unlock refused: %v, asked %+v", err, asked)
	}
	if _, err := operation.ForceUnlock(ctx, operation.ForceUnlockRequest{Inputs: in, ID: "nope"}); err == nil || !strings.Contains(err.Error(), "not nope") {
		t.Errorf("force-unlock of another ID: %v", err)
	}
	if _, err := operation.ForceUnlock(ctx, operation.ForceUnlockRequest{Inputs: in, ID: info.ID}); err != nil {
		t.Fatal(err)
	}
	if _, err := operation.StateRm(ctx, operation.StateRmRequest{Inputs: in, Addresses: []string{`profile.p["a"]`}}); err != nil {
		t.Errorf("state rm after force-unlock: %v", err)
	}
}

// TestWorkspace: the one resolution (flag, SOVOS_WORKSPACE, sovos.state.workspace,
// "default") decides where every operation reads and writes, and a name that cannot be
// a workspace is refused before any state is touched.
func TestWorkspace(t *testing.T) {
	ctx := context.Background()
	in, diags := workdir(t, map[string]string{"main.sovos.hcl": offlineConfig + `
sovos {
  state { workspace = "configured" }
}
`})
	for _, tc := range []struct {
		flag, env, want string
	}{
		{"", "", "configured"},
		{"", "from-env", "from-env"},
		{"flag", "from-env", "flag"},
	} {
		in := in
		in.Workspace = tc.flag
		if tc.env != "" {
			in.Environ = []string{"SOVOS_WORKSPACE=" + tc.env}
		}
		res, err := operation.Plan(ctx, operation.PlanRequest{Inputs: in})
		if err != nil {
			t.Fatal(err)
		}
		if res.Plan.Workspace != tc.want || !strings.Contains(res.Backend, "(workspace "+tc.want+")") {
			t.Errorf("flag %q env %q: plan workspace %q, backend %s", tc.flag, tc.env, res.Plan.Workspace, res.Backend)
		}
	}
	in.Workspace = "feature/x"
	_, err := operation.StateList(ctx, operation.StateListRequest{Inputs: in})
	var de *operation.DiagnosticsError
	if !errors.As(err, &de) || !strings.Contains(diags.Error(), `-workspace names the workspace "feature/x"`) {
		t.Errorf("invalid workspace: %v; diagnostics: %s", err, diags.Error())
	}
	if _, err := os.Stat(filepath.Join(in.Dir, ".sovos")); !os.IsNotExist(err) {
		t.Errorf("an invalid workspace created the state directory: %v", err)
	}
}

// TestConfigOperations: validate, graph and fmt, which need no state.
func TestConfigOperations(t *testing.T) {
	ctx := context.Background()
	in, diags := workdir(t, map[string]string{
		"main.sovos.hcl": offlineConfig,
		"ugly.sovos.hcl": "locals {\n  a   = 1\n}\n",
		"bad.sovosvars":  "x = \n",
	})
	files, ds := operation.Validate(ctx, in)
	if ds.HasErrors() || files[filepath.Join(in.Dir, "main.sovos.hcl")] == nil && len(files) == 0 {
		t.Errorf("validate: %s", ds.Error())
	}
	g, err := operation.Graph(ctx, operation.GraphRequest{Inputs: in})
	if err != nil || g.Config.Resource(`profile.p["a"]`) == nil || len(g.Config.Edges()) != 2 {
		t.Errorf("graph: %+v, %v", g, err)
	}

	// The variable file has a syntax error: reported, nothing rewritten after it.
	_, err = operation.Fmt(ctx, operation.FmtRequest{Inputs: in})
	var de *operation.DiagnosticsError
	if !errors.As(err, &de) || !diags.HasErrors() {
		t.Errorf("fmt of a broken file: %v", err)
	}
	if err := os.Remove(filepath.Join(in.Dir, "bad.sovosvars")); err != nil {
		t.Fatal(err)
	}
	res, err := operation.Fmt(ctx, operation.FmtRequest{Inputs: in, Check: true})
	if err != nil || len(res.Files) != 1 || filepath.Base(res.Files[0].Path) != "ugly.sovos.hcl" || string(res.Files[0].After) != "locals {\n  a = 1\n}\n" {
		t.Fatalf("fmt -check: %+v, %v", res, err)
	}
	if data, _ := os.ReadFile(res.Files[0].Path); string(data) != string(res.Files[0].Before) {
		t.Error("fmt -check wrote the file")
	}
	if _, err := operation.Fmt(ctx, operation.FmtRequest{Inputs: in}); err != nil {
		t.Fatal(err)
	}
	if data, _ := os.ReadFile(res.Files[0].Path); string(data) != "locals {\n  a = 1\n}\n" {
		t.Errorf("fmt wrote %q", data)
	}
}

// TestFetchLocal: a profile without an image publishes nothing, and without an imager
// it has no files: fetch says so instead of contacting a registry.
func TestFetchLocal(t *testing.T) {
	ctx := context.Background()
	in, _ := workdir(t, map[string]string{"main.sovos.hcl": offlineConfig})
	if _, err := operation.Apply(ctx, operation.ApplyRequest{Inputs: in}); err != nil {
		t.Fatal(err)
	}
	_, err := operation.Fetch(ctx, operation.FetchRequest{Inputs: in, Address: `profile.p["a"]`})
	if err == nil || !strings.Contains(err.Error(), "only a profile with an imager has files") {
		t.Errorf("fetch: %v", err)
	}
	if _, err := operation.Fetch(ctx, operation.FetchRequest{Inputs: in, Address: "profile.nope"}); err == nil {
		t.Error("fetch of an unknown profile succeeded")
	}
}

// TestPin fills a missing image pin from the configuration's registry (plain HTTP only
// because insecure_registries lists it), then finds every pin current.
func TestPin(t *testing.T) {
	ctx := context.Background()
	host := testenv.MemRegistry(t)
	img, err := random.Image(64, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := crane.Push(img, host+"/upstream/installer:v1.13.3", crane.Insecure); err != nil {
		t.Fatal(err)
	}
	want, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	in, _ := workdir(t, map[string]string{"main.sovos.hcl": `
sovos { insecure_registries = ["` + host + `"] }

image "base" {
  ref = "` + host + `/upstream/installer:v1.13.3"
}
`})
	res, err := operation.Pin(ctx, operation.PinRequest{Inputs: in, Check: true})
	if err != nil || len(res.Changes) != 1 {
		t.Fatalf("pin -check: %+v, %v", res, err)
	}
	if res, err = operation.Pin(ctx, operation.PinRequest{Inputs: in}); err != nil || len(res.Changes) != 1 {
		t.Fatalf("pin: %+v, %v", res, err)
	}
	data, err := os.ReadFile(filepath.Join(in.Dir, "main.sovos.hcl"))
	if err != nil || !strings.Contains(string(data), `digest = "`+want.String()+`"`) {
		t.Errorf("pinned file:\n%s", data)
	}
	if res, err = operation.Pin(ctx, operation.PinRequest{Inputs: in, Check: true}); err != nil || len(res.Changes) != 0 {
		t.Errorf("pin -check after pin: %+v, %v", res, err)
	}
}

// TestFetchPublished downloads a profile's boot media from the digest the state records,
// through the configuration's registry client.
func TestFetchPublished(t *testing.T) {
	ctx := context.Background()
	host := testenv.MemRegistry(t)
	in, _ := workdir(t, map[string]string{"main.sovos.hcl": `
sovos { insecure_registries = ["` + host + `"] }
`})
	out := t.TempDir()
	if err := os.WriteFile(filepath.Join(out, "metal-arm64.raw.xz"), []byte("a disk image"), 0o644); err != nil {
		t.Fatal(err)
	}
	ref := host + "/boards/cm5:0123456789abcdef"
	digest, err := bootmedia.Publish(ctx, oci.New(oci.WithInsecure(host)), ref, out, map[string]string{"dev.sovos.hash": strings.Repeat("c", 64)})
	if err != nil {
		t.Fatal(err)
	}
	b, err := state.NewLayout(filepath.Join(in.Dir, ".sovos", "state"), "default")
	if err != nil {
		t.Fatal(err)
	}
	s := state.New("default", "test")
	s.Serial = 1
	s.Resources = append(s.Resources, &state.Resource{Address: "profile.cm5", Type: "profile", Hash: strings.Repeat("c", 64),
		Tag: "0123456789abcdef", Image: host + "/boards/cm5", Digest: digest, ArtifactType: bootmedia.ArtifactType})
	if _, err := b.Write(ctx, s); err != nil {
		t.Fatal(err)
	}
	dest := filepath.Join(t.TempDir(), "media")
	res, err := operation.Fetch(ctx, operation.FetchRequest{Inputs: in, Address: "profile.cm5", Out: dest})
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(dest, "metal-arm64.raw.xz"))
	if err != nil || string(data) != "a disk image" || len(res.Files) != 1 || res.Local {
		t.Errorf("fetched %+v: %q, %v", res, data, err)
	}
}
