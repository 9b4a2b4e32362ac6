package oci

import (
	"context"
	"fmt"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// The calls below are go-containerregistry's remote functions made with the client's
// options, their errors passed through Explain.

// Get fetches the manifest ref names (remote.Get).
func (c *Client) Get(ctx context.Context, ref name.Reference, extra ...remote.Option) (*remote.Descriptor, error) {
	d, err := remote.Get(ref, c.Options(ctx, extra...)...)
	return d, Explain(err)
}

// Head fetches the descriptor of the manifest ref names without its body (remote.Head).
func (c *Client) Head(ctx context.Context, ref name.Reference, extra ...remote.Option) (*v1.Descriptor, error) {
	d, err := remote.Head(ref, c.Options(ctx, extra...)...)
	return d, Explain(err)
}

// Digest returns the digest of the manifest ref names, as `crane digest` does: that of
// a HEAD (for a multi-platform image, the index's), or of a GET where the registry
// answers HEAD without a digest or refuses it. A HEAD that found nothing (IsNotFound),
// a registry that cannot be spoken to (the client's own errors) and a cancelled ctx
// are reported at once: a GET would only fail again.
func (c *Client) Digest(ctx context.Context, ref name.Reference) (v1.Hash, error) {
	desc, err := c.Head(ctx, ref)
	if err == nil {
		return desc.Digest, nil
	}
	if IsNotFound(err) || ownError(err) || ctx.Err() != nil {
		return v1.Hash{}, err
	}
	got, err := c.Get(ctx, ref)
	if err != nil {
		return v1.Hash{}, err
	}
	return got.Digest, nil
}

// Image returns the image ref names; for an index, the manifest of platform
// ("linux/arm64"). With platform "", an index holding one image (a single-platform
// build with its attestation manifests, as BuildKit pushes it) gives that image, and
// any other index go-containerregistry's default, linux/amd64.
func (c *Client) Image(ctx context.Context, ref name.Reference, platform string) (v1.Image, error) {
	if platform == "" {
		img, desc, err := c.soleImage(ctx, ref)
		if img != nil || err != nil {
			return img, err
		}
		img, err = desc.Image()
		return img, Explain(err)
	}
	p, err := v1.ParsePlatform(platform)
	if err != nil {
		return nil, fmt.Errorf("platform %q: %w", platform, err)
	}
	img, err := remote.Image(ref, c.Options(ctx, remote.WithPlatform(*p))...)
	return img, Explain(err)
}

// ImageInItsOwnPlatform is Image for a program that runs in the architecture it is
// built for (a profile's imager, native or emulated): an index holding one image gives
// that image whatever its platform; a multi-platform one, the image of platform.
func (c *Client) ImageInItsOwnPlatform(ctx context.Context, ref name.Reference, platform string) (v1.Image, error) {
	img, _, err := c.soleImage(ctx, ref)
	if img != nil || err != nil {
		return img, err
	}
	return c.Image(ctx, ref, platform)
}

// soleImage returns the image ref names when it is one, or an index holding one image
// besides its attestation manifests; for an index of several images, no image and the
// descriptor read.
func (c *Client) soleImage(ctx context.Context, ref name.Reference) (v1.Image, *remote.Descriptor, error) {
	desc, err := c.Get(ctx, ref)
	if err != nil {
		return nil, nil, err
	}
	if !desc.MediaType.IsIndex() {
		img, err := desc.Image()
		return img, desc, Explain(err)
	}
	idx, err := desc.ImageIndex()
	if err != nil {
		return nil, nil, Explain(err)
	}
	d, ok, err := OnlyImage(idx)
	if err != nil || !ok {
		return nil, desc, Explain(err)
	}
	img, err := idx.Image(d)
	return img, desc, Explain(err)
}

// OnlyImage returns the digest of the one image an index holds besides attestation
// manifests (BuildKit's provenance: platform unknown/unknown, annotated
// vnd.docker.reference.type), and false when it holds none or several.
func OnlyImage(idx v1.ImageIndex) (v1.Hash, bool, error) {
	im, err := idx.IndexManifest()
	if err != nil {
		return v1.Hash{}, false, err
	}
	var found []v1.Hash
	for _, m := range im.Manifests {
		if IsAttestationManifest(m) || !m.MediaType.IsImage() {
			continue
		}
		found = append(found, m.Digest)
	}
	if len(found) != 1 {
		return v1.Hash{}, false, nil
	}
	return found[0], true, nil
}

// IsAttestationManifest reports whether an index entry is an attestation manifest
// (BuildKit's provenance) rather than an image of a platform.
func IsAttestationManifest(d v1.Descriptor) bool {
	if d.Annotations["vnd.docker.reference.type"] == "attestation-manifest" {
		return true
	}
	return d.Platform != nil && d.Platform.OS == "unknown" && d.Platform.Architecture == "unknown"
}

// Layer returns the blob at ref (remote.Layer); reading it is subject to the client's
// deadlines.
func (c *Client) Layer(ctx context.Context, ref name.Digest) (v1.Layer, error) {
	l, err := remote.Layer(ref, c.Options(ctx)...)
	return l, Explain(err)
}

// Referrers lists the manifests referring to d (remote.Referrers), through the
// referrers API or its tag-schema fallback.
func (c *Client) Referrers(ctx context.Context, d name.Digest) (v1.ImageIndex, error) {
	idx, err := remote.Referrers(d, c.Options(ctx)...)
	return idx, Explain(err)
}

// Write pushes img to ref, blobs first (remote.Write).
func (c *Client) Write(ctx context.Context, ref name.Reference, img v1.Image) error {
	return Explain(remote.Write(ref, img, c.Options(ctx)...))
}

// WriteIndex pushes an index to ref, with every manifest and blob it holds first
// (remote.WriteIndex).
func (c *Client) WriteIndex(ctx context.Context, ref name.Reference, idx v1.ImageIndex) error {
	return Explain(remote.WriteIndex(ref, idx, c.Options(ctx)...))
}

// WriteLayer uploads a blob to repo (remote.WriteLayer).
func (c *Client) WriteLayer(ctx context.Context, repo name.Repository, l v1.Layer) error {
	return Explain(remote.WriteLayer(repo, l, c.Options(ctx)...))
}

// Put uploads a manifest whose blobs are already there (remote.Put). A manifest with a
// subject is a referrer: hold LockSubject around it.
func (c *Client) Put(ctx context.Context, ref name.Reference, t remote.Taggable) error {
	return Explain(remote.Put(ref, t, c.Options(ctx)...))
}

// Tag points tag at the manifest t (remote.Tag): the manifest is re-put, no blob moves.
func (c *Client) Tag(ctx context.Context, tag name.Tag, t remote.Taggable) error {
	return Explain(remote.Tag(tag, t, c.Options(ctx)...))
}

// NewPuller returns a remote.Puller on the client's options: it pings and
// authenticates once per repository and reuses that for every call. Pass its errors
// through Explain.
func (c *Client) NewPuller(ctx context.Context) (*remote.Puller, error) {
	p, err := remote.NewPuller(c.Options(ctx)...)
	return p, Explain(err)
}

// Connect pings reg and authenticates once for every scope (e.g. pull from several
// repositories), and returns a Puller that needs no further ping or token: a
// repository then costs its own requests and nothing else. Its errors name the
// registry; pass the Puller's through Explain.
func (c *Client) Connect(ctx context.Context, reg name.Registry, scopes []string) (*remote.Puller, error) {
	auth, err := authn.Resolve(ctx, c.keychain, reg)
	if err != nil {
		return nil, fmt.Errorf("credentials for %s: %w", reg.RegistryStr(), err)
	}
	tr, err := transport.NewWithContext(ctx, reg, auth, transport.NewUserAgent(c.rt, c.userAgent), scopes)
	if err != nil {
		if e := Explain(err); e != err {
			return nil, e // names the registry already
		}
		return nil, fmt.Errorf("connecting to %s: %w", reg.RegistryStr(), err)
	}
	// A *transport.Wrapper tells go-containerregistry the transport is authenticated:
	// it neither pings nor wraps it again.
	p, err := remote.NewPuller(remote.WithContext(ctx), remote.WithTransport(tr))
	return p, Explain(err)
}

// Delete removes the manifest ref names (remote.Delete). Registries that refuse deletes
// (GHCR) answer with an error.
func (c *Client) Delete(ctx context.Context, ref name.Reference) error {
	return Explain(remote.Delete(ref, c.Options(ctx)...))
}
