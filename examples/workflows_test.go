package examples_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
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
	if got := w.Permissions["id-token"]; got != "write" {
		t.Errorf("permissions.id-token = %q, want write (keyless signing: the OIDC token Fulcio certifies)", got)
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
	for _, flag := range []string{"-auto-approve", "-promote", "-lock-timeout="} {
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
