package hashing

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// ImageResolver turns image references into manifest digests. A pinned digest never
// costs a request; with Refresh false no request is ever made, as `plan -refresh=false`
// promises (SPEC §4).
type ImageResolver struct {
	// Refresh allows registry lookups.
	Refresh bool
	// Insecure lists registry hosts ("127.0.0.1:5000") spoken to over plain HTTP.
	Insecure []string
	// Keychain defaults to authn.DefaultKeychain (the Docker config and its helpers).
	Keychain authn.Keychain
	// Transport defaults to remote.DefaultTransport.
	Transport http.RoundTripper
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
	opts := []remote.Option{remote.WithContext(ctx), remote.WithAuthFromKeychain(r.keychain())}
	if r.Transport != nil {
		opts = append(opts, remote.WithTransport(r.Transport))
	}
	desc, err := remote.Head(parsed, opts...)
	if err == nil {
		return desc.Digest.String(), digestFromRegistry, nil
	}
	// Some registries answer HEAD without a digest header or not at all; a GET of the
	// manifest works everywhere. A network failure would only fail twice, so it is
	// reported at once.
	var terr *transport.Error
	if !errors.As(err, &terr) || ctx.Err() != nil {
		return "", "", imageError(ref, err)
	}
	got, gerr := remote.Get(parsed, opts...)
	if gerr != nil {
		return "", "", imageError(ref, gerr)
	}
	return got.Digest.String(), digestFromRegistry, nil
}

func imageError(ref string, err error) error {
	var nerr net.Error
	var operr *net.OpError
	if errors.As(err, &operr) || errors.As(err, &nerr) {
		return fmt.Errorf("resolving image %s: registry unreachable: %w", ref, err)
	}
	return fmt.Errorf("resolving image %s: %w", ref, err)
}

func (r *ImageResolver) keychain() authn.Keychain {
	if r.Keychain != nil {
		return r.Keychain
	}
	return authn.DefaultKeychain
}

// parse reads ref, as plain HTTP when its registry is listed in Insecure.
func (r *ImageResolver) parse(ref string) (name.Reference, error) {
	parsed, err := name.ParseReference(ref)
	if err != nil {
		return nil, fmt.Errorf("image reference %q: %w", ref, err)
	}
	if slices.Contains(r.Insecure, parsed.Context().RegistryStr()) {
		if parsed, err = name.ParseReference(ref, name.Insecure); err != nil {
			return nil, fmt.Errorf("image reference %q: %w", ref, err)
		}
	}
	return parsed, nil
}
