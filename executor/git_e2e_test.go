package executor_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/urmanac/sovos/executor"
	"github.com/urmanac/sovos/internal/testenv"
)

// TestApplyGitSource builds the extension from a git source: the repository is fetched
// at its pinned commit (subdirectory included) into .sovos/cache/git and mounted like a
// path source.
func TestApplyGitSource(t *testing.T) {
	f := newFactory(t)
	repo := t.TempDir()
	git := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("git", args...)
		cmd.Dir = repo
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com",
			"GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	git("init", "-q")
	testenv.CopyTree(t, filepath.Join(f.dir, "ext"), filepath.Join(repo, "pkgs", "hello"))
	git("add", ".")
	git("commit", "-q", "-m", "hello extension")
	commit := git("rev-parse", "HEAD")
	if err := os.RemoveAll(filepath.Join(f.dir, "ext")); err != nil {
		t.Fatal(err)
	}
	hcl := readFile(t, f, "main.sovos.hcl")
	hcl = strings.Replace(hcl, `source "ext" { path = "./ext" }`,
		`source "ext" {
  git    = "file://`+repo+`"
  commit = "`+commit+`"
  subdir = "pkgs/hello"
}`, 1)
	f.write("main.sovos.hcl", hcl)

	sum, err := f.apply(context.Background(), f.plan(false), executor.Options{})
	if err != nil {
		t.Fatalf("apply: %v", err)
	}
	if got := outcomes(sum)["extension.e"]; got != "built" {
		t.Errorf("extension.e: %s", got)
	}
	e := f.state().Resource("extension.e")
	if e.Verified == nil || !e.Verified.OK {
		t.Errorf("extension from git: verified %+v", e.Verified)
	}
	if _, err := os.Stat(filepath.Join(f.dir, ".sovos", "cache", "git", commit, "pkgs", "hello", "Dockerfile")); err != nil {
		t.Errorf("the checkout is not cached: %v", err)
	}
	if p := f.plan(false); p.HasChanges() {
		t.Errorf("plan after applying: %v", actions(p))
	}
}
