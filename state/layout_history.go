package state

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/urmanac/sovos/internal/grammar"
)

// TagHistory implements Historian: index.json gets an entry named WORKSPACE.v<SERIAL>
// for the manifest at digest, which also keeps its blobs through the clean-up of
// later writes (it keeps whatever index.json names).
func (l *Layout) TagHistory(ctx context.Context, serial uint64, digest string) error {
	return l.locked(true, func() error { return l.tagHistory(serial, digest) })
}

// tagHistory is TagHistory; the caller holds the layout's exclusive lock.
func (l *Layout) tagHistory(serial uint64, digest string) error {
	idx, err := l.index()
	if err != nil {
		return err
	}
	if idx == nil {
		return fmt.Errorf("%s: no layout to tag %s in", l, digest)
	}
	name := HistoryTag(l.workspace, serial)
	var entry *v1.Descriptor
	for i := range idx.Manifests {
		if idx.Manifests[i].Digest.String() == digest {
			entry = &idx.Manifests[i]
			break
		}
	}
	if entry == nil {
		return fmt.Errorf("%s: the state written (%s) is not in index.json any more", l, digest)
	}
	tagged := *entry
	tagged.Annotations = map[string]string{refNameAnnotation: name}
	kept := idx.Manifests[:0]
	for _, m := range idx.Manifests {
		if m.Annotations[refNameAnnotation] != name {
			kept = append(kept, m)
		}
	}
	idx.Manifests = append(kept, tagged)
	out, err := json.MarshalIndent(idx, "", "  ")
	if err != nil {
		return err
	}
	if err := writeFileAtomic(filepath.Join(l.dir, "index.json"), out, 0o644); err != nil {
		return fmt.Errorf("%s: %w", l, err)
	}
	return nil
}

// refNames lists the names of index.json's entries.
func (l *Layout) refNames() (out []string, err error) {
	err = l.locked(false, func() error {
		idx, err := l.index()
		if err != nil || idx == nil {
			return err
		}
		for _, m := range idx.Manifests {
			if n := m.Annotations[refNameAnnotation]; n != "" {
				out = append(out, n)
			}
		}
		return nil
	})
	return out, err
}

// HistorySerials implements Historian.
func (l *Layout) HistorySerials(ctx context.Context) ([]uint64, error) {
	names, err := l.refNames()
	if err != nil {
		return nil, err
	}
	var out []uint64
	for _, n := range names {
		if s, ok := parseHistoryTag(l.workspace, n); ok {
			out = append(out, s)
		}
	}
	return sortSerials(out), nil
}

// ReadHistory implements Historian.
func (l *Layout) ReadHistory(ctx context.Context, serial uint64) (s *State, d string, err error) {
	name := HistoryTag(l.workspace, serial)
	err = l.locked(false, func() error {
		s, d, err = l.readRef(name, fmt.Sprintf("layout %s (%s)", l.dir, name))
		return err
	})
	return s, d, err
}

// Workspaces implements Historian.
func (l *Layout) Workspaces(ctx context.Context) ([]string, error) {
	names, err := l.refNames()
	if err != nil {
		return nil, err
	}
	var out []string
	for _, n := range names {
		if grammar.IsWorkspace(n) {
			out = append(out, n)
		}
	}
	files, err := os.ReadDir(l.dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w", l, err)
	}
	for _, f := range files {
		if ws, ok := lockOwner(f.Name()); ok && !f.IsDir() {
			out = append(out, ws)
		}
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// ForWorkspace implements Historian.
func (l *Layout) ForWorkspace(workspace string) (Historian, error) {
	return NewLayout(l.dir, workspace)
}
