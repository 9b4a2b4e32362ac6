package state

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// refNameAnnotation names an index.json entry in an OCI image layout (the workspace).
const refNameAnnotation = "org.opencontainers.image.ref.name"

// Layout stores a workspace's state in a local OCI image layout directory (default
// .sovos/state): the same artifact as the registry backend, named by the workspace in
// index.json. Its lock is the file DIR/WORKSPACE.lock, created exclusively and held with
// flock(2) for as long as the holder runs, so a crashed holder's lock is recognized as
// stale at once.
type Layout struct {
	dir       string
	workspace string

	mu   sync.Mutex
	lock *os.File // the flocked lock file while this process holds the lock
}

// NewLayout returns the backend storing workspace's state in the layout at dir. The
// directory is created on the first write.
func NewLayout(dir, workspace string) (*Layout, error) {
	if dir == "" {
		return nil, errors.New("state path is empty")
	}
	if err := checkWorkspace(workspace); err != nil {
		return nil, err
	}
	return &Layout{dir: filepath.Clean(dir), workspace: workspace}, nil
}

func (l *Layout) String() string {
	return fmt.Sprintf("layout %s (workspace %s)", l.dir, l.workspace)
}

// Workspace returns the workspace whose state this backend stores.
func (l *Layout) Workspace() string { return l.workspace }

// Dir returns the layout directory.
func (l *Layout) Dir() string { return l.dir }

func (l *Layout) lockPath() string { return filepath.Join(l.dir, l.workspace+".lock") }

// index reads index.json; (nil, nil) when the layout does not exist yet.
func (l *Layout) index() (*v1.IndexManifest, error) {
	raw, err := os.ReadFile(filepath.Join(l.dir, "index.json"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", l, err)
	}
	idx, err := v1.ParseIndexManifest(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("%s: %w: %s/index.json is not an OCI image index: %v", l, ErrNotState, l.dir, err)
	}
	return idx, nil
}

// Read implements Backend.
func (l *Layout) Read(ctx context.Context) (*State, string, error) {
	s, d, err := l.read()
	if errors.Is(err, fs.ErrNotExist) {
		// A concurrent Write replaced index.json and collected the blobs it named
		// between our reads: the new index names blobs that exist.
		s, d, err = l.read()
	}
	return s, d, err
}

func (l *Layout) read() (*State, string, error) {
	return l.readRef(l.workspace, l.String())
}

// readRef reads the state named ref in index.json (the workspace, or one of its history
// entries); where names it in messages.
func (l *Layout) readRef(ref, where string) (*State, string, error) {
	idx, err := l.index()
	if err != nil || idx == nil {
		return nil, "", err
	}
	var desc *v1.Descriptor
	for i := range idx.Manifests {
		if idx.Manifests[i].Annotations[refNameAnnotation] == ref {
			desc = &idx.Manifests[i]
		}
	}
	if desc == nil {
		return nil, "", nil
	}
	p := layout.Path(l.dir)
	raw, err := p.Bytes(desc.Digest)
	if err != nil {
		return nil, "", fmt.Errorf("%s: reading manifest %s: %w", where, desc.Digest, err)
	}
	if got, _, _ := v1.SHA256(bytes.NewReader(raw)); got != desc.Digest {
		return nil, "", corrupt(fmt.Errorf("%s: manifest %s is corrupted: its content has digest %s", where, desc.Digest, got))
	}
	ld, err := parseArtifact(raw, desc.MediaType, ArtifactType, LayerMediaType, where)
	if err != nil {
		return nil, "", err
	}
	rc, err := p.Blob(ld.Digest)
	if err != nil {
		return nil, "", fmt.Errorf("%s: reading layer %s: %w", where, ld.Digest, err)
	}
	data, err := readBlob(rc, ld, where)
	if err != nil {
		return nil, "", err
	}
	s, err := Decode(data, where)
	if err != nil {
		return nil, "", err
	}
	return s, desc.Digest.String(), nil
}

// Write implements Backend: it stores the artifact's blobs, replaces the workspace's
// entry in index.json (atomically, by rename) and removes blobs nothing refers to.
func (l *Layout) Write(ctx context.Context, s *State) (string, error) {
	data, err := Encode(s)
	if err != nil {
		return "", err
	}
	img, err := newArtifact(ArtifactType, LayerMediaType, data)
	if err != nil {
		return "", err
	}
	idx, err := l.index()
	if err != nil {
		return "", err
	}
	p := layout.Path(l.dir)
	if idx == nil {
		if p, err = layout.Write(l.dir, empty.Index); err != nil {
			return "", fmt.Errorf("%s: creating the layout: %w", l, err)
		}
		idx = &v1.IndexManifest{SchemaVersion: 2, MediaType: types.OCIImageIndex}
	}
	if err := p.WriteImage(img); err != nil {
		return "", fmt.Errorf("%s: %w", l, err)
	}
	raw, _ := img.RawManifest()
	d, _ := img.Digest()
	entry := v1.Descriptor{
		MediaType:    types.OCIManifestSchema1,
		Size:         int64(len(raw)),
		Digest:       d,
		ArtifactType: ArtifactType,
		Annotations:  map[string]string{refNameAnnotation: l.workspace},
	}
	kept := idx.Manifests[:0]
	for _, m := range idx.Manifests {
		if m.Annotations[refNameAnnotation] != l.workspace {
			kept = append(kept, m)
		}
	}
	idx.Manifests = append(kept, entry)
	out, err := json.MarshalIndent(idx, "", "  ")
	if err != nil {
		return "", err
	}
	if err := writeFileAtomic(filepath.Join(l.dir, "index.json"), out, 0o644); err != nil {
		return "", fmt.Errorf("%s: %w", l, err)
	}
	// Old states are garbage once index.json no longer names them; a failed clean-up
	// only leaves unreferenced blobs behind, so it is not worth failing the write.
	_ = l.collect(idx)
	return d.String(), nil
}

// collect removes the blobs that no manifest named by idx refers to. It leaves everything
// in place when some entry is not a plain manifest (someone else's content in the
// layout), as it cannot tell what that entry needs.
func (l *Layout) collect(idx *v1.IndexManifest) error {
	p := layout.Path(l.dir)
	keep := map[v1.Hash]bool{}
	for _, desc := range idx.Manifests {
		if desc.MediaType != types.OCIManifestSchema1 {
			return fmt.Errorf("index entry %s is a %s", desc.Digest, desc.MediaType)
		}
		raw, err := p.Bytes(desc.Digest)
		if err != nil {
			return err
		}
		m, err := v1.ParseManifest(bytes.NewReader(raw))
		if err != nil {
			return err
		}
		keep[desc.Digest], keep[m.Config.Digest] = true, true
		for _, ld := range m.Layers {
			keep[ld.Digest] = true
		}
	}
	dir := filepath.Join(l.dir, "blobs", "sha256")
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if !keep[v1.Hash{Algorithm: "sha256", Hex: e.Name()}] {
			os.Remove(filepath.Join(dir, e.Name()))
		}
	}
	return nil
}

// writeFileAtomic replaces name with data, with permissions perm, so that a crash
// leaves the old or the new content, never a truncated file.
func writeFileAtomic(name string, data []byte, perm os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(name), "."+filepath.Base(name)+".*")
	if err != nil {
		return err
	}
	_, werr := f.Write(data)
	if werr == nil {
		werr = f.Sync()
	}
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Chmod(f.Name(), perm)
	}
	if werr == nil {
		werr = os.Rename(f.Name(), name)
	}
	if werr != nil {
		os.Remove(f.Name())
	}
	return werr
}

// ReadLock implements LockReader.
func (l *Layout) ReadLock(ctx context.Context) (*LockInfo, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.readLock()
}

// readLock reads the lock file. Another process may be rewriting it in place (renewal),
// so an unreadable file gets a few more chances before it is reported.
func (l *Layout) readLock() (*LockInfo, error) {
	var err error
	for try := range 5 {
		if try > 0 {
			time.Sleep(20 * time.Millisecond)
		}
		var data []byte
		data, err = os.ReadFile(l.lockPath())
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		var info *LockInfo
		if info, err = decodeLock(data, "lock "+l.lockPath()); err == nil {
			return info, nil
		}
	}
	return nil, err
}

// Lock implements Backend. Locking again with the holder's own ID renews the lock.
func (l *Layout) Lock(ctx context.Context, info *LockInfo) error {
	data, err := encodeLock(info)
	if err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := os.MkdirAll(l.dir, 0o755); err != nil {
		return fmt.Errorf("%s: %w", l, err)
	}
	path := l.lockPath()
	var cur *LockInfo
	// Two rounds: the second runs after removing a stale lock; if another process
	// recreated it in between, it won the race.
	for range 2 {
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
		if err == nil {
			if _, err := tryFlock(f); err != nil {
				f.Close()
				return fmt.Errorf("locking %s: %w", path, err)
			}
			if err := rewrite(f, data); err != nil {
				f.Close()
				os.Remove(path)
				return fmt.Errorf("writing %s: %w", path, err)
			}
			if l.lock != nil {
				l.lock.Close()
			}
			l.lock = f
			return nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("creating %s: %w", path, err)
		}
		cur, _ = l.readLock() // unreadable: being written right now; treated as held
		if cur != nil && cur.ID == info.ID {
			return l.renew(path, data)
		}
		g, err := os.OpenFile(path, os.O_RDWR, 0)
		if errors.Is(err, fs.ErrNotExist) {
			continue // released meanwhile
		}
		if err != nil {
			return fmt.Errorf("opening %s: %w", path, err)
		}
		free, _ := tryFlock(g)
		g.Close()
		if !free && (cur == nil || !cur.expired(time.Now())) {
			return &LockError{Info: cur, Err: fmt.Errorf("%s exists", path)}
		}
		// The holder is gone (its flock died with it) or stopped renewing: take over.
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("removing stale lock %s: %w", path, err)
		}
	}
	return &LockError{Info: cur, Err: errors.New("another process took the lock at the same time")}
}

// Renew implements Renewer: it rewrites the lock file with info's new expiry if the
// lock is still info's.
func (l *Layout) Renew(ctx context.Context, info *LockInfo) error {
	data, err := encodeLock(info)
	if err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	cur, err := l.readLock()
	if err != nil {
		return err
	}
	if cur == nil {
		return &LockError{Err: errReleased}
	}
	if cur.ID != info.ID {
		return &LockError{Info: cur, Err: errors.New("taken over after it expired")}
	}
	return l.renew(l.lockPath(), data)
}

// renew rewrites our own lock file in place: replacing it by rename would drop the
// flock, which lives on the inode.
func (l *Layout) renew(path string, data []byte) error {
	f := l.lock
	if f == nil {
		var err error
		if f, err = os.OpenFile(path, os.O_RDWR, 0); err != nil {
			return fmt.Errorf("renewing %s: %w", path, err)
		}
		defer f.Close()
	}
	if err := rewrite(f, data); err != nil {
		return fmt.Errorf("renewing %s: %w", path, err)
	}
	return nil
}

func rewrite(f *os.File, data []byte) error {
	if _, err := f.WriteAt(data, 0); err != nil {
		return err
	}
	if err := f.Truncate(int64(len(data))); err != nil {
		return err
	}
	return f.Sync()
}

// Unlock implements Backend. Unlocking an unlocked workspace is not an error.
func (l *Layout) Unlock(ctx context.Context, id string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	path := l.lockPath()
	cur, err := l.readLock()
	if err != nil {
		return fmt.Errorf("%w (if no sovos is running, delete the file)", err)
	}
	if cur == nil {
		return nil
	}
	if cur.ID != id {
		return &LockError{Info: cur, Err: fmt.Errorf("lock ID %s does not match the holder's", id)}
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("unlocking: %w", err)
	}
	if l.lock != nil {
		l.lock.Close()
		l.lock = nil
	}
	return nil
}
