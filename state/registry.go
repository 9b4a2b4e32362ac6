package state

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/urmanac/sovos/internal/grammar"
	"github.com/urmanac/sovos/internal/oci"
)

// Registry stores a workspace's state as an OCI artifact in a registry repository,
// tagged with the workspace name (SPEC §7). Its lock is the protocol of registry_lock.go:
// each attempt pushes its own tag WORKSPACE.lock.<unix-ms>.<random>, waits the settle
// delay, lists the lock tags and backs off if another live lock is there.
type Registry struct {
	repo      name.Repository
	tag       name.Tag
	workspace string
	settle    time.Duration
	client    *oci.Client

	// seen is this process's memory of the lock tags it observed, for staleness: a
	// lock whose digest has not changed for one TTL on this observer's monotonic clock
	// is stale.
	seenMu sync.Mutex
	seen   map[string]sighting
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

// WithLockSettle sets the settle delay S between a lock attempt's PUT returning and its
// listing of the lock tags (default DefaultLockSettle, SOVOS_LOCK_SETTLE). It must be at
// least how late the registry's tag list may be: two contenders are told apart only if
// the later one's listing sees the earlier one's tag.
func WithLockSettle(d time.Duration) RegistryOption {
	return func(o *registryOptions) { o.settle = d }
}

// NewRegistry returns the backend storing workspace's state in repo ("ghcr.io/x/state").
func NewRegistry(repo, workspace string, opts ...RegistryOption) (*Registry, error) {
	o := registryOptions{settle: DefaultLockSettle}
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
		workspace: workspace,
		settle:    o.settle,
		client:    o.client,
		seen:      map[string]sighting{},
	}, nil
}

// checkWorkspace makes sure the workspace name is one SPEC §12 allows.
func checkWorkspace(ws string) error {
	if !grammar.IsWorkspace(ws) {
		return fmt.Errorf("workspace %q is not usable: a workspace name is 1 to 64 letters, digits, '_' or '-' (its state and lock tags derive from it)", ws)
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
	img, d, err := stateArtifact(s)
	if err != nil {
		return "", err
	}
	if err := r.client.Write(ctx, r.tag, img); err != nil {
		return "", fmt.Errorf("writing %s: %w", r.tag, err)
	}
	return d, nil
}
