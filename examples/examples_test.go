// Package examples_test checks that the shipped examples stay usable: the GitHub
// Actions workflows parse and keep the shape their README describes, the sticky-comment
// script finds and replaces its own comment, and the sovereign-os configuration parses.
package examples_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/hcl/v2/hclwrite"
	"gopkg.in/yaml.v3"

	"github.com/urmanac/sovos/config"
	"github.com/urmanac/sovos/hashing"
	"github.com/urmanac/sovos/internal/testenv"
)

// workflow is the part of a GitHub Actions workflow these tests look at.
type workflow struct {
	Name        string            `yaml:"name"`
	On          map[string]any    `yaml:"on"`
	Permissions map[string]string `yaml:"permissions"`
	Concurrency *concurrency      `yaml:"concurrency"`
	Env         map[string]string `yaml:"env"`
	Jobs        map[string]*job   `yaml:"jobs"`
}

type concurrency struct {
	Group            string `yaml:"group"`
	CancelInProgress bool   `yaml:"cancel-in-progress"`
}

type job struct {
	Name           string            `yaml:"name"`
	RunsOn         yaml.Node         `yaml:"runs-on"`
	Needs          any               `yaml:"needs"`
	TimeoutMinutes int               `yaml:"timeout-minutes"`
	Permissions    map[string]string `yaml:"permissions"`
	Concurrency    *concurrency      `yaml:"concurrency"`
	Env            map[string]string `yaml:"env"`
	Steps          []*step           `yaml:"steps"`
}

type step struct {
	ID   string            `yaml:"id"`
	Name string            `yaml:"name"`
	If   string            `yaml:"if"`
	Uses string            `yaml:"uses"`
	Run  string            `yaml:"run"`
	With map[string]string `yaml:"with"`
	Env  map[string]string `yaml:"env"`
}

// runsOn returns the job's runner labels whether written as a string or a list.
func (j *job) runsOn(t *testing.T) []string {
	t.Helper()
	var one string
	if err := j.RunsOn.Decode(&one); err == nil {
		return []string{one}
	}
	var many []string
	if err := j.RunsOn.Decode(&many); err != nil {
		t.Fatalf("runs-on is neither a string nor a list: %v", err)
	}
	return many
}

func readWorkflow(t *testing.T, name string) *workflow {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("github-actions", name))
	if err != nil {
		t.Fatal(err)
	}
	var w workflow
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&w); err != nil {
		t.Fatalf("%s does not parse as a workflow: %v", name, err)
	}
	if len(w.Jobs) == 0 {
		t.Fatalf("%s has no jobs", name)
	}
	return &w
}

// findStep returns the first step of j for which match is true, failing the test if
// there is none.
func findStep(t *testing.T, j *job, what string, match func(*step) bool) *step {
	t.Helper()
	for _, s := range j.Steps {
		if match(s) {
			return s
		}
	}
	t.Fatalf("no step %s", what)
	return nil
}

func uses(action string) func(*step) bool {
	return func(s *step) bool { return strings.HasPrefix(s.Uses, action+"@") }
}

func runs(re string) func(*step) bool {
	r := regexp.MustCompile(re)
	return func(s *step) bool { return r.MatchString(s.Run) }
}

func TestPlanWorkflow(t *testing.T) {
	w := readWorkflow(t, "sovos-plan.yml")

	if _, ok := w.On["pull_request"]; !ok {
		t.Errorf("on: want pull_request, got %v", w.On)
	}
	for perm, want := range map[string]string{"pull-requests": "write", "contents": "read"} {
		if got := w.Permissions[perm]; got != want {
			t.Errorf("permissions.%s = %q, want %q", perm, got, want)
		}
	}
	if w.Env["SOVOS_DIR"] == "" || w.Env["SOVOS_WORKSPACE"] == "" {
		t.Errorf("env must set SOVOS_DIR and SOVOS_WORKSPACE (they form the comment marker), got %v", w.Env)
	}

	j := w.Jobs["plan"]
	if j == nil {
		t.Fatalf("no job plan in %v", w.Jobs)
	}
	findStep(t, j, "checking out the repository", uses("actions/checkout"))
	findStep(t, j, "setting up Go", uses("actions/setup-go"))
	findStep(t, j, "installing sovos", runs(`go install .*cmd/sovos`))

	plan := findStep(t, j, "running sovos plan", runs(`sovos .*plan `))
	for _, flag := range []string{"-out=plan.out", "-detailed-exitcode"} {
		if !strings.Contains(plan.Run, flag) {
			t.Errorf("plan step lacks %s:\n%s", flag, plan.Run)
		}
	}
	// Exit 2 (changes) must not fail the job: the step captures the code.
	if !strings.Contains(plan.Run, "set +e") || !strings.Contains(plan.Run, `"$GITHUB_OUTPUT"`) {
		t.Errorf("plan step must capture the exit code instead of failing on 2:\n%s", plan.Run)
	}
	if plan.ID == "" {
		t.Errorf("plan step needs an id so later steps read its exit code")
	}

	findStep(t, j, "rendering the markdown plan", runs(`sovos .*show -format=markdown plan\.out > plan\.md`))

	comment := findStep(t, j, "posting the sticky comment", uses("actions/github-script"))
	script := comment.With["script"]
	if !strings.Contains(script, "require(") || !strings.Contains(script, "STICKY_SCRIPT") {
		t.Errorf("comment step must require the sticky-comment script:\n%s", script)
	}
	if w.Env["STICKY_SCRIPT"] != "examples/github-actions/sticky-comment.js" {
		t.Errorf("STICKY_SCRIPT = %q, want the script shipped next to the workflow", w.Env["STICKY_SCRIPT"])
	}
	if !strings.Contains(comment.Env["PLAN_EXITCODE"], "steps."+plan.ID+".outputs.exitcode") {
		t.Errorf("the label must follow the plan's exit code, PLAN_EXITCODE = %q", comment.Env["PLAN_EXITCODE"])
	}
	// A fork's token is read-only: the step must not run (and fail) there.
	if !strings.Contains(comment.If, "head.repo.full_name == github.repository") {
		t.Errorf("comment step must be skipped on fork PRs, if = %q", comment.If)
	}
}

func TestApplyWorkflow(t *testing.T) {
	w := readWorkflow(t, "sovos-apply.yml")

	push, ok := w.On["push"].(map[string]any)
	if !ok {
		t.Fatalf("on.push: want a mapping, got %#v", w.On["push"])
	}
	if branches, _ := push["branches"].([]any); !slices.Contains(branches, any("main")) {
		t.Errorf("on.push.branches = %v, want main", push["branches"])
	}
	want := concurrency{Group: "sovos-apply-main", CancelInProgress: false}
	if w.Concurrency == nil || *w.Concurrency != want {
		t.Errorf("concurrency = %+v, want %+v", w.Concurrency, want)
	}
	if got := w.Permissions["packages"]; got != "write" {
		t.Errorf("permissions.packages = %q, want write (push to GHCR)", got)
	}
	if w.Env["BUILDKIT_HOST"] == "" {
		t.Errorf("env.BUILDKIT_HOST is not set")
	}

	j := w.Jobs["kernel"]
	if j == nil {
		t.Fatalf("no job kernel in %v", w.Jobs)
	}
	labels := j.runsOn(t)
	for _, l := range []string{"self-hosted", "linux", "arm64"} {
		if !slices.Contains(labels, l) {
			t.Errorf("kernel job runs-on %v, want label %s", labels, l)
		}
	}

	login := findStep(t, j, "logging in to GHCR", uses("docker/login-action"))
	if login.With["registry"] != "ghcr.io" || !strings.Contains(login.With["password"], "secrets.GITHUB_TOKEN") {
		t.Errorf("GHCR login with = %v", login.With)
	}
	apply := findStep(t, j, "running sovos apply", runs(`sovos .*apply `))
	for _, flag := range []string{"-auto-approve", "-promote"} {
		if !strings.Contains(apply.Run, flag) {
			t.Errorf("apply step lacks %s: %s", flag, apply.Run)
		}
	}
	upload := findStep(t, j, "uploading the errored state", uses("actions/upload-artifact"))
	if upload.If != "failure()" || !strings.Contains(upload.With["path"], ".sovos/errored-state.json") {
		t.Errorf("errored-state upload: if = %q, with = %v", upload.If, upload.With)
	}
}

// TestWorkflowShell checks every run: block with bash -n, GitHub expressions stubbed.
func TestWorkflowShell(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("bash not installed")
	}
	expr := regexp.MustCompile(`\$\{\{[^}]*\}\}`)
	for _, name := range []string{"sovos-plan.yml", "sovos-apply.yml"} {
		w := readWorkflow(t, name)
		for jobName, j := range w.Jobs {
			for i, s := range j.Steps {
				if s.Run == "" {
					continue
				}
				cmd := exec.Command(bash, "-n")
				cmd.Stdin = strings.NewReader(expr.ReplaceAllString(s.Run, "EXPR"))
				if out, err := cmd.CombinedOutput(); err != nil {
					t.Errorf("%s: jobs.%s.steps[%d] (%s): bash -n: %v\n%s", name, jobName, i, s.Name, err, out)
				}
			}
		}
	}
}

// stickyRun is what testdata/harness.js prints.
type stickyRun struct {
	Result *struct {
		Action string `json:"action"`
		ID     int    `json:"id"`
		Label  string `json:"label"`
	} `json:"result"`
	Error string `json:"error"`
	Calls []struct {
		Method string         `json:"method"`
		Params map[string]any `json:"params"`
	} `json:"calls"`
	Paginated int `json:"paginated"`
	Comments  []struct {
		ID   int    `json:"id"`
		Body string `json:"body"`
	} `json:"comments"`
	Labels   []string `json:"labels"`
	Warnings []string `json:"warnings"`
}

func (r *stickyRun) body(id int) string {
	for _, c := range r.Comments {
		if c.ID == id {
			return c.Body
		}
	}
	return ""
}

func (r *stickyRun) called(method string) int {
	n := 0
	for _, c := range r.Calls {
		if c.Method == method {
			n++
		}
	}
	return n
}

func runSticky(t *testing.T, fixture map[string]any) *stickyRun {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		testenv.SkipOrFail(t, "node is needed to test sticky-comment.js (apt-get install nodejs)")
	}
	data, err := json.Marshal(fixture)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "fixture.json")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(node, filepath.Join("github-actions", "testdata", "harness.js"),
		filepath.Join("github-actions", "sticky-comment.js"), path)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node harness: %v\n%s", err, stderr.String())
	}
	var run stickyRun
	if err := json.Unmarshal(out, &run); err != nil {
		t.Fatalf("harness output: %v\n%s", err, out)
	}
	return &run
}

func TestStickyComment(t *testing.T) {
	const (
		mine  = "<!-- sovos-plan workspace=main dir=examples/sovereign-os -->"
		other = "<!-- sovos-plan workspace=main dir=examples/quickstart -->"
		newWS = "<!-- sovos-plan workspace=staging dir=examples/sovereign-os -->"
	)
	plan := mine + "\n**Plan:** 1 to rebuild.\n"
	opts := map[string]any{"body": plan, "workspace": "main", "dir": "examples/sovereign-os", "exitcode": "2"}

	// filler returns n unrelated comments with ids from start.
	filler := func(start, n int) []map[string]any {
		var cs []map[string]any
		for i := 0; i < n; i++ {
			cs = append(cs, map[string]any{"id": start + i, "body": "LGTM"})
		}
		return cs
	}

	tests := []struct {
		name        string
		comments    []map[string]any
		labels      []string
		options     map[string]any
		wantAction  string
		wantID      int    // updated comment (0: created)
		wantLabel   string // result.label
		wantLabels  []string
		untouched   map[int]string // comment id -> body that must not change
		wantCreated int
	}{
		{
			name: "updates its own comment",
			comments: []map[string]any{
				{"id": 1, "body": "LGTM"},
				{"id": 2, "body": other + "\nold quickstart plan"},
				{"id": 3, "body": mine + "\nold plan"},
			},
			options:    opts,
			wantAction: "updated", wantID: 3, wantLabel: "added",
			wantLabels: []string{"sovos: changes"},
			untouched:  map[int]string{2: other + "\nold quickstart plan", 1: "LGTM"},
		},
		{
			name: "another dir or workspace is not ours",
			comments: []map[string]any{
				{"id": 2, "body": other + "\nquickstart plan"},
				{"id": 4, "body": newWS + "\nstaging plan"},
				{"id": 5, "body": "> " + mine + "\nquoted by a reviewer"},
			},
			options:    opts,
			wantAction: "created", wantLabel: "added", wantCreated: 1,
			wantLabels: []string{"sovos: changes"},
			untouched: map[int]string{
				2: other + "\nquickstart plan",
				4: newWS + "\nstaging plan",
				5: "> " + mine + "\nquoted by a reviewer",
			},
		},
		{
			name:       "none found: created",
			options:    opts,
			wantAction: "created", wantLabel: "added", wantCreated: 1,
			wantLabels: []string{"sovos: changes"},
		},
		{
			// 250 comments: ours is on the third page of 100, so only a paginated
			// listing finds it.
			name:       "paginates to find it",
			comments:   append(filler(1, 230), map[string]any{"id": 900, "body": mine + "\nold plan"}),
			options:    opts,
			wantAction: "updated", wantID: 900, wantLabel: "added",
			wantLabels: []string{"sovos: changes"},
		},
		{
			name:     "no changes removes the label",
			comments: []map[string]any{{"id": 3, "body": mine + "\nold plan"}},
			labels:   []string{"sovos: changes", "area: os"},
			options: map[string]any{"body": mine + "\nNo changes.\n", "workspace": "main",
				"dir": "examples/sovereign-os", "exitcode": "0"},
			wantAction: "updated", wantID: 3, wantLabel: "removed",
			wantLabels: []string{"area: os"},
		},
		{
			name:     "no changes and no label",
			comments: []map[string]any{{"id": 3, "body": mine + "\nold plan"}},
			options: map[string]any{"body": "No changes.\n", "workspace": "main",
				"dir": "examples/sovereign-os", "exitcode": "0"},
			wantAction: "updated", wantID: 3, wantLabel: "absent",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			run := runSticky(t, map[string]any{"comments": tc.comments, "labels": tc.labels, "options": tc.options})
			if run.Error != "" {
				t.Fatalf("script failed: %s", run.Error)
			}
			if run.Result == nil {
				t.Fatal("script returned nothing")
			}
			if run.Paginated == 0 {
				t.Errorf("listComments was not called through github.paginate")
			}
			if run.Result.Action != tc.wantAction {
				t.Errorf("action = %q, want %q", run.Result.Action, tc.wantAction)
			}
			if tc.wantID != 0 && run.Result.ID != tc.wantID {
				t.Errorf("updated comment %d, want %d", run.Result.ID, tc.wantID)
			}
			if got := run.called("createComment"); got != tc.wantCreated {
				t.Errorf("createComment called %d times, want %d", got, tc.wantCreated)
			}
			if got := run.called("updateComment"); tc.wantAction == "updated" && got != 1 {
				t.Errorf("updateComment called %d times, want 1", got)
			}
			// The posted comment carries the marker on its first line, so the next run
			// finds it again.
			if got := run.body(run.Result.ID); !strings.HasPrefix(got, mine+"\n") {
				t.Errorf("posted body does not start with the marker:\n%s", got)
			}
			for id, body := range tc.untouched {
				if got := run.body(id); got != body {
					t.Errorf("comment %d changed to %q", id, got)
				}
			}
			if run.Result.Label != tc.wantLabel {
				t.Errorf("label action = %q, want %q", run.Result.Label, tc.wantLabel)
			}
			if !slices.Equal(run.Labels, tc.wantLabels) && !(len(run.Labels) == 0 && len(tc.wantLabels) == 0) {
				t.Errorf("labels = %v, want %v", run.Labels, tc.wantLabels)
			}
		})
	}
}

// TestStickyCommentMarkerOfThePlan: the marker sovos wrote wins over the workflow's
// workspace/dir (with a warning), since the next run writes the same one again.
func TestStickyCommentMarkerOfThePlan(t *testing.T) {
	const planMark = "<!-- sovos-plan workspace=main dir=./examples/sovereign-os -->"
	run := runSticky(t, map[string]any{
		"comments": []map[string]any{{"id": 7, "body": planMark + "\nold"}},
		"options": map[string]any{
			"body":      planMark + "\nnew",
			"workspace": "main", "dir": "examples/sovereign-os", "exitcode": "2",
		},
	})
	if run.Error != "" {
		t.Fatalf("script failed: %s", run.Error)
	}
	if run.Result.Action != "updated" || run.Result.ID != 7 || run.body(7) != planMark+"\nnew" {
		t.Errorf("want comment 7 updated in place, got %+v, body %q", run.Result, run.body(7))
	}
	if len(run.Warnings) != 1 || !strings.Contains(run.Warnings[0], "./examples/sovereign-os") {
		t.Errorf("want one warning naming the plan's marker, got %q", run.Warnings)
	}
}

func TestStickyCommentNeedsAMarker(t *testing.T) {
	run := runSticky(t, map[string]any{"options": map[string]any{"body": "sovos plan failed", "exitcode": "1"}})
	if !strings.Contains(run.Error, "workspace and dir are required") || len(run.Calls) != 0 {
		t.Errorf("want an error and no API call, got error %q, calls %v", run.Error, run.Calls)
	}
}

// TestSovereignOSSyntax parses every configuration file of the sovereign-os example.
// Evaluation (references, types, the kernel-consistency rule) is TestSovereignOSLoads.
func TestSovereignOSSyntax(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("sovereign-os", "*.sovos.hcl"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no *.sovos.hcl in sovereign-os")
	}
	p := hclparse.NewParser()
	var diags hcl.Diagnostics
	for _, f := range files {
		_, d := p.ParseHCLFile(f)
		diags = append(diags, d...)
	}
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	// The example is what users copy: keep it in canonical form (`sovos fmt -check`).
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(hclwrite.Format(src), src) {
			t.Errorf("%s is not formatted; run sovos fmt", f)
		}
	}
}

// loadSovereignOS evaluates examples/sovereign-os and fails on any diagnostic: the
// example must validate cleanly, warnings included.
func loadSovereignOS(t *testing.T, opts config.EvalOptions) *config.Config {
	t.Helper()
	cfg, diags := config.Load(context.Background(), "sovereign-os", opts)
	if len(diags) > 0 {
		var buf bytes.Buffer
		files := map[string]*hcl.File{}
		if cfg != nil {
			files = cfg.Files
		}
		if err := config.WriteDiagnostics(&buf, files, diags, false); err != nil {
			t.Fatal(err)
		}
		t.Fatalf("sovereign-os does not validate cleanly:\n%s", buf.String())
	}
	return cfg
}

// fakeHooks makes every hash-derived value known without touching git or a registry:
// a source's or resource's hash is the sha256 of its address, an image's digest its pin.
type fakeHooks struct{}

func addrHash(r *config.Resource) string {
	sum := sha256.Sum256([]byte(r.Addr.String()))
	return hex.EncodeToString(sum[:])
}

func (fakeHooks) SourceHash(_ context.Context, r *config.Resource) (string, error) {
	return addrHash(r), nil
}

func (fakeHooks) ImageDigest(_ context.Context, r *config.Resource) (string, error) {
	return r.Image.Digest, nil
}

func (fakeHooks) ResourceHash(r *config.Resource, _ map[string]string) (string, error) {
	return addrHash(r), nil
}

func (fakeHooks) ContentTag(hash string) string { return hashing.ContentTag(hash) }

// TestSovereignOSLoads evaluates the example as `sovos validate` does (no hooks) and
// checks the matrix: 2 hardware × 2 variants.
func TestSovereignOSLoads(t *testing.T) {
	cfg := loadSovereignOS(t, config.EvalOptions{})

	var got []string
	for _, r := range cfg.Resources {
		if r.Addr.Type == config.TypeProfile && r.Addr.Name == "talos" {
			got = append(got, r.Addr.String())
		}
	}
	slices.Sort(got)
	want := []string{
		`profile.talos["cm4-standard-hailort"]`,
		`profile.talos["cm4-standard-minimal"]`,
		`profile.talos["cm5-hailo10h-hailort"]`,
		`profile.talos["cm5-hailo10h-minimal"]`,
	}
	if !slices.Equal(got, want) {
		t.Errorf("profile instances = %v, want %v", got, want)
	}

	for _, addr := range []string{"kernel.sovereign", "extension.hailort", "installer.sovereign"} {
		r := cfg.Resource(addr)
		if r == nil {
			t.Fatalf("no %s", addr)
		}
		if r.Builder != "arm64" || r.Platform != "linux/arm64" {
			t.Errorf("%s goes to builder %q as %q, want arm64 / linux/arm64", addr, r.Builder, r.Platform)
		}
	}
	k := cfg.Resource("kernel.sovereign").Build
	if k.SigningCert == nil || k.SigningCert.Target != "kernel-build" {
		t.Errorf("kernel signing_cert = %+v", k.SigningCert)
	}
	if len(k.Stages) != 1 || k.Stages[0].Target != "hailort-pkg" {
		t.Errorf("kernel stages = %+v, want hailort-pkg", k.Stages)
	}
	if ext := cfg.Resource("extension.hailort").Build; !slices.Equal(ext.Tags, []string{"5.3.0-v1.13.3", "5.3.0"}) {
		t.Errorf("extension tags = %v", ext.Tags)
	}
	if got := cfg.Builders["arm64"]; got == nil || got.Address != "tcp://arm-runner:1234" {
		t.Errorf("builder arm64 = %+v", got)
	}
	if cfg.Settings.State.Registry != "ghcr.io/urmanac/sovos-state" || cfg.Settings.State.Workspace != "main" {
		t.Errorf("state settings = %+v", cfg.Settings.State)
	}
}

// TestSovereignOSMatrix checks, with every reference known, that cm4-standard boots the
// upstream artifacts and cm5-hailo10h the sovereign ones.
func TestSovereignOSMatrix(t *testing.T) {
	cfg := loadSovereignOS(t, config.EvalOptions{
		Hooks:   fakeHooks{},
		Environ: []string{"SOVOS_VAR_arm_builder=unix:///run/buildkit/buildkitd.sock"},
	})
	if got := cfg.Builders["arm64"].Address; got != "unix:///run/buildkit/buildkitd.sock" {
		t.Errorf("SOVOS_VAR_arm_builder not honoured: builder address %q", got)
	}

	tests := []struct {
		key               string
		installer, imager string // prefixes
		extensions        []string
	}{
		{"cm4-standard-minimal", "ghcr.io/siderolabs/installer:v1.13.3@sha256:", "ghcr.io/siderolabs/imager:v1.13.3@sha256:", nil},
		{"cm4-standard-hailort", "ghcr.io/siderolabs/installer:v1.13.3@sha256:", "ghcr.io/siderolabs/imager:v1.13.3@sha256:",
			[]string{"ghcr.io/siderolabs/hailort:4.21.0-v1.13.3@sha256:"}},
		{"cm5-hailo10h-minimal", "ghcr.io/urmanac/installer-base:", "ghcr.io/urmanac/imager:", nil},
		{"cm5-hailo10h-hailort", "ghcr.io/urmanac/installer-base:", "ghcr.io/urmanac/imager:",
			[]string{"ghcr.io/urmanac/hailort:"}},
	}
	for _, tc := range tests {
		t.Run(tc.key, func(t *testing.T) {
			r := cfg.Resource(`profile.talos["` + tc.key + `"]`)
			if r == nil || r.Profile == nil {
				t.Fatalf("no profile instance %s", tc.key)
			}
			p := r.Profile
			if !strings.HasPrefix(p.Installer, tc.installer) {
				t.Errorf("installer = %q, want %s...", p.Installer, tc.installer)
			}
			if !strings.HasPrefix(p.Imager, tc.imager) {
				t.Errorf("imager = %q, want %s...", p.Imager, tc.imager)
			}
			if len(p.Extensions) != len(tc.extensions) {
				t.Fatalf("extensions = %v, want %v", p.Extensions, tc.extensions)
			}
			for i, e := range tc.extensions {
				if !strings.HasPrefix(p.Extensions[i], e) {
					t.Errorf("extensions[%d] = %q, want %s...", i, p.Extensions[i], e)
				}
			}
			if p.Overlay == nil || p.Overlay.Name != "rpi_generic" ||
				!strings.HasPrefix(p.Overlay.Image, "ghcr.io/siderolabs/sbc-raspberrypi:v0.1.6@sha256:") {
				t.Errorf("overlay = %+v", p.Overlay)
			}
			want := config.ProfileOutput{Kind: "image", OutFormat: ".xz", DiskSize: 1306525696, DiskFormat: "raw"}
			if p.Output != want {
				t.Errorf("output = %+v, want %+v", p.Output, want)
			}
			if r.Hash == "" {
				t.Errorf("profile has no hash although hooks were given")
			}
		})
	}
}

// buildSovos compiles cmd/sovos once per test binary run.
func buildSovos(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the sovos binary; skipped with -short")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go tool not found")
	}
	bin := filepath.Join(t.TempDir(), "sovos")
	cmd := exec.Command(goTool, "build", "-o", bin, "./cmd/sovos")
	cmd.Dir = ".."
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/sovos: %v\n%s", err, out)
	}
	return bin
}

// offlineEnv is an environment in which any network call fails: a dead proxy for
// HTTP(S), no registry credentials, a scratch home and cache.
func offlineEnv(t *testing.T) []string {
	home := t.TempDir()
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch strings.ToUpper(k) {
		case "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "HOME", "DOCKER_CONFIG", "XDG_CACHE_HOME", "BUILDKIT_HOST":
			continue
		}
		if strings.HasPrefix(k, "SOVOS_") {
			continue
		}
		env = append(env, kv)
	}
	return append(env,
		"HTTP_PROXY=http://127.0.0.1:1", "HTTPS_PROXY=http://127.0.0.1:1", "NO_PROXY=",
		"HOME="+home, "XDG_CACHE_HOME="+filepath.Join(home, ".cache"),
		"DOCKER_CONFIG="+filepath.Join(home, ".docker"),
		"BUILDKIT_HOST=unix:///nonexistent/buildkitd.sock")
}

// planChange is one entry of a JSON plan's resource_changes.
type planChange struct {
	Address   string   `json:"address"`
	Type      string   `json:"type"`
	Action    string   `json:"action"`
	DependsOn []string `json:"depends_on"`
	After     *struct {
		Hash string `json:"hash"`
		Tag  string `json:"tag"`
		Ref  string `json:"ref"`
	} `json:"after"`
}

// stateAfterApply is the state an apply of changes would leave (SPEC §7): every build
// recorded with its hash, tag and a digest, stage digests, and the digests of the
// upstream builds it consumed.
func stateAfterApply(t *testing.T, workspace string, changes []planChange) []byte {
	t.Helper()
	digest := func(s string) string {
		sum := sha256.Sum256([]byte(s))
		return "sha256:" + hex.EncodeToString(sum[:])
	}
	built := map[string]bool{}
	for _, c := range changes {
		built[c.Address] = true
	}
	stages := map[string]map[string]string{
		"kernel":    {"hailort-pkg": "ghcr.io/urmanac/hailort-pkg"},
		"installer": {"imager": "ghcr.io/urmanac/imager"},
	}
	var resources []map[string]any
	for _, c := range changes {
		if c.After == nil {
			t.Fatalf("%s has no after snapshot", c.Address)
		}
		r := map[string]any{
			"address": c.Address, "type": c.Type, "hash": c.After.Hash, "tag": c.After.Tag,
			"image":  strings.TrimSuffix(c.After.Ref, ":"+c.After.Tag),
			"digest": digest(c.Address), "built_at": "2026-11-25T19:00:00Z",
		}
		from := map[string]string{}
		for _, d := range c.DependsOn {
			if built[d] {
				from[d] = digest(d)
			}
		}
		if len(from) > 0 {
			r["built_from"] = from
		}
		if st := stages[c.Type]; st != nil {
			m := map[string]any{}
			for target, image := range st {
				m[target] = map[string]string{"image": image, "digest": digest(c.Address + "/" + target)}
			}
			r["stages"] = m
		}
		resources = append(resources, r)
	}
	data, err := json.Marshal(map[string]any{
		"version": 1, "lineage": "8a7c2f4e-1111-4222-8333-944455556666", "serial": 1,
		"sovos_version": "0.1.0", "workspace": workspace, "resources": resources,
	})
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// TestSovereignOSPlanOffline runs the commands of the example's README and of the PR
// workflow, offline, from the repository root: validate, plan -out with
// -detailed-exitcode against a scratch state, show -format=markdown, and the sticky
// comment of that markdown.
func TestSovereignOSPlanOffline(t *testing.T) {
	wf := readWorkflow(t, "sovos-plan.yml")
	dir, workspace := wf.Env["SOVOS_DIR"], wf.Env["SOVOS_WORKSPACE"]
	if dir != "examples/sovereign-os" {
		t.Fatalf("sovos-plan.yml plans %q; this test expects the sovereign-os example", dir)
	}
	bin := buildSovos(t)
	env := offlineEnv(t)
	tmp := t.TempDir()
	statePath := filepath.Join(tmp, "state")
	planFile := filepath.Join(tmp, "plan.out")

	sovos := func(wantCode int, args ...string) []byte {
		t.Helper()
		cmd := exec.Command(bin, append([]string{"-chdir=" + dir, "-no-color"}, args...)...)
		cmd.Dir = ".."
		cmd.Env = env
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatalf("sovos %v: %v", args, err)
		}
		if code != wantCode {
			t.Fatalf("sovos %v: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", args, code, wantCode, out, stderr.String())
		}
		return out
	}

	if out := sovos(0, "validate"); !strings.Contains(string(out), "valid") {
		t.Errorf("validate printed %q", out)
	}

	// -detailed-exitcode: 2 = success with changes (a fresh state: everything is new).
	sovos(2, "plan", "-refresh=false", "-state-path="+statePath, "-out="+planFile, "-detailed-exitcode",
		"-workspace="+workspace)

	var plan struct {
		Changes []planChange   `json:"resource_changes"`
		Summary map[string]int `json:"summary"`
	}
	if err := json.Unmarshal(sovos(0, "show", "-format=json", planFile), &plan); err != nil {
		t.Fatalf("show -format=json: %v", err)
	}
	var profiles []string
	for _, c := range plan.Changes {
		if c.Action != "create" {
			t.Errorf("%s: action %s, want create on an empty state", c.Address, c.Action)
		}
		if strings.HasPrefix(c.Address, "profile.talos[") {
			profiles = append(profiles, c.Address)
		}
	}
	if len(profiles) != 4 {
		t.Errorf("plan has %d profile.talos instances (%v), want 2 hardware x 2 variants", len(profiles), profiles)
	}
	for _, addr := range []string{"kernel.sovereign", "extension.hailort", "installer.sovereign"} {
		if !slices.ContainsFunc(plan.Changes, func(c planChange) bool { return c.Address == addr }) {
			t.Errorf("plan lacks %s", addr)
		}
	}

	md := sovos(0, "show", "-format=markdown", planFile)
	mark := "<!-- sovos-plan workspace=" + workspace + " dir=" + dir + " -->"
	if !strings.HasPrefix(string(md), mark+"\n") {
		t.Fatalf("markdown does not start with the marker the workflow expects:\n%s", md)
	}
	// The reviewer sees that cm4-standard boots the upstream installer, by digest, and
	// cm5-hailo10h the sovereign one — in the saved plan's PR comment too.
	for _, want := range []string{
		`# profile.talos["cm4-standard-hailort"] will be created`,
		"installer: ghcr.io/siderolabs/installer:v1.13.3@sha256:0d767883b78df3dc9a36abe9172a0ee0170d6680d10c92fd80a87f065243e5c6",
		"installer: ghcr.io/urmanac/installer-base:",
	} {
		if !strings.Contains(string(md), want) {
			t.Errorf("the PR comment lacks %q", want)
		}
	}
	run := runSticky(t, map[string]any{
		"comments": []map[string]any{{"id": 11, "body": mark + "\nan older plan"}},
		"options":  map[string]any{"body": string(md), "workspace": workspace, "dir": dir, "exitcode": "2"},
	})
	if run.Error != "" || run.Result == nil || run.Result.Action != "updated" || run.Result.ID != 11 {
		t.Fatalf("sticky comment of the real plan: result %+v, error %q", run.Result, run.Error)
	}
	if len(run.Warnings) != 0 {
		t.Errorf("SOVOS_DIR/SOVOS_WORKSPACE of the workflow disagree with sovos's marker: %v", run.Warnings)
	}

	// After an apply (its state made up from the plan), the same configuration plans
	// nothing, and a new HailoRT version rebuilds the extension but never the kernel
	// nor the installer: the hour-long build is not repeated.
	stateFile := filepath.Join(tmp, "state.json")
	if err := os.WriteFile(stateFile, stateAfterApply(t, workspace, plan.Changes), 0o644); err != nil {
		t.Fatal(err)
	}
	sovos(0, "state", "push", "-state-path="+statePath, "-workspace="+workspace, stateFile)
	if out := sovos(0, "plan", "-refresh=false", "-state-path="+statePath, "-detailed-exitcode"); !strings.Contains(string(out), "No changes.") {
		t.Errorf("second plan has changes:\n%s", out)
	}
	var bumped struct {
		Changes []planChange `json:"resource_changes"`
	}
	out := sovos(2, "plan", "-refresh=false", "-state-path="+statePath, "-detailed-exitcode",
		"-format=json", "-var", "hailort_version=5.3.1")
	if err := json.Unmarshal(out, &bumped); err != nil {
		t.Fatalf("plan -format=json: %v\n%s", err, out)
	}
	actions := map[string]string{}
	for _, c := range bumped.Changes {
		actions[c.Address] = c.Action
	}
	for addr, want := range map[string]string{
		"kernel.sovereign":                      "no-op",
		"installer.sovereign":                   "no-op",
		"extension.hailort":                     "rebuild",
		`profile.talos["cm5-hailo10h-hailort"]`: "rebuild",
		// The cm4 instances use none of the sovereign artifacts: the conditional's
		// other branch orders them after extension.hailort but does not rebuild them.
		`profile.talos["cm4-standard-minimal"]`: "no-op",
		`profile.talos["cm4-standard-hailort"]`: "no-op",
		`profile.talos["cm5-hailo10h-minimal"]`: "no-op",
	} {
		got := actions[addr]
		if got == "" {
			got = "no-op" // the JSON plan may leave out no-ops
		}
		if got != want {
			t.Errorf("after -var hailort_version=5.3.1: %s is %s, want %s", addr, got, want)
		}
	}

	// Planning wrote nothing into the example directory.
	for _, p := range []string{".sovos", "_out", "plan.out"} {
		if _, err := os.Stat(filepath.Join("sovereign-os", p)); err == nil {
			t.Errorf("plan left %s in examples/sovereign-os", p)
		}
	}
}
