package testenv

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// GitRemote is a bare repository on disk, reachable at URL (file://), whose branches and
// tags a test moves through a working clone: what `git ls-remote` sees of a real remote.
type GitRemote struct {
	t    testing.TB
	URL  string
	Bare string
	work string
}

// NewGitRemote creates an empty bare repository and a clone to commit from; branch main
// gets a first commit. Without git the test is skipped (failed under CI).
func NewGitRemote(t testing.TB) *GitRemote {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		SkipOrFail(t, "git is not installed")
	}
	dir := t.TempDir()
	r := &GitRemote{t: t, Bare: filepath.Join(dir, "remote.git"), work: filepath.Join(dir, "work")}
	r.URL = "file://" + filepath.ToSlash(r.Bare)
	r.run(dir, "init", "-q", "--bare", "-b", "main", r.Bare)
	r.run(dir, "init", "-q", "-b", "main", r.work)
	r.Git("remote", "add", "origin", r.URL)
	r.Commit("first")
	return r
}

// Git runs git in the working clone and returns its trimmed output.
func (r *GitRemote) Git(args ...string) string {
	r.t.Helper()
	return r.run(r.work, args...)
}

func (r *GitRemote) run(dir string, args ...string) string {
	r.t.Helper()
	cmd := exec.Command("git", append([]string{"-c", "user.name=sovos-test", "-c", "user.email=test@sovos.invalid",
		"-c", "tag.gpgSign=false", "-c", "commit.gpgSign=false"}, args...)...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		r.t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// Commit adds an empty commit to the checked-out branch, pushes it, and returns its id.
func (r *GitRemote) Commit(msg string) string {
	r.t.Helper()
	r.Git("commit", "-q", "--allow-empty", "-m", msg)
	r.Git("push", "-q", "origin", "HEAD")
	return r.Git("rev-parse", "HEAD")
}

// Tag tags the current commit (annotated when annotated is set; -f moves an existing
// tag), pushes it, and returns the id the tag ref points at: the tag object for an
// annotated tag, the commit for a lightweight one.
func (r *GitRemote) Tag(name string, annotated bool) string {
	r.t.Helper()
	args := []string{"tag", "-f", name}
	if annotated {
		args = []string{"tag", "-f", "-a", "-m", name, name}
	}
	r.Git(args...)
	r.Git("push", "-q", "-f", "origin", "refs/tags/"+name)
	return r.Git("rev-parse", "refs/tags/"+name)
}

// Branch creates (or moves) branch name at the current commit and pushes it.
func (r *GitRemote) Branch(name string) {
	r.t.Helper()
	r.Git("branch", "-f", name)
	r.Git("push", "-q", "-f", "origin", "refs/heads/"+name)
}
