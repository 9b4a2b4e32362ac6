package hashing

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// benchTree writes a tree of SOVOS_BENCH_TREE_MB (default 256) one-MiB files of
// pseudo-random bytes, 32 to a directory, and returns its root and file paths. The
// issue's figure is taken with SOVOS_BENCH_TREE_MB=1024 (1 GiB).
func benchTree(b *testing.B) (string, []string, int64) {
	b.Helper()
	mb := 256
	if s := os.Getenv("SOVOS_BENCH_TREE_MB"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			b.Fatalf("SOVOS_BENCH_TREE_MB=%q: want a positive number", s)
		}
		mb = n
	}
	root := b.TempDir()
	rng := rand.NewChaCha8([32]byte{1})
	buf := make([]byte, 1<<20)
	files := make([]string, 0, mb)
	for i := range mb {
		p := filepath.Join(root, fmt.Sprintf("d%03d", i/32), fmt.Sprintf("f%04d.bin", i))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			b.Fatal(err)
		}
		_, _ = rng.Read(buf)
		if err := os.WriteFile(p, buf, 0o644); err != nil {
			b.Fatal(err)
		}
		files = append(files, p)
	}
	// Files must be older than the cache written by the first run, or the warm run
	// would (rightly) distrust them as racily clean.
	old := time.Now().Add(-time.Minute)
	for _, p := range files {
		if err := os.Chtimes(p, old, old); err != nil {
			b.Fatal(err)
		}
	}
	return root, files, int64(mb) << 20
}

// BenchmarkHashTreeCold hashes the tree with an empty cache each time (every byte is
// read; the files are in the page cache, as they are for sha256sum below).
func BenchmarkHashTreeCold(b *testing.B) {
	root, _, size := benchTree(b)
	b.SetBytes(size)
	b.ResetTimer()
	for b.Loop() {
		h := NewSourceHasher(b.TempDir())
		if _, err := h.HashPath(context.Background(), root); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkHashTreeColdOneWorker is the cold run on a single worker, to compare the
// per-core speed with sha256sum's.
func BenchmarkHashTreeColdOneWorker(b *testing.B) {
	root, _, size := benchTree(b)
	b.SetBytes(size)
	b.ResetTimer()
	for b.Loop() {
		h := NewSourceHasher(b.TempDir())
		h.workers = 1
		if _, err := h.HashPath(context.Background(), root); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkHashTreeWarm re-hashes an unchanged tree: only stats, no reads.
func BenchmarkHashTreeWarm(b *testing.B) {
	root, _, size := benchTree(b)
	h := NewSourceHasher(b.TempDir())
	if _, err := h.HashPath(context.Background(), root); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(size)
	b.ResetTimer()
	for b.Loop() {
		if _, err := h.HashPath(context.Background(), root); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSha256sumTree is the yardstick: coreutils sha256sum over the same files.
func BenchmarkSha256sumTree(b *testing.B) {
	bin, err := exec.LookPath("sha256sum")
	if err != nil {
		b.Skip("sha256sum not installed")
	}
	_, files, size := benchTree(b)
	b.SetBytes(size)
	b.ResetTimer()
	for b.Loop() {
		cmd := exec.Command(bin, files...)
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("sha256sum: %v\n%s", err, out)
		}
	}
}
