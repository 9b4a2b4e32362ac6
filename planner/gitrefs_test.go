package planner

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/urmanac/sovos/config"
	"github.com/urmanac/sovos/internal/testenv"
)

func git(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", append([]string{"-C", dir, "-c", "user.name=t", "-c", "user.email=t@t"}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

func TestCheckGitRefs(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		testenv.SkipOrFail(t, "git is not installed (apt-get install git)")
	}
	repo := t.TempDir()
	git(t, repo, "init", "-q", "-b", "main")
	git(t, repo, "commit", "-q", "--allow-empty", "-m", "one")
	first := git(t, repo, "rev-parse", "HEAD")
	git(t, repo, "tag", "-a", "v1", "-m", "v1")
	git(t, repo, "commit", "-q", "--allow-empty", "-m", "two")
	second := git(t, repo, "rev-parse", "HEAD")
	url := "file://" + filepath.ToSlash(repo)

	src := func(name, ref, commit string) *config.Resource {
		return &config.Resource{Addr: config.Address{Type: "source", Name: name},
			Source: &config.SourceSpec{Git: url, Ref: ref, Commit: commit}}
	}
	cfg := &config.Config{Resources: []*config.Resource{
		src("moved", "main", first),    // main moved on to "two"
		src("current", "main", second), // pinned at main's head
		src("tag", "v1", first),        // annotated tag, peeled to its commit
		src("gone", "no-such-ref", first),
	}}
	got := CheckGitRefs(context.Background(), cfg, 10*time.Second)
	if len(got) != 1 || !strings.HasPrefix(got[0], "source.moved: ref main now points to "+second[:12]) {
		t.Fatalf("warnings = %q, want one for source.moved", got)
	}
}
