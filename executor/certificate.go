package executor

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
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
func PushCertificate(ctx context.Context, image, digest string, cert *x509.Certificate, insecure []string, opts ...remote.Option) error {
	var nopts []name.Option
	if insecureRef(image, insecure) {
		nopts = append(nopts, name.Insecure)
	}
	repo, err := name.NewRepository(image, nopts...)
	if err != nil {
		return err
	}
	opts = append(opts, remote.WithContext(ctx))
	subject, err := remote.Head(repo.Digest(digest), opts...)
	if err != nil {
		return fmt.Errorf("reading %s@%s: %w", image, digest, err)
	}
	cfg := static.NewLayer([]byte("{}"), emptyMediaType)
	layer := static.NewLayer(cert.Raw, CertMediaType)
	var descs []v1.Descriptor
	for _, l := range []v1.Layer{cfg, layer} {
		if err := remote.WriteLayer(repo, l, opts...); err != nil {
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
	if err := remote.Put(repo.Digest(h.String()), rawManifest(raw), opts...); err != nil {
		return fmt.Errorf("pushing the certificate artifact: %w", err)
	}
	return nil
}

// FetchCertificate finds the signing certificate stored next to image@digest.
func FetchCertificate(ctx context.Context, image, digest string, insecure []string, opts ...remote.Option) (*x509.Certificate, error) {
	var nopts []name.Option
	if insecureRef(image, insecure) {
		nopts = append(nopts, name.Insecure)
	}
	repo, err := name.NewRepository(image, nopts...)
	if err != nil {
		return nil, err
	}
	opts = append(opts, remote.WithContext(ctx))
	idx, err := remote.Referrers(repo.Digest(digest), opts...)
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
		desc, err := remote.Get(repo.Digest(m.Digest.String()), opts...)
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
			layer, err := remote.Layer(repo.Digest(l.Digest.String()), opts...)
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
