package examples_test

import (
	"bytes"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rhysd/actionlint"
)

// TestWorkflowsActionlint runs actionlint (as a library) over every workflow of
// examples/github-actions: YAML and workflow syntax, `${{ }}` expressions and contexts,
// step outputs, the inputs of the actions used, cron syntax, and shellcheck on `run:`
// scripts when shellcheck is installed.
func TestWorkflowsActionlint(t *testing.T) {
	files, err := filepath.Glob("github-actions/*.yml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 3 {
		t.Fatalf("found %d workflows, want sovos-plan.yml, sovos-apply.yml and sovos-pins.yml: %v", len(files), files)
	}
	var out bytes.Buffer
	opts := &actionlint.LinterOptions{Oneline: true, Color: actionlint.ColorOptionKindNever}
	if sc, err := exec.LookPath("shellcheck"); err == nil {
		opts.Shellcheck = sc
	} else {
		t.Log("shellcheck is not installed: run: scripts are checked by TestWorkflowShell's bash -n only")
	}
	l, err := actionlint.NewLinter(&out, opts)
	if err != nil {
		t.Fatal(err)
	}
	errs, err := l.LintFiles(files, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(errs) > 0 {
		t.Errorf("actionlint found %d problem(s):\n%s", len(errs), out.String())
	}
}

// TestActionlintCatchesMistakes guards the test above against passing vacuously: the
// same linter rejects a workflow with the mistakes it is there to catch.
func TestActionlintCatchesMistakes(t *testing.T) {
	bad := []byte(`on:
  schedule:
    - cron: "61 5 * * 1"
jobs:
  pins:
    runs-on: ubuntu-latest
    steps:
      - id: check
        run: echo "${{ steps.chek.outputs.exitcode }}"
      - uses: peter-evans/create-pull-request@v7
        with:
          body-file: plan.md
`)
	l, err := actionlint.NewLinter(&bytes.Buffer{}, &actionlint.LinterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	errs, err := l.Lint("bad.yml", bad, nil)
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, e := range errs {
		kinds = append(kinds, e.Kind+": "+e.Message)
	}
	all := strings.Join(kinds, "\n")
	for _, want := range []string{"events: ", "expression: ", "action: "} {
		if !strings.Contains(all, want) {
			t.Errorf("actionlint missed a %q mistake; it reported:\n%s", want, all)
		}
	}
}
