package hashing

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
)

// digestCacheVersion guards the cache file format; a file of another version is
// ignored (and rewritten), never misread.
const digestCacheVersion = 1

type cacheEntry struct {
	fileKey
	Digest string `json:"sha256"`
}

type cacheFile struct {
	Version int                   `json:"version"`
	Root    string                `json:"root"`
	Entries map[string]cacheEntry `json:"entries"`
}

// digestCache is one source root's file digests: those loaded from the cache file and
// those of this run, which replace the file when they differ.
type digestCache struct {
	mu sync.Mutex
	// trustedBefore is the cache file's own mtime. As in git's index ("racy git"), an
	// entry whose file mtime is not older than the moment the cache was written may
	// have been modified again within the same timestamp tick after it was hashed:
	// such an entry is re-hashed instead of trusted.
	trustedBefore int64
	old           map[string]cacheEntry
	cur           map[string]cacheEntry
	dirty         bool
}

func (c *digestCache) lookup(rel string, k fileKey) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.old[rel]
	if !ok || e.fileKey != k || k.MTime >= c.trustedBefore {
		return "", false
	}
	c.cur[rel] = e
	return e.Digest, true
}

func (c *digestCache) store(rel string, k fileKey, digest string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cur[rel] = cacheEntry{fileKey: k, Digest: digest}
	c.dirty = true
}

// loadCache reads root's cache file; a missing, unreadable or foreign one is an empty
// cache, since the cache only ever saves time.
func (h *SourceHasher) loadCache(root string) *digestCache {
	c := &digestCache{cur: map[string]cacheEntry{}}
	if h.cacheDir == "" {
		return c
	}
	name := filepath.Join(h.cacheDir, cacheName(root))
	f, err := os.Open(name)
	if err != nil {
		return c
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return c
	}
	var cf cacheFile
	if err := json.NewDecoder(f).Decode(&cf); err != nil || cf.Version != digestCacheVersion || cf.Root != root {
		return c
	}
	c.old = cf.Entries
	c.trustedBefore = fi.ModTime().UnixNano()
	return c
}

// saveCache writes the digests of this run atomically (temporary file and rename), so a
// concurrent or interrupted run never leaves a torn cache behind.
func (h *SourceHasher) saveCache(root string, c *digestCache) error {
	if h.cacheDir == "" || (!c.dirty && len(c.cur) == len(c.old)) {
		return nil
	}
	if err := os.MkdirAll(h.cacheDir, 0o755); err != nil {
		return fmt.Errorf("source digest cache: %w", err)
	}
	tmp, err := os.CreateTemp(h.cacheDir, ".source-*.tmp")
	if err != nil {
		return fmt.Errorf("source digest cache: %w", err)
	}
	defer os.Remove(tmp.Name()) // after a successful rename there is nothing to remove
	err = json.NewEncoder(tmp).Encode(cacheFile{Version: digestCacheVersion, Root: root, Entries: c.cur})
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("source digest cache: %w", err)
	}
	if err := os.Rename(tmp.Name(), filepath.Join(h.cacheDir, cacheName(root))); err != nil {
		return fmt.Errorf("source digest cache: %w", err)
	}
	return nil
}
