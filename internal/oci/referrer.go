package oci

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// EmptyMediaType is the media type of the empty config ("{}") of an OCI artifact.
const EmptyMediaType = "application/vnd.oci.empty.v1+json"

// Blob is the one layer of a referrer artifact.
type Blob struct {
	Content     []byte
	MediaType   string
	Annotations map[string]string
}

type rawManifest []byte

func (m rawManifest) RawManifest() ([]byte, error) { return m, nil }

// MediaType makes remote.Put send the OCI content type (it assumes Docker's otherwise).
func (m rawManifest) MediaType() (types.MediaType, error) { return types.OCIManifestSchema1, nil }

// PutReferrer pushes an OCI 1.1 artifact referring to subject (repository@digest): an
// empty config, layer as its one layer, annotations on the manifest, artifactType, and
// the subject's descriptor. Where the registry has no referrers API,
// go-containerregistry rewrites the subject's sha256-<hex> tag-schema index, so the push
// holds LockSubject. It returns the digest of the referrer manifest.
func (c *Client) PutReferrer(ctx context.Context, subject name.Digest, artifactType string, layer Blob, annotations map[string]string) (string, error) {
	repo := subject.Context()
	desc, err := c.Head(ctx, subject)
	if err != nil {
		return "", fmt.Errorf("reading %s: %w", subject, err)
	}
	var descs []v1.Descriptor
	for _, l := range []v1.Layer{static.NewLayer([]byte("{}"), EmptyMediaType), static.NewLayer(layer.Content, types.MediaType(layer.MediaType))} {
		if err := c.WriteLayer(ctx, repo, l); err != nil {
			return "", fmt.Errorf("uploading to %s: %w", repo, err)
		}
		d, _ := l.Digest()
		size, _ := l.Size()
		mt, _ := l.MediaType()
		descs = append(descs, v1.Descriptor{MediaType: mt, Digest: d, Size: size})
	}
	descs[1].Annotations = layer.Annotations
	m := map[string]any{
		"schemaVersion": 2,
		"mediaType":     types.OCIManifestSchema1,
		"artifactType":  artifactType,
		"config":        descs[0],
		"layers":        []v1.Descriptor{descs[1]},
		"subject":       v1.Descriptor{MediaType: desc.MediaType, Digest: desc.Digest, Size: desc.Size},
	}
	if len(annotations) > 0 {
		m["annotations"] = annotations
	}
	raw, err := json.Marshal(m)
	if err != nil {
		return "", err
	}
	h, _, err := v1.SHA256(bytes.NewReader(raw))
	if err != nil {
		return "", err
	}
	defer c.LockSubject(subject)()
	err = c.Put(ctx, repo.Digest(h.String()), rawManifest(raw))
	if IsNotFound(err) || HasCode(err, transport.ManifestBlobUnknownErrorCode) {
		// A registry that checks an index's manifests refuses the sha256-<hex> index
		// when it lists a referrer deleted since: drop those, then push again.
		if pruned, perr := c.pruneFallback(ctx, subject); perr != nil {
			err = fmt.Errorf("%w (and cleaning the referrers index: %v)", err, perr)
		} else if pruned {
			err = c.Put(ctx, repo.Digest(h.String()), rawManifest(raw))
		}
	}
	if err != nil {
		return "", fmt.Errorf("pushing a referrer of %s: %w", subject, err)
	}
	return h.String(), nil
}

// pruneFallback removes from subject's sha256-<hex> tag-schema index the referrers that
// are gone (deleted by hand: the registry keeps listing them there), and reports
// whether it removed any.
func (c *Client) pruneFallback(ctx context.Context, subject name.Digest) (bool, error) {
	repo := subject.Context()
	tag := repo.Tag(strings.Replace(subject.DigestStr(), ":", "-", 1))
	desc, err := c.Get(ctx, tag)
	if IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if !desc.MediaType.IsIndex() {
		return false, nil
	}
	idx, err := v1.ParseIndexManifest(bytes.NewReader(desc.Manifest))
	if err != nil {
		return false, err
	}
	kept := idx.Manifests[:0:0]
	for _, m := range idx.Manifests {
		_, err := c.Head(ctx, repo.Digest(m.Digest.String()))
		switch {
		case IsNotFound(err):
			continue
		case err != nil:
			return false, err
		}
		kept = append(kept, m)
	}
	if len(kept) == len(idx.Manifests) {
		return false, nil
	}
	idx.Manifests = kept
	raw, err := json.Marshal(idx)
	if err != nil {
		return false, err
	}
	if err := c.Put(ctx, tag, rawIndex(raw)); err != nil {
		return false, err
	}
	return true, nil
}

type rawIndex []byte

func (m rawIndex) RawManifest() ([]byte, error)        { return m, nil }
func (m rawIndex) MediaType() (types.MediaType, error) { return types.OCIImageIndex, nil }
