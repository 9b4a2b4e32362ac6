package state

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/urmanac/sovos/internal/oci"
)

// Registry stores a workspace's state as an OCI artifact in a registry repository, tagged
// with the workspace name, and its lock at the tag WORKSPACE.lock (SPEC §7).
//
// Registries offer no compare-and-swap on tags, so locking is best effort: Lock writes
// its lock, waits a moment, reads it back and gives up if another writer's lock is there.
// Two sovos processes racing within that moment can both believe they hold the lock; the
// holder re-reads the lock before every state write (Held.Check), which narrows, but does
// not close, that window. Run one apply per workspace at a time (CI concurrency groups).
type Registry struct {
	repo      name.Repository
	tag       name.Tag
	lockTag   name.Tag
	workspace string
	settle    time.Duration
	client    *oci.Client
}

// RegistryOption configures NewRegistry.
type RegistryOption func(*registryOptions)

type registryOptions struct {
	client *oci.Client
	settle time.Duration
}

// WithClient makes the registry calls with c, which decides plain HTTP
// (insecure_registries), credentials, deadlines and retries. The default is oci.New():
// HTTPS only, the Docker config's credentials, the default deadline.
func WithClient(c *oci.Client) RegistryOption {
	return func(o *registryOptions) { o.client = c }
}

// WithLockSettle sets how long Lock waits between writing its lock and reading it back
// (default half a second): the longer, the likelier a concurrent writer's lock has landed
// and is seen.
func WithLockSettle(d time.Duration) RegistryOption {
	return func(o *registryOptions) { o.settle = d }
}

// NewRegistry returns the backend storing workspace's state in repo ("ghcr.io/x/state").
func NewRegistry(repo, workspace string, opts ...RegistryOption) (*Registry, error) {
	o := registryOptions{settle: 500 * time.Millisecond}
	for _, opt := range opts {
		opt(&o)
	}
	if o.client == nil {
		o.client = oci.New()
	}
	if err := checkWorkspace(workspace); err != nil {
		return nil, err
	}
	r, err := o.client.NewRepository(repo)
	if err != nil {
		return nil, fmt.Errorf("state registry %q is not a valid repository (want REGISTRY/PATH, without tag or digest): %w", repo, err)
	}
	return &Registry{
		repo:      r,
		tag:       r.Tag(workspace),
		lockTag:   r.Tag(workspace + ".lock"),
		workspace: workspace,
		settle:    o.settle,
		client:    o.client,
	}, nil
}

// checkWorkspace makes sure the workspace name can be a tag, with room for ".lock".
func checkWorkspace(ws string) error {
	if !tagRE.MatchString(ws) || len(ws) > 128-len(".lock") {
		return fmt.Errorf("workspace %q is not usable: it must be a valid OCI tag (letters, digits, '_', '.', '-', not starting with '.' or '-', at most 123 characters)", ws)
	}
	return nil
}

func (r *Registry) String() string { return "registry " + r.tag.String() }

// Workspace returns the workspace whose state this backend stores.
func (r *Registry) Workspace() string { return r.workspace }

// Repository returns the repository holding the state.
func (r *Registry) Repository() name.Repository { return r.repo }

// puller shares one ping and token between the manifest and blob requests of a read.
// It is made per operation: a Puller remembers a failed ping forever.
func (r *Registry) puller(ctx context.Context) (*remote.Puller, error) {
	p, err := r.client.NewPuller(ctx)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", r, err)
	}
	return p, nil
}

// get fetches the manifest at tag; (nil, nil) when there is none. Only the registry's
// 404 for that manifest, after its /v2/ check answered, means "none": anything else
// (an address without a registry, a failing or silent registry, no access) is an
// error, never an empty state that an apply would start a new lineage over.
func (r *Registry) get(ctx context.Context, p *remote.Puller, tag name.Tag) (*remote.Descriptor, error) {
	desc, err := p.Get(ctx, tag)
	if oci.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		what := r.String()
		if tag != r.tag {
			what = tag.String()
		}
		return nil, fmt.Errorf("%s: %w", what, oci.Explain(err))
	}
	return desc, nil
}

// fetch reads the single layer of the artifact at tag, checking its type.
func (r *Registry) fetch(ctx context.Context, p *remote.Puller, desc *remote.Descriptor, artifactType string, layerType types.MediaType, where string) ([]byte, error) {
	ld, err := parseArtifact(desc.Manifest, desc.MediaType, artifactType, layerType, where)
	if err != nil {
		return nil, err
	}
	layer, err := p.Layer(ctx, r.repo.Digest(ld.Digest.String()))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", where, oci.Explain(err))
	}
	rc, err := layer.Compressed()
	if err != nil {
		return nil, fmt.Errorf("%s: fetching layer %s: %w", where, ld.Digest, err)
	}
	return readBlob(rc, ld, where)
}

// Read implements Backend.
func (r *Registry) Read(ctx context.Context) (*State, string, error) {
	return r.readTag(ctx, r.tag, r.String())
}

// readTag reads the state at tag (the workspace's, or one of its history tags); where
// names it in messages.
func (r *Registry) readTag(ctx context.Context, tag name.Tag, where string) (*State, string, error) {
	p, err := r.puller(ctx)
	if err != nil {
		return nil, "", err
	}
	desc, err := r.get(ctx, p, tag)
	if err != nil || desc == nil {
		return nil, "", err
	}
	data, err := r.fetch(ctx, p, desc, ArtifactType, LayerMediaType, where)
	if err != nil {
		return nil, "", err
	}
	s, err := Decode(data, where)
	if err != nil {
		return nil, "", err
	}
	d, _, err := v1.SHA256(bytes.NewReader(desc.Manifest))
	if err != nil {
		return nil, "", err
	}
	return s, d.String(), nil
}

// Write implements Backend.
func (r *Registry) Write(ctx context.Context, s *State) (string, error) {
	data, err := Encode(s)
	if err != nil {
		return "", err
	}
	return r.put(ctx, r.tag, ArtifactType, LayerMediaType, data)
}

func (r *Registry) put(ctx context.Context, tag name.Tag, artifactType string, layerType types.MediaType, data []byte) (string, error) {
	img, err := newArtifact(artifactType, layerType, data)
	if err != nil {
		return "", err
	}
	if err := r.client.Write(ctx, tag, img); err != nil {
		return "", fmt.Errorf("writing %s: %w", tag, err)
	}
	d, err := img.Digest()
	if err != nil {
		return "", err
	}
	return d.String(), nil
}

// ReadLock implements LockReader: nil when the lock tag is absent or points at the
// released marker.
func (r *Registry) ReadLock(ctx context.Context) (*LockInfo, error) {
	p, err := r.puller(ctx)
	if err != nil {
		return nil, err
	}
	return r.readLock(ctx, p)
}

func (r *Registry) readLock(ctx context.Context, p *remote.Puller) (*LockInfo, error) {
	desc, err := r.get(ctx, p, r.lockTag)
	if err != nil || desc == nil {
		return nil, err
	}
	where := "lock " + r.lockTag.String()
	if m, err := v1.ParseManifest(bytes.NewReader(desc.Manifest)); err == nil && m.ArtifactType == ReleasedArtifactType {
		return nil, nil
	}
	data, err := r.fetch(ctx, p, desc, LockArtifactType, LockLayerMediaType, where)
	if err != nil {
		return nil, err
	}
	return decodeLock(data, where)
}

// Lock implements Backend. Locking again with the holder's own ID renews the lock.
func (r *Registry) Lock(ctx context.Context, info *LockInfo) error {
	p, err := r.puller(ctx)
	if err != nil {
		return err
	}
	cur, err := r.readLock(ctx, p)
	if err != nil {
		return err
	}
	if cur != nil && cur.ID != info.ID && !cur.expired(time.Now()) {
		return &LockError{Info: cur, Err: errors.New("held by another process")}
	}
	return r.writeLock(ctx, p, info)
}

// Renew implements Renewer: it rewrites the lock with info's new expiry if the lock is
// still info's.
func (r *Registry) Renew(ctx context.Context, info *LockInfo) error {
	p, err := r.puller(ctx)
	if err != nil {
		return err
	}
	cur, err := r.readLock(ctx, p)
	if err != nil {
		return err
	}
	if cur == nil {
		return &LockError{Err: errReleased}
	}
	if cur.ID != info.ID {
		return &LockError{Info: cur, Err: errors.New("taken over after it expired")}
	}
	return r.writeLock(ctx, p, info)
}

// writeLock writes info at the lock tag, waits for the settle time and reads it back:
// the only defence against a concurrent writer that registries allow.
func (r *Registry) writeLock(ctx context.Context, p *remote.Puller, info *LockInfo) error {
	data, err := encodeLock(info)
	if err != nil {
		return err
	}
	if _, err := r.put(ctx, r.lockTag, LockArtifactType, LockLayerMediaType, data); err != nil {
		return fmt.Errorf("taking the state lock: %w", err)
	}
	if r.settle > 0 {
		t := time.NewTimer(r.settle)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
	back, err := r.readLock(ctx, p)
	if err != nil {
		return fmt.Errorf("reading back the state lock: %w", err)
	}
	if back == nil || back.ID != info.ID {
		return &LockError{Info: back, Err: errors.New("another process wrote the lock at the same time")}
	}
	return nil
}

// Unlock implements Backend: it re-points the lock tag at the released marker, because
// some registries (GHCR) refuse to delete tags. Unlocking an unlocked workspace is not an
// error.
func (r *Registry) Unlock(ctx context.Context, id string) error {
	cur, err := r.ReadLock(ctx)
	if err != nil {
		return err
	}
	if cur == nil {
		return nil
	}
	if cur.ID != id {
		return &LockError{Info: cur, Err: fmt.Errorf("lock ID %s does not match the holder's", id)}
	}
	if _, err := r.put(ctx, r.lockTag, ReleasedArtifactType, types.OCIEmptyJSON, emptyJSON); err != nil {
		return fmt.Errorf("releasing the state lock: %w", err)
	}
	return nil
}
