package examples_test

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/urmanac/sovos/internal/testenv"
)

// TestPinsWorkflow checks the shape of sovos-pins.yml described in the README: weekly,
// `pin -check`, and only when it exits 2 `pin -upgrade`, the markdown plan, and a pull
// request with that plan as its body and only configuration files in its commit.
func TestPinsWorkflow(t *testing.T) {
	w := readWorkflow(t, "sovos-pins.yml")
	sched, ok := w.On["schedule"].([]any)
	if !ok || len(sched) != 1 {
		t.Fatalf("on.schedule = %v, want one cron entry", w.On["schedule"])
	}
	if _, ok := w.On["workflow_dispatch"]; !ok {
		t.Error("no workflow_dispatch: the pins cannot be checked on demand")
	}
	for k, v := range map[string]string{"contents": "write", "pull-requests": "write", "packages": "read"} {
		if w.Permissions[k] != v {
			t.Errorf("permissions.%s = %q, want %q", k, w.Permissions[k], v)
		}
	}
	if w.Concurrency == nil || w.Concurrency.CancelInProgress {
		t.Errorf("concurrency = %+v, want one run at a time, never cancelled", w.Concurrency)
	}
	j := w.Jobs["pins"]
	if j == nil {
		t.Fatal("no job pins")
	}
	check := findStep(t, j, "running pin -check", runs(`sovos .*pin -check`))
	if check.ID != "check" || !strings.Contains(check.Run, `echo "exitcode=$code" >> "$GITHUB_OUTPUT"`) {
		t.Errorf("the check step does not record its exit code: %+v", check)
	}
	const behind = "steps.check.outputs.exitcode == '2'"
	upgrade := findStep(t, j, "running pin -upgrade", runs(`sovos .*pin -upgrade`))
	plan := findStep(t, j, "planning the change", runs(`sovos .*plan -format=markdown`))
	pr := findStep(t, j, "opening the pull request", uses("peter-evans/create-pull-request"))
	for _, s := range []*step{upgrade, plan, pr} {
		if s.If != behind {
			t.Errorf("step %q runs if %q, want %q", s.Name, s.If, behind)
		}
	}
	if !strings.Contains(plan.Run, `> "$RUNNER_TEMP/plan.md"`) || pr.With["body-path"] != "${{ runner.temp }}/plan.md" {
		t.Errorf("the pull request's body is not the plan: plan step %q, body-path %q", plan.Run, pr.With["body-path"])
	}
	if !strings.Contains(pr.With["commit-message"], "${{ steps.upgrade.outputs.changes }}") {
		t.Errorf("the commit message lacks the moved pins: %q", pr.With["commit-message"])
	}
	for _, p := range strings.Split(strings.TrimSpace(pr.With["add-paths"]), "\n") {
		if !strings.HasSuffix(p, ".sovos.hcl") && !strings.HasSuffix(p, ".sovos.json") {
			t.Errorf("add-paths commits %q, not only configuration files", p)
		}
	}
}

// TestPinsWorkflowScripts runs the workflow's own run: scripts, as GitHub would (bash -eo
// pipefail, GITHUB_OUTPUT, RUNNER_TEMP), with the sovos built from this tree, against a
// real git remote whose tag moves and a real registry: current pins stop the workflow,
// a moved tag gives a pin change and a markdown plan, a vanished tag fails the job.
func TestPinsWorkflowScripts(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("bash not installed")
	}
	bin := testenv.Sovos(t)
	host := testenv.StartRegistry(t)
	remote := testenv.NewGitRemote(t)
	first := remote.Git("rev-parse", "HEAD")
	remote.Tag("v1.0.0", true)

	w := readWorkflow(t, "sovos-pins.yml")
	steps := map[string]*step{}
	for _, s := range w.Jobs["pins"].Steps {
		steps[s.ID] = s
	}
	var planStep *step
	for _, s := range w.Jobs["pins"].Steps {
		if strings.Contains(s.Run, "plan -format=markdown") {
			planStep = s
		}
	}

	repo := t.TempDir()
	cfgDir := filepath.Join(repo, "infra")
	if err := os.MkdirAll(cfgDir, 0o755); err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(cfgDir, "main.sovos.hcl")
	cfg := fmt.Sprintf(`sovos {
  insecure_registries = [%[1]q]
}

source "pkgs" {
  git    = %[2]q
  ref    = "v1.0.0"
  commit = %[3]q
}

kernel "k" {
  source = source.pkgs
  image  = "%[1]s/test/kernel"
}
`, host, remote.URL, first)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}

	// runStep runs one step's script and returns its exit code and GITHUB_OUTPUT.
	runStep := func(s *step) (int, string, string) {
		t.Helper()
		tmp := t.TempDir()
		output := filepath.Join(tmp, "output")
		cmd := exec.Command(bash, "--noprofile", "--norc", "-eo", "pipefail", "-c", s.Run)
		cmd.Dir = repo
		cmd.Env = append(os.Environ(),
			"PATH="+filepath.Dir(bin)+string(os.PathListSeparator)+os.Getenv("PATH"),
			"SOVOS_DIR=infra", "SOVOS_WORKSPACE=main",
			"GITHUB_OUTPUT="+output, "GITHUB_STEP_SUMMARY="+filepath.Join(tmp, "summary"),
			"RUNNER_TEMP="+filepath.Join(repo, "tmp"))
		if err := os.MkdirAll(filepath.Join(repo, "tmp"), 0o755); err != nil {
			t.Fatal(err)
		}
		logs, err := cmd.CombinedOutput()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		out, _ := os.ReadFile(output)
		return code, string(out), string(logs)
	}

	code, out, logs := runStep(steps["check"])
	if code != 0 || out != "exitcode=0\n" {
		t.Fatalf("current pins: exit %d, output %q\n%s", code, out, logs)
	}

	second := remote.Commit("second")
	remote.Tag("v1.0.0", true)
	code, out, logs = runStep(steps["check"])
	if code != 0 || out != "exitcode=2\n" || !strings.Contains(logs, "source.pkgs: commit "+first[:8]+" -> "+second[:8]+" (v1.0.0)") {
		t.Fatalf("a moved tag: exit %d, output %q\n%s", code, out, logs)
	}
	code, out, logs = runStep(steps["upgrade"])
	wantOut := "changes<<SOVOS_PINS_EOF\nsource.pkgs: commit " + first[:8] + " -> " + second[:8] + " (v1.0.0)\nSOVOS_PINS_EOF\n"
	if code != 0 || out != wantOut {
		t.Fatalf("upgrade: exit %d, output %q, want %q\n%s", code, out, wantOut, logs)
	}
	if b, _ := os.ReadFile(cfgPath); string(b) != strings.Replace(cfg, first, second, 1) {
		t.Fatalf("upgrade changed more than the pin:\n%s", b)
	}
	code, _, logs = runStep(planStep)
	md, _ := os.ReadFile(filepath.Join(repo, "tmp", "plan.md"))
	if code != 0 || !strings.HasPrefix(string(md), "<!-- sovos-plan workspace=main") || !strings.Contains(string(md), "kernel.k") {
		t.Fatalf("plan: exit %d\nplan.md:\n%s\nlogs:\n%s", code, md, logs)
	}

	// The tag is deleted upstream: the job fails at the check, naming the block.
	remote.Git("push", "-q", "origin", ":refs/tags/v1.0.0")
	code, out, logs = runStep(steps["check"])
	if code != 1 || out != "exitcode=1\n" || !strings.Contains(logs, "source.pkgs (main.sovos.hcl:7): ref v1.0.0 does not exist") {
		t.Fatalf("a vanished tag: exit %d, output %q\n%s", code, out, logs)
	}
}

// TestRenovateNote checks the Renovate configuration the github-actions README offers:
// valid JSON whose regexes find the pins of the sovereign-os example that are written
// literally (its three git sources and the overlay image).
func TestRenovateNote(t *testing.T) {
	readme, err := os.ReadFile("github-actions/README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(readme), "```json\n")
	block, _, ok2 := strings.Cut(rest, "```")
	if !ok || !ok2 {
		t.Fatal("no json block in github-actions/README.md")
	}
	var doc struct {
		CustomManagers []struct {
			MatchStrings []string `json:"matchStrings"`
			Datasource   string   `json:"datasourceTemplate"`
		} `json:"customManagers"`
	}
	if err := json.Unmarshal([]byte(block), &doc); err != nil {
		t.Fatalf("the Renovate configuration is not JSON: %v\n%s", err, block)
	}
	upstream, err := os.ReadFile("sovereign-os/upstream.sovos.hcl")
	if err != nil {
		t.Fatal(err)
	}
	found := map[string]int{}
	for _, m := range doc.CustomManagers {
		for _, s := range m.MatchStrings {
			re, err := regexp.Compile(s) // Go reads (?<name>) as Renovate's JavaScript does
			if err != nil {
				t.Fatalf("%s: %v", s, err)
			}
			for _, sub := range re.FindAllStringSubmatch(string(upstream), -1) {
				if d := sub[re.SubexpIndex("currentDigest")]; d == "" {
					t.Errorf("%s matched without a digest: %q", m.Datasource, sub[0])
				}
				found[m.Datasource]++
			}
		}
	}
	if found["git-tags"] != 3 || found["docker"] != 1 {
		t.Errorf("the regexes found %v in sovereign-os, want 3 git sources and 1 image", found)
	}
}
