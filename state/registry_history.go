package state

import (
	"context"
	"fmt"
	"slices"

	"github.com/urmanac/sovos/internal/grammar"
	"github.com/urmanac/sovos/internal/oci"
)

// TagHistory implements Historian: the state manifest at digest is tagged
// WORKSPACE.v<SERIAL> as well (the manifest is re-put; no blob moves).
func (r *Registry) TagHistory(ctx context.Context, serial uint64, digest string) error {
	desc, err := r.client.Get(ctx, r.repo.Digest(digest))
	if err != nil {
		return fmt.Errorf("%s: reading the state written (%s): %w", r, digest, err)
	}
	tag := r.repo.Tag(HistoryTag(r.workspace, serial))
	if err := r.client.Tag(ctx, tag, desc); err != nil {
		return fmt.Errorf("writing %s: %w", tag, err)
	}
	return nil
}

// tags lists the state repository's tags; none when the repository does not exist yet.
func (r *Registry) tags(ctx context.Context) ([]string, error) {
	p, err := r.puller(ctx)
	if err != nil {
		return nil, err
	}
	tags, err := p.List(ctx, r.repo)
	if oci.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("listing the tags of %s: %w", r.repo, oci.Explain(err))
	}
	return tags, nil
}

// HistorySerials implements Historian.
func (r *Registry) HistorySerials(ctx context.Context) ([]uint64, error) {
	tags, err := r.tags(ctx)
	if err != nil {
		return nil, err
	}
	var out []uint64
	for _, t := range tags {
		if n, ok := parseHistoryTag(r.workspace, t); ok {
			out = append(out, n)
		}
	}
	return sortSerials(out), nil
}

// ReadHistory implements Historian.
func (r *Registry) ReadHistory(ctx context.Context, serial uint64) (*State, string, error) {
	return r.readTag(ctx, r.repo.Tag(HistoryTag(r.workspace, serial)), "registry "+r.repo.Tag(HistoryTag(r.workspace, serial)).String())
}

// Workspaces implements Historian: the tags of the state repository that are workspace
// names (history and lock tags have a '.'), and the workspaces of the lock tags.
func (r *Registry) Workspaces(ctx context.Context) ([]string, error) {
	tags, err := r.tags(ctx)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, t := range tags {
		if grammar.IsWorkspace(t) {
			out = append(out, t)
		} else if ws, ok := lockOwner(t); ok {
			out = append(out, ws)
		}
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// ForWorkspace implements Historian.
func (r *Registry) ForWorkspace(workspace string) (Historian, error) {
	return NewRegistry(r.repo.String(), workspace, WithClient(r.client), WithLockSettle(r.settle))
}
