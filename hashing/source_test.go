package hashing

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// writeTree creates files (path -> contents) under dir; a contents starting with "->"
// makes a symlink to the rest, a path ending in "/" an empty directory.
func writeTree(t testing.TB, dir string, files map[string]string) {
	t.Helper()
	for p, c := range files {
		full := filepath.Join(dir, filepath.FromSlash(p))
		if strings.HasSuffix(p, "/") {
			if err := os.MkdirAll(full, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if target, ok := strings.CutPrefix(c, "->"); ok {
			if err := os.Symlink(target, full); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.WriteFile(full, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func baseTree() map[string]string {
	return map[string]string{
		"Dockerfile":     "FROM scratch\nCOPY . /\n",
		".dockerignore":  "*.log\nbuild/\n!build/keep.txt\n",
		"src/main.c":     "int main(void) { return 0; }\n",
		"src/link":       "->main.c",
		"run.sh":         "#!/bin/sh\n",
		"debug.log":      "noise",
		"build/out.o":    "object",
		"build/keep.txt": "kept",
		".git/HEAD":      "ref: refs/heads/main\n",
		"sub/.git":       "gitdir: ../.git/modules/sub\n",
		"empty/":         "",
		"docs/a-b":       "x",
		"docs/a/b":       "y",
		"deep/nested/":   "",
	}
}

func hashOf(t *testing.T, h *SourceHasher, dir string) string {
	t.Helper()
	s, err := h.HashPath(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestHashPathChanges(t *testing.T) {
	tests := []struct {
		name    string
		mutate  func(t *testing.T, dir string)
		changes bool
	}{
		{"edit a file", func(t *testing.T, dir string) {
			writeFile(t, dir, "src/main.c", "int main(void) { return 1; }\n")
		}, true},
		{"touch without change", func(t *testing.T, dir string) {
			later := time.Now().Add(time.Hour)
			if err := os.Chtimes(filepath.Join(dir, "src/main.c"), later, later); err != nil {
				t.Fatal(err)
			}
		}, false},
		{"chmod +x", func(t *testing.T, dir string) {
			if err := os.Chmod(filepath.Join(dir, "run.sh"), 0o755); err != nil {
				t.Fatal(err)
			}
		}, true},
		{"chmod g+w (not the exec bit)", func(t *testing.T, dir string) {
			if err := os.Chmod(filepath.Join(dir, "run.sh"), 0o664); err != nil {
				t.Fatal(err)
			}
		}, false},
		{"symlink target", func(t *testing.T, dir string) {
			p := filepath.Join(dir, "src/link")
			os.Remove(p)
			if err := os.Symlink("other.c", p); err != nil {
				t.Fatal(err)
			}
		}, true},
		{"dockerignored file", func(t *testing.T, dir string) { writeFile(t, dir, "debug.log", "more noise") }, false},
		{"new dockerignored file", func(t *testing.T, dir string) { writeFile(t, dir, "other.log", "noise") }, false},
		// Docker anchors patterns at the root: *.log does not match src/x.log.
		{"nested file matching a root pattern", func(t *testing.T, dir string) { writeFile(t, dir, "src/x.log", "noise") }, true},
		{"dockerignored dir", func(t *testing.T, dir string) { writeFile(t, dir, "build/out.o", "object2") }, false},
		{"re-included file", func(t *testing.T, dir string) { writeFile(t, dir, "build/keep.txt", "kept2") }, true},
		{".git", func(t *testing.T, dir string) { writeFile(t, dir, ".git/HEAD", "ref: refs/heads/other\n") }, false},
		{"nested .git", func(t *testing.T, dir string) { writeFile(t, dir, "sub/.git", "gitdir: elsewhere\n") }, false},
		{".sovos", func(t *testing.T, dir string) { writeFile(t, dir, ".sovos/errored-state.json", "{}") }, false},
		{"new empty dir", func(t *testing.T, dir string) {
			if err := os.Mkdir(filepath.Join(dir, "empty2"), 0o755); err != nil {
				t.Fatal(err)
			}
		}, true},
		{"rename", func(t *testing.T, dir string) {
			if err := os.Rename(filepath.Join(dir, "docs/a-b"), filepath.Join(dir, "docs/a-c")); err != nil {
				t.Fatal(err)
			}
		}, true},
		{"dockerignore edit", func(t *testing.T, dir string) { writeFile(t, dir, ".dockerignore", "*.log\n") }, true},
		{"new file", func(t *testing.T, dir string) { writeFile(t, dir, "src/new.c", "") }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			writeTree(t, dir, baseTree())
			h := NewSourceHasher(t.TempDir())
			before := hashOf(t, h, dir)
			if again := hashOf(t, h, dir); again != before {
				t.Fatalf("hash not stable: %s then %s", before, again)
			}
			tt.mutate(t, dir)
			after := hashOf(t, h, dir)
			if (after != before) != tt.changes {
				t.Errorf("hash changed = %v, want %v", after != before, tt.changes)
			}
			// The cache must never change the answer.
			if cold := hashOf(t, NewSourceHasher(""), dir); cold != after {
				t.Errorf("cached hash %s differs from uncached %s", after, cold)
			}
		})
	}
}

func writeFile(t *testing.T, dir, rel, contents string) {
	t.Helper()
	full := filepath.Join(dir, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(full, []byte(contents), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestWalkContextEntries(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, baseTree())
	entries, err := walkContext(context.Background(), dir, "")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.kind+" "+e.rel)
	}
	want := []string{
		"file .dockerignore", "file Dockerfile",
		"dir build", "file build/keep.txt",
		"dir deep", "dir deep/nested",
		"dir docs", "dir docs/a", "file docs/a-b", "file docs/a/b",
		"dir empty",
		"file run.sh",
		"dir src", "symlink src/link", "file src/main.c",
		"dir sub",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("entries:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestHashPathCacheInsideTree(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"a": "1"})
	h := NewSourceHasher(filepath.Join(dir, "cache"))
	first := hashOf(t, h, dir) // writes the cache inside the tree
	if again := hashOf(t, h, dir); again != first {
		t.Error("the digest cache inside the hashed tree changed its hash")
	}
}

func TestHashPathIgnoredDockerfileStillHashed(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"Dockerfile": "FROM a\n", ".dockerignore": "Dockerfile\n.dockerignore\n"})
	h := NewSourceHasher("")
	before := hashOf(t, h, dir)
	writeFile(t, dir, "Dockerfile", "FROM b\n")
	if hashOf(t, h, dir) == before {
		t.Error("an ignored root Dockerfile must still be hashed: the build reads it")
	}
}

// countingHasher counts the files HashPath reads.
func countingHasher(cacheDir string) (*SourceHasher, *atomic.Int64) {
	h := NewSourceHasher(cacheDir)
	var n atomic.Int64
	open := h.open
	h.open = func(name string) (io.ReadCloser, error) {
		n.Add(1)
		return open(name)
	}
	return h, &n
}

func TestHashPathCache(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, baseTree())
	// Give every file an mtime well before the cache is written, so no entry is racy.
	old := time.Now().Add(-time.Hour)
	for _, p := range []string{"Dockerfile", ".dockerignore", "src/main.c", "run.sh", "build/keep.txt", "docs/a-b", "docs/a/b"} {
		if err := os.Chtimes(filepath.Join(dir, p), old, old); err != nil {
			t.Fatal(err)
		}
	}
	cache := t.TempDir()
	h, reads := countingHasher(cache)
	first := hashOf(t, h, dir)
	if n := reads.Load(); n != 7 {
		t.Fatalf("cold run read %d files, want 7", n)
	}
	reads.Store(0)
	if got := hashOf(t, h, dir); got != first {
		t.Fatalf("warm hash %s != cold %s", got, first)
	}
	if n := reads.Load(); n != 0 {
		t.Fatalf("warm run read %d files, want 0 (cache hit)", n)
	}

	// Same size, mtime restored: like git, the cache is trusted and contents not read.
	main := filepath.Join(dir, "src/main.c")
	writeFile(t, dir, "src/main.c", "int main(void) { return 7; }\n")
	if err := os.Chtimes(main, old, old); err != nil {
		t.Fatal(err)
	}
	if got := hashOf(t, h, dir); got != first {
		t.Fatalf("an entry with unchanged (size, mtime, inode, mode) was not taken from the cache")
	}
	// A different size invalidates it.
	writeFile(t, dir, "src/main.c", "int main(void) { return 42; }\n")
	if err := os.Chtimes(main, old, old); err != nil {
		t.Fatal(err)
	}
	reads.Store(0)
	if got := hashOf(t, h, dir); got == first {
		t.Fatal("a file of another size was taken from the cache")
	}
	if n := reads.Load(); n != 1 {
		t.Errorf("read %d files after one changed, want 1", n)
	}
}

func TestHashPathRacyEntriesNotTrusted(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"a.txt": "one"})
	cache := t.TempDir()
	h, reads := countingHasher(cache)
	first := hashOf(t, h, dir)

	// Simulate the racy-git case: the file is rewritten (same size) within the same
	// timestamp tick as the cache write, so its stat key still matches the entry.
	cacheFile := filepath.Join(cache, cacheName(mustAbs(t, dir)))
	fi, err := os.Stat(cacheFile)
	if err != nil {
		t.Fatal(err)
	}
	entries, err := walkContext(context.Background(), dir, "")
	if err != nil {
		t.Fatal(err)
	}
	tick := time.Unix(0, entries[0].stat.MTime)
	writeFile(t, dir, "a.txt", "two")
	if err := os.Chtimes(filepath.Join(dir, "a.txt"), tick, tick); err != nil {
		t.Fatal(err)
	}
	// The cache file was written in that same tick.
	if err := os.Chtimes(cacheFile, tick, tick); err != nil {
		t.Fatal(err)
	}
	_ = fi
	reads.Store(0)
	if got := hashOf(t, h, dir); got == first {
		t.Fatal("a racily clean entry (mtime >= cache write time) was trusted")
	}
	if n := reads.Load(); n != 1 {
		t.Errorf("read %d files, want 1", n)
	}
}

func mustAbs(t *testing.T, p string) string {
	t.Helper()
	a, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestHashPathErrors(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "f", "x")
	h := NewSourceHasher("")
	if _, err := h.HashPath(context.Background(), filepath.Join(dir, "missing")); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("missing dir: %v", err)
	}
	if _, err := h.HashPath(context.Background(), filepath.Join(dir, "f")); err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Errorf("file: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := h.HashPath(ctx, dir); err == nil {
		t.Error("cancelled context: no error")
	}
}

func TestHashGitIgnoresURL(t *testing.T) {
	h := NewSourceHasher("")
	const commit = "0123456789abcdef0123456789abcdef01234567"
	a := h.HashGit(commit, "")
	if a != h.HashGit(commit, "") {
		t.Fatal("not stable")
	}
	if a == h.HashGit(commit, "kernel") {
		t.Error("subdir not hashed")
	}
	if a == h.HashGit("1123456789abcdef0123456789abcdef01234567", "") {
		t.Error("commit not hashed")
	}
	if a != h.HashGit(strings.ToUpper(commit), "") || a != h.HashGit(commit, ".") || a != h.HashGit(commit, "/") {
		t.Error("equivalent spellings hash differently")
	}
	k := h.HashGit(commit, "kernel")
	for _, s := range []string{"./kernel", "kernel/", "/kernel", "a/../kernel"} {
		if h.HashGit(commit, s) != k {
			t.Errorf("subdir %q hashes differently from %q", s, "kernel")
		}
	}
}
