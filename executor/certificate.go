package executor

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/urmanac/sovos/internal/oci"
	"github.com/urmanac/sovos/planner"
)

// Media types of the signing-certificate artifact stored next to each kernel image: an
// OCI artifact whose subject is the kernel's manifest, so the certificate can be found
// from the kernel digest alone (the referrers API, or its fallback tag) when a kernel is
// adopted without a state.
const (
	CertArtifactType = planner.CertArtifactType
	CertMediaType    = "application/pkix-cert"
)

// PushCertificate stores cert (DER) as an artifact referring to image@digest.
func PushCertificate(ctx context.Context, reg *oci.Client, image, digest string, cert *x509.Certificate) error {
	subject, err := reg.NewDigest(image + "@" + digest)
	if err != nil {
		return err
	}
	_, err = reg.PutReferrer(ctx, subject, CertArtifactType, oci.Blob{Content: cert.Raw, MediaType: CertMediaType,
		Annotations: map[string]string{"org.opencontainers.image.title": "signing_key.x509"}}, nil)
	if err != nil {
		return fmt.Errorf("pushing the certificate artifact: %w", err)
	}
	return nil
}

// StoreCertificate is PushCertificate, robust to another apply storing the same
// certificate for the same kernel at the same moment (two workspaces built from one
// BuildKit cache): concurrent pushes of the same blobs can fail on the registry's side
// (the CNCF registry answers DIGEST_INVALID or MANIFEST_BLOB_UNKNOWN), so a failed push
// counts as done when the certificate is there afterwards, and is tried again otherwise
// (three times in all).
func StoreCertificate(ctx context.Context, reg *oci.Client, image, digest string, cert *x509.Certificate) error {
	var err error
	for attempt := range 3 {
		if attempt > 0 {
			t := time.NewTimer(time.Duration(attempt) * 500 * time.Millisecond)
			select {
			case <-ctx.Done():
				t.Stop()
				return errors.Join(err, ctx.Err())
			case <-t.C:
			}
		}
		if err = PushCertificate(ctx, reg, image, digest, cert); err == nil {
			return nil
		}
		if got, ferr := FetchCertificate(ctx, reg, image, digest); ferr == nil && bytes.Equal(got.Raw, cert.Raw) {
			return nil
		}
	}
	return err
}

// FetchCertificate finds the signing certificate stored next to image@digest.
func FetchCertificate(ctx context.Context, reg *oci.Client, image, digest string) (*x509.Certificate, error) {
	repo, err := reg.NewRepository(image)
	if err != nil {
		return nil, err
	}
	idx, err := reg.Referrers(ctx, repo.Digest(digest))
	if err != nil {
		return nil, fmt.Errorf("listing what refers to %s@%s: %w", image, digest, err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, err
	}
	for _, m := range im.Manifests {
		if m.ArtifactType != CertArtifactType {
			continue
		}
		desc, err := reg.Get(ctx, repo.Digest(m.Digest.String()))
		if err != nil {
			return nil, err
		}
		var mf v1.Manifest
		if err := json.Unmarshal(desc.Manifest, &mf); err != nil {
			return nil, err
		}
		for _, l := range mf.Layers {
			if l.MediaType != CertMediaType {
				continue
			}
			layer, err := reg.Layer(ctx, repo.Digest(l.Digest.String()))
			if err != nil {
				return nil, err
			}
			rc, err := layer.Compressed()
			if err != nil {
				return nil, err
			}
			der, err := io.ReadAll(io.LimitReader(rc, 1<<20))
			rc.Close()
			if err != nil {
				return nil, err
			}
			return x509.ParseCertificate(der)
		}
	}
	return nil, errors.New("no signing certificate is stored next to " + image + "@" + digest)
}
