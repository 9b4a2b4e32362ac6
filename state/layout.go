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

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// refNameAnnotation names an index.json entry in an OCI image layout (the workspace).
const refNameAnnotation = "org.opencontainers.image.ref.name"

// Layout stores a workspace's state in a local OCI image layout directory (default
// .sovos/state): the same artifact as the registry backend, named by the workspace in
// index.json. Several workspaces share one layout, so every read-modify-write of
// index.json and its clean-up of unreferenced blobs runs under one exclusive file lock
// on the whole layout (DIR/index.json.lock, flock(2)); reads take it shared. The
// workspace lock is the file DIR/WORKSPACE.lock, created exclusively and held with
// flock(2) for as long as the holder runs: a lock file whose flock is held is never
// taken over, and one whose holder died is taken over at once.
type Layout struct {
	dir       string
	workspace string
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

// layoutLockName is the file whose flock guards index.json and the blobs. Workspace names
// have no '.', so no workspace's lock file can have this name.
const layoutLockName = "index.json.lock"

// locked runs fn holding the layout's file lock, exclusive or shared. A reader of a
// layout that does not exist, or that it may not write to, reads without it.
func (l *Layout) locked(exclusive bool, fn func() error) error {
	if exclusive {
		if err := os.MkdirAll(l.dir, 0o755); err != nil {
			return fmt.Errorf("%s: %w", l, err)
		}
	}
	f, err := os.OpenFile(filepath.Join(l.dir, layoutLockName), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		if !exclusive && (errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission)) {
			return fn()
		}
		return fmt.Errorf("%s: locking the layout: %w", l, err)
	}
	defer f.Close() // closing the file releases its flock
	if err := flock(f, exclusive); err != nil {
		return fmt.Errorf("%s: locking the layout: %w", l, err)
	}
	return fn()
}

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

// Read implements Backend. A blob that index.json names but the layout lacks is
// corruption (ErrCorrupt): writers hold the layout's lock, so it is not a write in
// progress.
func (l *Layout) Read(ctx context.Context) (s *State, d string, err error) {
	err = l.locked(false, func() error {
		s, d, err = l.read()
		return err
	})
	return s, d, err
}

// entry returns the index.json entry named ref (the workspace, or one of its history
// entries), nil when there is none.
func (l *Layout) entry(ref string) (*v1.Descriptor, error) {
	idx, err := l.index()
	if err != nil || idx == nil {
		return nil, err
	}
	var desc *v1.Descriptor
	for i := range idx.Manifests {
		if idx.Manifests[i].Annotations[refNameAnnotation] == ref {
			desc = &idx.Manifests[i]
		}
	}
	return desc, nil
}

// digest returns the digest of the workspace's state ("" when there is none), under the
// layout's shared lock.
func (l *Layout) digest() (d string, err error) {
	err = l.locked(false, func() error {
		desc, err := l.entry(l.workspace)
		if desc != nil {
			d = desc.Digest.String()
		}
		return err
	})
	return d, err
}

func (l *Layout) read() (*State, string, error) {
	return l.readRef(l.workspace, l.String())
}

// readRef reads the state named ref in index.json (the workspace, or one of its history
// entries); where names it in messages. The caller holds the layout's lock.
func (l *Layout) readRef(ref, where string) (*State, string, error) {
	desc, err := l.entry(ref)
	if err != nil || desc == nil {
		return nil, "", err
	}
	p := layout.Path(l.dir)
	raw, err := p.Bytes(desc.Digest)
	if err != nil {
		return nil, "", missing(fmt.Errorf("%s: reading manifest %s: %w", where, desc.Digest, err))
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
		return nil, "", missing(fmt.Errorf("%s: reading layer %s: %w", where, ld.Digest, err))
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
// entry in index.json (atomically, by rename) and removes blobs nothing refers to, all
// under the layout's exclusive lock.
func (l *Layout) Write(ctx context.Context, s *State) (d string, err error) {
	err = l.locked(true, func() error {
		d, err = l.write(s, nil)
		return err
	})
	return d, err
}

// write stores s; check, when not nil, is called with the current entry's digest ("" for
// none) before anything is written, and stops the write when it fails. The caller holds
// the layout's exclusive lock.
func (l *Layout) write(s *State, check func(cur string) error) (string, error) {
	img, d, err := stateArtifact(s)
	if err != nil {
		return "", err
	}
	idx, err := l.index()
	if err != nil {
		return "", err
	}
	if check != nil {
		cur := ""
		if idx != nil {
			for _, m := range idx.Manifests {
				if m.Annotations[refNameAnnotation] == l.workspace {
					cur = m.Digest.String()
				}
			}
		}
		if err := check(cur); err != nil {
			return "", err
		}
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
	h, _ := v1.NewHash(d)
	entry := v1.Descriptor{
		MediaType:    types.OCIManifestSchema1,
		Size:         int64(len(raw)),
		Digest:       h,
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
	return d, nil
}

// missing marks a blob the layout lacks as corruption, so that the CLI points at
// `state push -force`; other read errors are left as they are.
func missing(err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return corrupt(err)
	}
	return err
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
