package hashing

import (
	"context"
	"fmt"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/urmanac/sovos/internal/oci"
)

// ImageResolver turns image references into manifest digests. A pinned digest never
// costs a request; with Refresh false no request is ever made, as `plan -refresh=false`
// promises (SPEC §4).
type ImageResolver struct {
	// Refresh allows registry lookups.
	Refresh bool
	// Registry makes the lookups (plain HTTP, credentials, deadlines); nil means
	// oci.New().
	Registry *oci.Client
}

// Resolve returns the digest ("sha256:...") of ref. In order: pinnedDigest (the image
// block's digest), a digest inside ref itself (name@sha256:...), the registry when
// Refresh is set, else knownDigest (what the state recorded). Without any of them it
// is an error naming the reference.
func (r *ImageResolver) Resolve(ctx context.Context, ref, pinnedDigest, knownDigest string) (string, error) {
	d, _, err := r.resolve(ctx, ref, pinnedDigest, knownDigest)
	return d, err
}

// Where a digest came from (ImageInput.From).
const (
	digestFromPin      = "pin"
	digestFromState    = "state"
	digestFromRegistry = "registry"
)

func (r *ImageResolver) resolve(ctx context.Context, ref, pinnedDigest, knownDigest string) (digest, from string, err error) {
	parsed, err := r.parse(ref)
	if err != nil {
		return "", "", err
	}
	if pinnedDigest != "" {
		if _, err := v1.NewHash(pinnedDigest); err != nil {
			return "", "", fmt.Errorf("image %s: digest %q is not a valid digest (expected sha256:<64 hex digits>)", ref, pinnedDigest)
		}
		if d, ok := parsed.(name.Digest); ok && d.DigestStr() != pinnedDigest {
			return "", "", fmt.Errorf("image %s: the reference names digest %s but the pinned digest is %s", ref, d.DigestStr(), pinnedDigest)
		}
		return pinnedDigest, digestFromPin, nil
	}
	if d, ok := parsed.(name.Digest); ok {
		return d.DigestStr(), digestFromPin, nil
	}
	if !r.Refresh {
		if knownDigest != "" {
			return knownDigest, digestFromState, nil
		}
		return "", "", fmt.Errorf("image %s has no pinned digest and none is recorded in the state, and -refresh=false forbids asking the registry: pin it with digest = \"sha256:...\" or plan with -refresh=true", ref)
	}
	d, err := r.registry().Digest(ctx, parsed)
	if err != nil {
		return "", "", fmt.Errorf("resolving image %s: %w", ref, err)
	}
	return d.String(), digestFromRegistry, nil
}

func (r *ImageResolver) registry() *oci.Client {
	if r.Registry == nil {
		return oci.New()
	}
	return r.Registry
}

// parse reads ref (as plain HTTP when its registry is in insecure_registries).
func (r *ImageResolver) parse(ref string) (name.Reference, error) {
	parsed, err := r.registry().ParseReference(ref)
	if err != nil {
		return nil, fmt.Errorf("image reference %q: %w", ref, err)
	}
	return parsed, nil
}
