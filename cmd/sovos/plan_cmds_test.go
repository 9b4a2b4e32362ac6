package main

import (
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/urmanac/sovos/config"
	"github.com/urmanac/sovos/hashing"
	"github.com/urmanac/sovos/planner"
	"github.com/urmanac/sovos/planner/planfile"
	"github.com/urmanac/sovos/state"
	"github.com/urmanac/sovos/views"
)

const planTestConfig = `
source "kern" { path = "./kern" }
source "ext"  { path = "./ext" }

kernel "k" {
  source   = source.kern
  platform = "linux/arm64"
  image    = "registry.example.com/kernel"
}

extension "e" {
  source   = source.ext
  kernel   = kernel.k
  platform = "linux/arm64"
  image    = "registry.example.com/ext"
}
`

// recordApplied writes the state an apply of dir's configuration would leave, with one
// output, into the default local layout.
func recordApplied(t *testing.T, dir string) {
	t.Helper()
	ctx := context.Background()
	cfg, diags := config.Load(ctx, dir, config.EvalOptions{Hooks: hashing.NewHasher(hashing.HasherOptions{})})
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	s := state.New("default", Version)
	s.Serial = 1
	for _, r := range cfg.Resources {
		in, err := planner.RecordedInputs(r)
		if err != nil {
			t.Fatal(err)
		}
		sr := &state.Resource{Address: r.Addr.String(), Type: r.Addr.Type, Hash: r.Hash, Inputs: in}
		if r.Build != nil {
			sr.Tag, sr.Image = r.Tag, r.Build.Image
			sr.Digest = "sha256:" + strings.Repeat("d", 64)
		}
		s.Resources = append(s.Resources, sr)
	}
	s.Outputs = map[string]*state.Output{
		"kernel_ref": {Value: json.RawMessage(`"registry.example.com/kernel@sha256:dd"`)},
		"token":      {Value: json.RawMessage(`"hunter2"`), Sensitive: true},
	}
	b, err := state.NewLayout(filepath.Join(dir, ".sovos", "state"), "default")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Write(ctx, s); err != nil {
		t.Fatal(err)
	}
}

func TestPlanShowOutputCommands(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"main.sovos.hcl":  planTestConfig,
		"kern/Dockerfile": "FROM scratch\n",
		"ext/Dockerfile":  "FROM scratch\n",
	})
	chdir := "-chdir=" + dir

	out, errOut, code := runApp(t, chdir, "-no-color", "plan", "-refresh=false", "-detailed-exitcode")
	if code != 2 || !strings.Contains(out, "Plan: 2 to create, 0 to rebuild, 0 to promote, 0 to forget.") ||
		!strings.Contains(out, "  # kernel.k will be created") {
		t.Fatalf("plan: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}

	out, errOut, code = runApp(t, chdir, "plan", "-refresh=false", "-format=json")
	var doc struct {
		FormatVersion string         `json:"format_version"`
		Summary       map[string]int `json:"summary"`
		Applyable     bool           `json:"applyable"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil || code != 0 {
		t.Fatalf("plan -format=json: exit %d, %v\nstdout:\n%s\nstderr:\n%s", code, err, out, errOut)
	}
	if doc.FormatVersion != "1.0" || doc.Summary["create"] != 2 || !doc.Applyable {
		t.Errorf("json plan: %+v", doc)
	}

	planFile := filepath.Join(dir, "plan.out")
	out, errOut, code = runApp(t, chdir, "plan", "-refresh=false", "-format=markdown", "-out="+planFile)
	if code != 0 || !strings.HasPrefix(out, "<!-- sovos-plan workspace=default dir=") || strings.Contains(out, "Saved the plan") {
		t.Fatalf("plan -format=markdown -out: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	out, errOut, code = runApp(t, chdir, "show", "-format=json", planFile)
	if code != 0 || !strings.Contains(out, `"address": "extension.e"`) {
		t.Fatalf("show PLANFILE: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	_, errOut, code = runApp(t, chdir, "show", filepath.Join(dir, "main.sovos.hcl"))
	if code != 1 || !strings.Contains(errOut, "is not a sovos plan file") {
		t.Errorf("show of a non-plan: exit %d, stderr %q", code, errOut)
	}

	out, _, code = runApp(t, chdir, "output")
	if code != 0 || out != "" {
		t.Errorf("output without a state: exit %d, %q", code, out)
	}

	recordApplied(t, dir)
	out, errOut, code = runApp(t, chdir, "-no-color", "plan", "-refresh=false", "-detailed-exitcode", "-lock=false")
	if code != 0 || out != views.NoChanges+"\n" {
		t.Fatalf("plan after apply: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}

	// The saved plan was made against no state: applying it now would be stale.
	f, err := planfile.Read(planFile)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := state.NewLayout(filepath.Join(dir, ".sovos", "state"), "default")
	_, digest, err := b.Read(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	cfg, _ := config.Load(context.Background(), dir, config.EvalOptions{Hooks: hashing.NewHasher(hashing.HasherOptions{})})
	if err := f.Check(cfg, digest); err == nil || !strings.HasPrefix(err.Error(), "stale plan:") {
		t.Errorf("Check after apply: %v", err)
	}

	out, _, code = runApp(t, chdir, "output", "kernel_ref")
	if code != 0 || out != "registry.example.com/kernel@sha256:dd\n" {
		t.Errorf("output kernel_ref: exit %d, %q", code, out)
	}
	out, _, code = runApp(t, chdir, "output")
	if code != 0 || out != "kernel_ref = \"registry.example.com/kernel@sha256:dd\"\ntoken = <sensitive>\n" {
		t.Errorf("output: exit %d, %q", code, out)
	}
	out, _, code = runApp(t, chdir, "output", "-json")
	if code != 0 || !strings.Contains(out, `"sensitive": true`) {
		t.Errorf("output -json: exit %d, %q", code, out)
	}
	_, errOut, code = runApp(t, chdir, "output", "nope")
	if code != 1 || !strings.Contains(errOut, `no output "nope"`) {
		t.Errorf("output nope: exit %d, %q", code, errOut)
	}
	out, _, code = runApp(t, chdir, "show")
	if code != 0 || !strings.Contains(out, "kernel.k\n    ref:      registry.example.com/kernel:") {
		t.Errorf("show (state): exit %d\n%s", code, out)
	}
}

// A git source whose informational ref moved past the pinned commit is a warning on
// standard error (nothing is rebuilt for it); with -refresh=false nothing is asked.
func TestPlanWarnsWhenGitRefMoved(t *testing.T) {
	repo := t.TempDir()
	gitCmd := func(args ...string) string {
		out, err := exec.Command("git", append([]string{"-C", repo, "-c", "user.name=t", "-c", "user.email=t@t"}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	gitCmd("init", "-q", "-b", "main")
	gitCmd("commit", "-q", "--allow-empty", "-m", "one")
	pinned := gitCmd("rev-parse", "HEAD")
	gitCmd("commit", "-q", "--allow-empty", "-m", "two")
	dir := writeFiles(t, map[string]string{"main.sovos.hcl": `
source "pkgs" {
  git    = "file://` + repo + `"
  ref    = "main"
  commit = "` + pinned + `"
}
`})
	_, errOut, code := runApp(t, "-chdir="+dir, "plan", "-state-path=st")
	if code != 0 || !strings.Contains(errOut, "Warning: source.pkgs: ref main now points to") {
		t.Errorf("plan: exit %d, stderr:\n%s", code, errOut)
	}
	_, errOut, _ = runApp(t, "-chdir="+dir, "plan", "-state-path=st", "-refresh=false")
	if strings.Contains(errOut, "Warning") {
		t.Errorf("plan -refresh=false asked the remote:\n%s", errOut)
	}
}
