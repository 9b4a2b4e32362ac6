package executor

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/urmanac/sovos/internal/oci"
)

// Media types of the signing-certificate artifact stored next to each kernel image: an
// OCI artifact whose subject is the kernel's manifest, so the certificate can be found
// from the kernel digest alone (the referrers API, or its fallback tag) when a kernel is
// adopted without a state.
const (
	CertArtifactType = "application/vnd.sovos.signing-cert.v1"
	CertMediaType    = "application/pkix-cert"
	emptyMediaType   = "application/vnd.oci.empty.v1+json"
)

type rawManifest []byte

func (m rawManifest) RawManifest() ([]byte, error) { return m, nil }

// MediaType makes remote.Put send the OCI content type (it assumes Docker's otherwise).
func (m rawManifest) MediaType() (types.MediaType, error) { return types.OCIManifestSchema1, nil }

// PushCertificate stores cert (DER) as an artifact referring to image@digest.
func PushCertificate(ctx context.Context, reg *oci.Client, image, digest string, cert *x509.Certificate) error {
	repo, err := reg.NewRepository(image)
	if err != nil {
		return err
	}
	subject, err := reg.Head(ctx, repo.Digest(digest))
	if err != nil {
		return fmt.Errorf("reading %s@%s: %w", image, digest, err)
	}
	cfg := static.NewLayer([]byte("{}"), emptyMediaType)
	layer := static.NewLayer(cert.Raw, CertMediaType)
	var descs []v1.Descriptor
	for _, l := range []v1.Layer{cfg, layer} {
		if err := reg.WriteLayer(ctx, repo, l); err != nil {
			return fmt.Errorf("uploading the certificate: %w", err)
		}
		d, _ := l.Digest()
		size, _ := l.Size()
		mt, _ := l.MediaType()
		descs = append(descs, v1.Descriptor{MediaType: mt, Digest: d, Size: size})
	}
	descs[1].Annotations = map[string]string{"org.opencontainers.image.title": "signing_key.x509"}
	m := map[string]any{
		"schemaVersion": 2,
		"mediaType":     types.OCIManifestSchema1,
		"artifactType":  CertArtifactType,
		"config":        descs[0],
		"layers":        []v1.Descriptor{descs[1]},
		"subject":       v1.Descriptor{MediaType: subject.MediaType, Digest: subject.Digest, Size: subject.Size},
	}
	raw, err := json.Marshal(m)
	if err != nil {
		return err
	}
	h, _, err := v1.SHA256(bytes.NewReader(raw))
	if err != nil {
		return err
	}
	// A referrer of the kernel: where the registry has no referrers API, pushing it
	// rewrites the kernel's referrers index, one push per subject at a time.
	defer reg.LockSubject(repo.Digest(digest))()
	if err := reg.Put(ctx, repo.Digest(h.String()), rawManifest(raw)); err != nil {
		return fmt.Errorf("pushing the certificate artifact: %w", err)
	}
	return nil
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
