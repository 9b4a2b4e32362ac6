package gitsource

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/urmanac/sovos/internal/testenv"
)

// newRepo creates a local repository with two commits and returns its file://
// URL and the commit ids, oldest first.
func newRepo(t *testing.T) (string, []string) {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		testenv.SkipOrFail(t, "git is not installed (apt-get install git)")
	}
	dir := t.TempDir()
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(),
			"GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com",
			"GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	write := func(name, content string) {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	run("init", "-q", "-b", "main")
	write("README", "one\n")
	write("sub/file", "sub one\n")
	run("add", ".")
	run("commit", "-q", "-m", "one")
	c1 := run("rev-parse", "HEAD")
	write("README", "two\n")
	run("commit", "-q", "-am", "two")
	c2 := run("rev-parse", "HEAD")
	return "file://" + dir, []string{c1, c2}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	dt, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(dt)
}

func TestFetch(t *testing.T) {
	url, commits := newRepo(t)
	cache := t.TempDir()
	ctx := context.Background()

	tests := []struct {
		name, commit, subdir, file, want string
	}{
		{"old commit, not a branch tip", commits[0], "", "README", "one\n"},
		{"tip", commits[1], "", "README", "two\n"},
		{"subdirectory", commits[0], "sub", "file", "sub one\n"},
		{"uppercase commit id", strings.ToUpper(commits[1]), "./sub/", "file", "sub one\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir, err := Fetch(ctx, cache, url, tt.commit, tt.subdir)
			if err != nil {
				t.Fatal(err)
			}
			if got := readFile(t, filepath.Join(dir, tt.file)); got != tt.want {
				t.Errorf("%s = %q, want %q", tt.file, got, tt.want)
			}
			if _, err := os.Stat(filepath.Join(dir, ".git")); err == nil {
				t.Errorf(".git should not be part of the tree")
			}
		})
	}

	// A cached commit needs no fetch: it works with the origin gone.
	if err := os.RemoveAll(strings.TrimPrefix(url, "file://")); err != nil {
		t.Fatal(err)
	}
	dir, err := Fetch(ctx, cache, "https://example.invalid/moved.git", commits[0], "")
	if err != nil {
		t.Fatalf("cached commit: %v", err)
	}
	if got := readFile(t, filepath.Join(dir, "README")); got != "one\n" {
		t.Errorf("cached README = %q", got)
	}
}

// A server speaking protocol v0 refuses wants that are not advertised refs;
// Fetch must fall back to fetching every branch.
func TestFetchFallsBackWhenServerRefusesSHA(t *testing.T) {
	url, commits := newRepo(t)
	t.Setenv("GIT_CONFIG_COUNT", "1")
	t.Setenv("GIT_CONFIG_KEY_0", "protocol.version")
	t.Setenv("GIT_CONFIG_VALUE_0", "0")
	dir, err := Fetch(context.Background(), t.TempDir(), url, commits[0], "")
	if err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, filepath.Join(dir, "README")); got != "one\n" {
		t.Errorf("README = %q", got)
	}
}

func TestFetchConcurrent(t *testing.T) {
	url, commits := newRepo(t)
	cache := t.TempDir()
	const n = 6
	dirs := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dirs[i], errs[i] = Fetch(context.Background(), cache, url, commits[1], "")
		}()
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("fetch %d: %v", i, errs[i])
		}
		if dirs[i] != dirs[0] {
			t.Errorf("fetch %d returned %s, fetch 0 %s", i, dirs[i], dirs[0])
		}
	}
	if got := readFile(t, filepath.Join(dirs[0], "README")); got != "two\n" {
		t.Errorf("README = %q", got)
	}
	entries, err := os.ReadDir(filepath.Join(cache, "git"))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Errorf("cache holds %d entries, want 1 (temporary fetch dirs must be removed)", len(entries))
	}
}

func TestFetchErrors(t *testing.T) {
	url, commits := newRepo(t)
	missing := strings.Repeat("ab", 20)
	tests := []struct {
		name, url, commit, subdir string
		want                      []string
	}{
		{"unknown commit", url, missing, "", []string{url, missing}},
		{"unreachable url", "file:///nonexistent/repo.git", commits[0], "", []string{"file:///nonexistent/repo.git", commits[0], "cannot fetch"}},
		{"short commit", url, commits[0][:12], "", []string{"not a full hexadecimal commit id"}},
		{"escaping subdir", url, commits[0], "../x", []string{"inside the repository"}},
		{"missing subdir", url, commits[0], "nope", []string{`"nope" does not exist`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Fetch(context.Background(), t.TempDir(), tt.url, tt.commit, tt.subdir)
			if err == nil {
				t.Fatal("want an error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}
