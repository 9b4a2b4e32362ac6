package hashing

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"

	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
)

// SourceHasher computes the content hashes of sources (SPEC §4). A git source is its
// commit; a path source is the tree BuildKit would receive as its build context. File
// digests are cached under a directory, so re-hashing an unchanged tree only stats it.
type SourceHasher struct {
	cacheDir string
	workers  int
	// open reads a file's contents; tests replace it to count reads.
	open func(name string) (io.ReadCloser, error)
}

// NewSourceHasher returns a hasher caching file digests in cacheDir (typically
// .sovos/cache); an empty cacheDir disables the cache.
func NewSourceHasher(cacheDir string) *SourceHasher {
	return &SourceHasher{
		cacheDir: cacheDir,
		workers:  runtime.GOMAXPROCS(0),
		open:     func(name string) (io.ReadCloser, error) { return os.Open(name) },
	}
}

// HashGit returns the hash of a git source: its commit and subdirectory only, never its
// URL, so moving a remote from https to ssh (or to a mirror) rebuilds nothing. Spellings
// git treats as the same (an uppercase commit, "./kernel/" for "kernel") hash the same.
func (h *SourceHasher) HashGit(commit, subdir string) string {
	commit = strings.ToLower(commit)
	if subdir != "" {
		subdir = strings.TrimPrefix(path.Clean("/"+filepath.ToSlash(subdir)), "/")
	}
	b, err := CanonicalJSON(map[string]any{
		"scheme": HashScheme,
		"kind":   "git",
		"commit": commit,
		"subdir": subdir,
	})
	if err != nil { // only strings: cannot fail except on invalid UTF-8
		b = []byte(fmt.Sprintf("git\x00%q\x00%q", commit, subdir))
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// Entry types of a path source's tree manifest.
const (
	entryDir     = "dir"
	entryFile    = "file"
	entrySymlink = "symlink"
)

// treeEntry is one path of a source tree, with what the manifest records about it and
// what the digest cache keys on.
type treeEntry struct {
	rel    string // slash-separated, relative to the source root
	kind   string
	exec   bool
	target string // symlinks
	digest string // files: sha256 hex of the contents
	stat   fileKey
}

// HashPath returns the hash of the directory dir as a build context: the SHA-256 of the
// canonical JSON {"entries":[...],"kind":"path","scheme":1}, where entries, sorted by
// path, are {"path","type":"dir"}, {"path","type":"file","exec","sha256"} and
// {"path","type":"symlink","target"} (docs/hashing.md). Paths excluded by the root
// .dockerignore (BuildKit's matcher and semantics), every .git and .sovos, and the
// cache directory are left out; the root Dockerfile and .dockerignore are always in, as
// Docker always sends them.
func (h *SourceHasher) HashPath(ctx context.Context, dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("source path %s: %w", dir, err)
	}
	fi, err := os.Stat(abs)
	if errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("source path %s does not exist", dir)
	}
	if err != nil {
		return "", fmt.Errorf("source path: %w", err)
	}
	if !fi.IsDir() {
		return "", fmt.Errorf("source path %s is not a directory", dir)
	}
	var skip string
	if h.cacheDir != "" {
		skip, _ = filepath.Abs(h.cacheDir)
	}
	entries, err := walkContext(ctx, abs, skip)
	if err != nil {
		return "", err
	}
	cache := h.loadCache(abs)
	if err := h.digestFiles(ctx, abs, entries, cache); err != nil {
		return "", err
	}
	// The cache only saves time: a read-only checkout still hashes, so a failed write
	// is not an error.
	_ = h.saveCache(abs, cache)
	return manifestHash(entries)
}

func manifestHash(entries []*treeEntry) (string, error) {
	b, err := manifestJSON(entries)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}

// manifestJSON is the canonical document a path source's hash is the SHA-256 of.
func manifestJSON(entries []*treeEntry) ([]byte, error) {
	list := make([]any, len(entries))
	for i, e := range entries {
		m := map[string]any{"path": e.rel, "type": e.kind}
		switch e.kind {
		case entryFile:
			m["exec"] = e.exec
			m["sha256"] = e.digest
		case entrySymlink:
			m["target"] = e.target
		}
		list[i] = m
	}
	b, err := CanonicalJSON(map[string]any{
		"scheme":  HashScheme,
		"kind":    "path",
		"entries": list,
	})
	if err != nil {
		return nil, fmt.Errorf("hashing source tree: %w", err)
	}
	return b, nil
}

// alwaysIncluded are sent by Docker even when .dockerignore names them; a change to
// either changes the build, so they stay in the hash.
var alwaysIncluded = []string{"Dockerfile", ".dockerignore"}

// walkContext lists the build context of root, less .git, .sovos (sovos's own working
// directory, which every apply changes: hashing it would rebuild forever) and the
// directory skip (the digest cache, wherever it is), the way BuildKit's fsutil filter
// walks it: each path is matched against the .dockerignore patterns with its parent's match
// result; an excluded directory is entered only when an exception (!pattern) might
// re-include something below it, and is then listed only if something below it is.
func walkContext(ctx context.Context, root, skip string) ([]*treeEntry, error) {
	var pm *patternmatcher.PatternMatcher
	if f, err := os.Open(filepath.Join(root, ".dockerignore")); err == nil {
		patterns, err := ignorefile.ReadAll(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", filepath.Join(root, ".dockerignore"), err)
		}
		if len(patterns) > 0 {
			pm, err = patternmatcher.New(patterns)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", filepath.Join(root, ".dockerignore"), err)
			}
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("reading .dockerignore: %w", err)
	}

	var out []*treeEntry
	var walk func(relDir string, parent patternmatcher.MatchInfo) (bool, error)
	// walk appends the entries below relDir and reports whether it appended any.
	walk = func(relDir string, parent patternmatcher.MatchInfo) (bool, error) {
		if err := ctx.Err(); err != nil {
			return false, err
		}
		des, err := os.ReadDir(filepath.Join(root, filepath.FromSlash(relDir)))
		if err != nil {
			return false, fmt.Errorf("reading source directory: %w", err)
		}
		added := false
		for _, de := range des {
			name := de.Name()
			if name == ".git" || name == ".sovos" && de.IsDir() {
				continue
			}
			rel := name
			if relDir != "" {
				rel = relDir + "/" + name
			}
			excluded := false
			var info patternmatcher.MatchInfo
			if pm != nil {
				excluded, info, err = pm.MatchesUsingParentResults(filepath.FromSlash(rel), parent)
				if err != nil {
					return false, fmt.Errorf("matching .dockerignore patterns against %s: %w", rel, err)
				}
				if excluded && relDir == "" && slices.Contains(alwaysIncluded, name) {
					excluded = false
				}
			}
			full := filepath.Join(root, filepath.FromSlash(rel))
			if full == skip {
				continue
			}
			fi, err := os.Lstat(full)
			if err != nil {
				return false, fmt.Errorf("source file: %w", err)
			}
			e := &treeEntry{rel: rel, stat: keyOf(fi)}
			switch mode := fi.Mode(); {
			case mode.IsDir():
				if excluded && !pm.Exclusions() {
					continue
				}
				e.kind = entryDir
				at := len(out)
				if !excluded {
					out = append(out, e)
				}
				sub, err := walk(rel, info)
				if err != nil {
					return false, err
				}
				if excluded && sub {
					// Re-included content needs its directory, as fsutil emits
					// parents lazily.
					out = slices.Insert(out, at, e)
				}
				added = added || sub || !excluded
				continue
			case excluded:
				continue
			case mode.IsRegular():
				e.kind = entryFile
				e.exec = mode.Perm()&0o111 != 0
			case mode&fs.ModeSymlink != 0:
				e.kind = entrySymlink
				if e.target, err = os.Readlink(full); err != nil {
					return false, fmt.Errorf("source symlink: %w", err)
				}
				e.target = filepath.ToSlash(e.target)
			default:
				// Sockets, pipes and devices have no content a build could use.
				continue
			}
			out = append(out, e)
			added = true
		}
		return added, nil
	}
	if _, err := walk("", patternmatcher.MatchInfo{}); err != nil {
		return nil, err
	}
	// ReadDir sorts by name within a directory, but "a/b" must come after "a-b" in the
	// manifest's global byte order.
	slices.SortFunc(out, func(a, b *treeEntry) int {
		switch {
		case a.rel < b.rel:
			return -1
		case a.rel > b.rel:
			return 1
		}
		return 0
	})
	return out, nil
}

// digestFiles fills in the digest of every file entry, from the cache when its stat
// key still matches, else by reading it on a bounded pool of workers.
func (h *SourceHasher) digestFiles(ctx context.Context, root string, entries []*treeEntry, cache *digestCache) error {
	var todo []*treeEntry
	for _, e := range entries {
		if e.kind != entryFile {
			continue
		}
		if d, ok := cache.lookup(e.rel, e.stat); ok {
			e.digest = d
			continue
		}
		todo = append(todo, e)
	}
	if len(todo) == 0 {
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	work := make(chan *treeEntry)
	var (
		wg       sync.WaitGroup
		errOnce  sync.Once
		firstErr error
	)
	fail := func(err error) {
		errOnce.Do(func() { firstErr = err; cancel() })
	}
	workers := min(max(h.workers, 1), len(todo))
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 256<<10)
			for e := range work {
				if err := h.digestFile(ctx, root, e, cache, buf); err != nil {
					fail(err)
				}
			}
		}()
	}
feed:
	for _, e := range todo {
		select {
		case work <- e:
		case <-ctx.Done():
			break feed
		}
	}
	close(work)
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	return ctx.Err()
}

func (h *SourceHasher) digestFile(ctx context.Context, root string, e *treeEntry, cache *digestCache, buf []byte) error {
	if ctx.Err() != nil {
		return nil
	}
	full := filepath.Join(root, filepath.FromSlash(e.rel))
	f, err := h.open(full)
	if err != nil {
		return fmt.Errorf("hashing source file: %w", err)
	}
	defer f.Close()
	sum := sha256.New()
	if _, err := io.CopyBuffer(sum, f, buf); err != nil {
		return fmt.Errorf("hashing source file %s: %w", full, err)
	}
	e.digest = hex.EncodeToString(sum.Sum(nil))
	// A file written while it was read may have a digest of neither version: hash it,
	// but do not remember it.
	if fi, err := os.Lstat(full); err == nil && keyOf(fi) == e.stat {
		cache.store(e.rel, e.stat, e.digest)
	}
	return nil
}

// fileKey is what a cached digest is valid for, like git's index: a file whose size,
// mtime, inode and mode are unchanged is assumed to have unchanged contents.
type fileKey struct {
	Size  int64  `json:"size"`
	MTime int64  `json:"mtime"` // nanoseconds since the epoch
	Inode uint64 `json:"ino"`
	Mode  uint32 `json:"mode"`
}

func keyOf(fi fs.FileInfo) fileKey {
	k := fileKey{Size: fi.Size(), MTime: fi.ModTime().UnixNano(), Mode: uint32(fi.Mode())}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		k.Inode = uint64(st.Ino)
	}
	return k
}

// cacheName is the file holding the digests of one source root.
func cacheName(root string) string {
	sum := sha256.Sum256([]byte(root))
	return "source-" + hex.EncodeToString(sum[:12]) + ".json"
}
