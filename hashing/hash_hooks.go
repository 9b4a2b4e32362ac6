package hashing

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/urmanac/sovos/config"
	"github.com/urmanac/sovos/internal/oci"
)

// HasherOptions configure a Hasher.
type HasherOptions struct {
	// CacheDir holds the file digest cache of path sources (.sovos/cache); empty
	// disables it.
	CacheDir string
	// Refresh allows registry lookups for unpinned images (plan -refresh).
	Refresh bool
	// KnownDigests maps an image resource's address to the digest the state recorded;
	// with Refresh false it is where unpinned images get their digest.
	KnownDigests map[string]string
	// Registry resolves unpinned images; nil means oci.New().
	Registry *oci.Client
}

// SourceInput records what a source's hash was computed from, so the planner can say
// why a source changed ("commit 0123abcd -> 89ab4567") and the state can keep it.
type SourceInput struct {
	Kind   string // "git" or "path"
	URL    string // git
	Ref    string // git, informational
	Commit string // git
	Subdir string // git
	Path   string // path: absolute directory
	Hash   string
}

// ImageInput records how an image's digest was obtained.
type ImageInput struct {
	Ref    string
	Digest string
	// From is "pin" (the image block's digest or the reference itself), "state"
	// (-refresh=false, recorded digest) or "registry".
	From string
}

// Hasher implements config.Hooks: it hashes sources, resolves images and hashes
// resources while the configuration is evaluated, and remembers the inputs of each so
// that reasons can be given later. It is safe for concurrent use. Its errors do not
// repeat the resource's address: the evaluator's diagnostic already names it.
type Hasher struct {
	sources *SourceHasher
	images  *ImageResolver
	known   map[string]string

	mu      sync.Mutex
	srcInfo map[string]SourceInput
	imgInfo map[string]ImageInput
}

var _ config.Hooks = (*Hasher)(nil)

// NewHasher returns a Hasher with the given options.
func NewHasher(opts HasherOptions) *Hasher {
	if opts.Registry == nil {
		opts.Registry = oci.New()
	}
	return &Hasher{
		sources: NewSourceHasher(opts.CacheDir),
		images:  &ImageResolver{Refresh: opts.Refresh, Registry: opts.Registry},
		known:   opts.KnownDigests,
		srcInfo: map[string]SourceInput{},
		imgInfo: map[string]ImageInput{},
	}
}

// SourceHash implements config.Hooks.
func (h *Hasher) SourceHash(ctx context.Context, r *config.Resource) (string, error) {
	s := r.Source
	if s == nil {
		return "", fmt.Errorf("%s is not a source", r.Addr)
	}
	in := SourceInput{URL: s.Git, Ref: s.Ref, Commit: s.Commit, Subdir: s.Subdir, Path: s.Path}
	switch {
	case s.Git != "":
		if s.Commit == "" {
			return "", errors.New("a git source needs commit, the pin that is hashed")
		}
		in.Kind = "git"
		in.Hash = h.sources.HashGit(s.Commit, s.Subdir)
	case s.Path != "":
		in.Kind = "path"
		hash, err := h.sources.HashPath(ctx, s.Path)
		if err != nil {
			return "", err
		}
		in.Hash = hash
	default:
		return "", errors.New("a source needs git or path")
	}
	h.mu.Lock()
	h.srcInfo[r.Addr.String()] = in
	h.mu.Unlock()
	return in.Hash, nil
}

// ImageDigest implements config.Hooks.
func (h *Hasher) ImageDigest(ctx context.Context, r *config.Resource) (string, error) {
	im := r.Image
	if im == nil {
		return "", fmt.Errorf("%s is not an image", r.Addr)
	}
	addr := r.Addr.String()
	known := h.known[addr]
	d, from, err := h.images.resolve(ctx, im.Ref, im.Digest, known)
	if err != nil {
		return "", err
	}
	h.mu.Lock()
	h.imgInfo[addr] = ImageInput{Ref: im.Ref, Digest: d, From: from}
	h.mu.Unlock()
	return d, nil
}

// ResourceHash implements config.Hooks.
func (h *Hasher) ResourceHash(r *config.Resource, deps map[string]string) (string, error) {
	return ResourceHash(r.Addr.Type, r.Platform, r.HashedAttrs, deps)
}

// ContentTag implements config.Hooks: the evaluator never cuts a tag itself.
func (h *Hasher) ContentTag(hash string) string { return ContentTag(hash) }

// SourceInfo returns what the source at addr was hashed from, once SourceHash has run.
func (h *Hasher) SourceInfo(addr string) (SourceInput, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	in, ok := h.srcInfo[addr]
	return in, ok
}

// ImageInfo returns how the image at addr was resolved, once ImageDigest has run.
func (h *Hasher) ImageInfo(addr string) (ImageInput, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	in, ok := h.imgInfo[addr]
	return in, ok
}
