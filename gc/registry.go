package gc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/urmanac/sovos/hashing"
	"github.com/urmanac/sovos/internal/oci"
)

// readTag reads repo:tag. A content tag of a sovos artifact gives the artifact; any other
// tag gives the digest it points at (which that tag keeps).
func readTag(ctx context.Context, reg *oci.Client, repo, tag string) (*Artifact, string, error) {
	ref, err := reg.NewTag(repo + ":" + tag)
	if err != nil {
		return nil, "", err
	}
	if !contentTagRE().MatchString(tag) {
		d, err := reg.Digest(ctx, ref)
		if oci.IsNotFound(err) {
			return nil, "", nil // deleted since the listing
		}
		if err != nil {
			return nil, "", fmt.Errorf("reading %s: %w", ref, err)
		}
		return nil, d.String(), nil
	}
	desc, err := reg.Get(ctx, ref)
	if oci.IsNotFound(err) {
		return nil, "", nil
	}
	if err != nil {
		return nil, "", fmt.Errorf("reading %s: %w", ref, err)
	}
	ann, err := annotations(desc.MediaType, desc.Manifest)
	if err != nil {
		return nil, "", fmt.Errorf("reading %s: %w", ref, err)
	}
	if !hashing.IsContentTag(tag, ann[AnnotationHash]) {
		return nil, desc.Digest.String(), nil
	}
	a := &Artifact{Repository: repo, Tag: tag, Digest: desc.Digest.String(), Hash: ann[AnnotationHash]}
	if t, err := time.Parse(time.RFC3339, ann[AnnotationCreated]); err == nil {
		a.Created = t
	} else {
		a.Created = configCreated(ctx, reg, repo, desc.MediaType, desc.Manifest)
	}
	return a, "", nil
}

// annotations returns the annotations of a manifest or an index.
func annotations(mt types.MediaType, raw []byte) (map[string]string, error) {
	if mt.IsIndex() {
		idx, err := v1.ParseIndexManifest(bytes.NewReader(raw))
		if err != nil {
			return nil, err
		}
		return idx.Annotations, nil
	}
	m, err := v1.ParseManifest(bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	return m.Annotations, nil
}

// configCreated is an image's config "created" time: for an artifact made before sovos
// annotated what it pushes with its time. Zero when there is none (an artifact without
// an image config) or it cannot be read.
func configCreated(ctx context.Context, reg *oci.Client, repo string, mt types.MediaType, raw []byte) time.Time {
	if mt.IsIndex() {
		idx, err := v1.ParseIndexManifest(bytes.NewReader(raw))
		if err != nil {
			return time.Time{}
		}
		for _, m := range idx.Manifests {
			if m.Platform == nil || m.Platform.OS == "unknown" || !m.MediaType.IsImage() {
				continue // attestation manifests
			}
			d, err := reg.NewDigest(join(repo, m.Digest.String()))
			if err != nil {
				return time.Time{}
			}
			desc, err := reg.Get(ctx, d)
			if err != nil {
				return time.Time{}
			}
			return configCreated(ctx, reg, repo, desc.MediaType, desc.Manifest)
		}
		return time.Time{}
	}
	m, err := v1.ParseManifest(bytes.NewReader(raw))
	if err != nil || !m.Config.MediaType.IsConfig() {
		return time.Time{}
	}
	d, err := reg.NewDigest(join(repo, m.Config.Digest.String()))
	if err != nil {
		return time.Time{}
	}
	l, err := reg.Layer(ctx, d)
	if err != nil {
		return time.Time{}
	}
	rc, err := l.Compressed()
	if err != nil {
		return time.Time{}
	}
	defer rc.Close()
	var cfg struct {
		Created time.Time `json:"created"`
	}
	if json.NewDecoder(io.LimitReader(rc, 4<<20)).Decode(&cfg) != nil {
		return time.Time{}
	}
	return cfg.Created
}

// dependents lists what is deleted with a, deepest first: what refers to it (and to
// those), and the manifests its sha256-<hex> tags (the referrers fallback, cosign's
// .sig/.att) point at. tags are its repository's tags.
func dependents(ctx context.Context, reg *oci.Client, a *Artifact, tags []string) ([]string, error) {
	seen := map[string]bool{a.Digest: true}
	var found []string
	queue := []string{a.Digest}
	for len(queue) > 0 {
		d := queue[0]
		queue = queue[1:]
		dig, err := reg.NewDigest(join(a.Repository, d))
		if err != nil {
			return nil, err
		}
		var next []string
		idx, err := reg.Referrers(ctx, dig)
		if err != nil && !oci.IsNotFound(err) {
			return nil, fmt.Errorf("listing what refers to %s: %w", dig, err)
		}
		if err == nil {
			im, err := idx.IndexManifest()
			if err != nil {
				return nil, fmt.Errorf("listing what refers to %s: %w", dig, err)
			}
			for _, m := range im.Manifests {
				next = append(next, m.Digest.String())
			}
		}
		prefix := "sha256-" + strings.TrimPrefix(d, "sha256:")
		for _, t := range tags {
			if !strings.HasPrefix(t, prefix) {
				continue
			}
			ref, err := reg.NewTag(a.Repository + ":" + t)
			if err != nil {
				return nil, err
			}
			fd, err := reg.Digest(ctx, ref)
			if oci.IsNotFound(err) {
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("reading %s: %w", ref, err)
			}
			next = append(next, fd.String())
		}
		for _, n := range next {
			if !seen[n] {
				seen[n] = true
				found = append(found, n)
				queue = append(queue, n)
			}
		}
	}
	slices.Reverse(found)
	out := make([]string, len(found))
	for i, d := range found {
		out[i] = join(a.Repository, d)
	}
	return out, nil
}

// Result is what a deletion did.
type Result struct {
	// Deleted are the manifests deleted (repository@digest), in order.
	Deleted []string
	// Remaining are those not deleted because it stopped (the registry refused, or an
	// error): what a person deletes by hand.
	Remaining []string
}

// UnsupportedError is a registry that refuses to delete manifests through its API (GHCR
// answers 405 Method Not Allowed; a CNCF registry does too unless deletion is enabled).
type UnsupportedError struct {
	Registry string
	Ref      string
	Status   int
}

func (e *UnsupportedError) Error() string {
	return fmt.Sprintf("the registry %s refuses to delete manifests (DELETE %s: %d %s): it does not allow deletion through the registry API (GHCR never does; a CNCF registry needs storage.delete.enabled), so nothing more was deleted; delete the references listed by hand (GHCR: the package's settings page, or the GitHub packages API)",
		e.Registry, e.Ref, e.Status, http.StatusText(e.Status))
}

// Delete deletes the plan's manifests by digest, what refers to each artifact first. A
// manifest already gone counts as deleted. It stops at the first failure and returns
// what it deleted and what remains, with the error: an *UnsupportedError when the
// registry refuses deletion. Pass a ctx that fences the deletes (the state lock's guard).
// Cancelling ctx stops it between two manifests: the one in flight (with its tag)
// finishes or fails on its own (a delete cut off half-way could not tell whether it
// happened), no other starts, and the error is ctx's, with the rest in Remaining.
func Delete(ctx context.Context, reg *oci.Client, p *Plan) (*Result, error) {
	refs := p.Refs()
	tags := map[string]string{} // repository@digest -> repository:tag, for artifacts
	for _, g := range p.Delete {
		for _, a := range g.Artifacts {
			tags[a.Manifest()] = a.Repository + ":" + a.Tag
		}
	}
	res := &Result{}
	for i, ref := range refs {
		if ctx.Err() != nil {
			res.Remaining = refs[i:]
			return res, context.Cause(ctx)
		}
		if err := deleteManifest(context.WithoutCancel(ctx), reg, ref, tags[ref]); err != nil {
			res.Remaining = refs[i:]
			return res, err
		}
		res.Deleted = append(res.Deleted, ref)
	}
	return res, nil
}

// deleteManifest deletes ref (repository@digest). The CNCF registry removes the tags
// pointing at a manifest it deletes; where tag (repository:tag) still points at it
// afterwards, the tag is deleted too.
func deleteManifest(ctx context.Context, reg *oci.Client, ref, tag string) error {
	d, err := reg.NewDigest(ref)
	if err != nil {
		return err
	}
	if err := remove(ctx, reg, d, ref); err != nil || tag == "" {
		return err
	}
	t, err := reg.NewTag(tag)
	if err != nil {
		return err
	}
	left, err := reg.Digest(ctx, t)
	if oci.IsNotFound(err) || (err == nil && left.String() != d.DigestStr()) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("checking that %s went with %s: %w", tag, ref, err)
	}
	return remove(ctx, reg, t, tag)
}

// remove deletes the manifest r names; one already gone is not an error.
func remove(ctx context.Context, reg *oci.Client, r name.Reference, what string) error {
	err := reg.Delete(ctx, r)
	if err == nil || oci.IsNotFound(err) {
		return nil
	}
	if status, ok := refused(err); ok {
		return &UnsupportedError{Registry: r.Context().RegistryStr(), Ref: what, Status: status}
	}
	return fmt.Errorf("deleting %s: %w", what, err)
}

// refused reports whether err is a registry refusing DELETE itself: 405 Method Not
// Allowed, or the distribution spec's UNSUPPORTED code.
func refused(err error) (int, bool) {
	var terr *transport.Error
	if !errors.As(err, &terr) {
		return 0, false
	}
	if terr.StatusCode == http.StatusMethodNotAllowed || oci.HasCode(terr, transport.UnsupportedErrorCode) {
		return terr.StatusCode, true
	}
	return 0, false
}
