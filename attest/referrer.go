package attest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/urmanac/sovos/internal/oci"
)

// How an attestation or a signature is attached to what it is about: an OCI 1.1
// referrer manifest whose subject is that digest. A signed one is a Sigstore bundle laid
// out exactly as cosign v3 writes it (pkg/oci/remote.WriteAttestationNewBundleFormat),
// so cosign finds it through the referrers API or its sha256-<hex> tag fallback; an
// unsigned statement (no signing configured) is the in-toto JSON itself.
const (
	// BundleMediaType is the artifact type and layer media type of a Sigstore bundle.
	BundleMediaType = "application/vnd.dev.sigstore.bundle.v0.3+json"
	// StatementMediaType is the artifact type and layer media type of an unsigned
	// in-toto statement.
	StatementMediaType = "application/vnd.in-toto+json"

	// Annotations of the referrer manifest: cosign's, and the in-toto convention for an
	// unsigned statement.
	annotationCreated             = "org.opencontainers.image.created"
	annotationBundleContent       = "dev.sigstore.bundle.content"
	annotationBundlePredicateType = "dev.sigstore.bundle.predicateType"
	annotationPredicateType       = "in-toto.io/predicate-type"
)

// maxReferrerSize bounds what is read of a referrer's layer: bundles and statements are
// a few KiB (one entry per module).
const maxReferrerSize = 4 << 20

// attach pushes content as a referrer of subject and returns the referrer's digest.
func attach(ctx context.Context, reg *oci.Client, subject name.Digest, artifactType string, content []byte, annotations map[string]string) (string, error) {
	return reg.PutReferrer(ctx, subject, artifactType, oci.Blob{Content: content, MediaType: artifactType}, annotations)
}

// attachBundle attaches a Sigstore bundle of a DSSE envelope of a statement of
// predicateType, as cosign v3 does.
func attachBundle(ctx context.Context, reg *oci.Client, subject name.Digest, predicateType string, bundle []byte) (string, error) {
	return attach(ctx, reg, subject, BundleMediaType, bundle, map[string]string{
		annotationCreated:             time.Now().UTC().Format(time.RFC3339),
		annotationBundleContent:       "dsse-envelope",
		annotationBundlePredicateType: predicateType,
	})
}

// attachStatement attaches an unsigned in-toto statement of predicateType.
func attachStatement(ctx context.Context, reg *oci.Client, subject name.Digest, predicateType string, statement []byte) (string, error) {
	return attach(ctx, reg, subject, StatementMediaType, statement, map[string]string{
		annotationCreated:       time.Now().UTC().Format(time.RFC3339),
		annotationPredicateType: predicateType,
	})
}

// referrer is one attestation found next to a subject: a bundle or a bare statement.
type referrer struct {
	// Digest is the referrer manifest's digest.
	Digest string
	// Bundle holds a Sigstore bundle (JSON); Statement an unsigned statement.
	Bundle, Statement []byte
}

// referrers lists the attestations attached to subject whose predicate type, as the
// referrer's annotations say, is predicateType (any when empty). Referrers of other
// kinds (a kernel's certificate, other tools' artifacts) are skipped.
func referrers(ctx context.Context, reg *oci.Client, subject name.Digest, predicateType string) ([]referrer, error) {
	idx, err := reg.Referrers(ctx, subject)
	if err != nil {
		return nil, fmt.Errorf("listing what refers to %s: %w", subject, err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, oci.Explain(err)
	}
	var out []referrer
	for _, d := range im.Manifests {
		if d.ArtifactType != BundleMediaType && d.ArtifactType != StatementMediaType {
			continue
		}
		r, ok, err := readReferrer(ctx, reg, subject.Context().Digest(d.Digest.String()), predicateType)
		if oci.IsNotFound(err) {
			// Listed but deleted: a registry without the referrers API keeps listing a
			// deleted referrer in the sha256-<hex> index. It attests nothing.
			continue
		}
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, r)
		}
	}
	return out, nil
}

// readReferrer reads one referrer manifest and its single layer.
func readReferrer(ctx context.Context, reg *oci.Client, ref name.Digest, predicateType string) (referrer, bool, error) {
	desc, err := reg.Get(ctx, ref)
	if err != nil {
		return referrer{}, false, fmt.Errorf("reading %s: %w", ref, err)
	}
	var m struct {
		ArtifactType string            `json:"artifactType"`
		Layers       []v1.Descriptor   `json:"layers"`
		Annotations  map[string]string `json:"annotations"`
	}
	if err := json.Unmarshal(desc.Manifest, &m); err != nil || len(m.Layers) != 1 {
		return referrer{}, false, nil // not one of ours, nor cosign's
	}
	pt := m.Annotations[annotationBundlePredicateType]
	if m.ArtifactType == StatementMediaType {
		pt = m.Annotations[annotationPredicateType]
	}
	if predicateType != "" && pt != predicateType {
		return referrer{}, false, nil
	}
	l := m.Layers[0]
	if l.Size > maxReferrerSize {
		return referrer{}, false, nil
	}
	blob, err := reg.Layer(ctx, ref.Context().Digest(l.Digest.String()))
	if err != nil {
		return referrer{}, false, err
	}
	rc, err := blob.Compressed()
	if err != nil {
		return referrer{}, false, oci.Explain(err)
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, maxReferrerSize+1))
	if err != nil {
		return referrer{}, false, oci.Explain(err)
	}
	if got, _, _ := v1.SHA256(bytes.NewReader(data)); got != l.Digest {
		return referrer{}, false, errors.New("the content of " + ref.String() + " does not match its digest")
	}
	r := referrer{Digest: ref.DigestStr()}
	switch {
	case m.ArtifactType == BundleMediaType && string(l.MediaType) == BundleMediaType:
		r.Bundle = data
	case m.ArtifactType == StatementMediaType && string(l.MediaType) == StatementMediaType:
		r.Statement = data
	default:
		return referrer{}, false, nil
	}
	return r, true, nil
}
