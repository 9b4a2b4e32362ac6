package attest

import (
	"context"
	"fmt"

	"github.com/urmanac/sovos/internal/oci"
)

// Publisher attaches signatures and attestations to images in a registry: as Sigstore
// bundles when Signer is set (a `signing` block), else attestations as bare in-toto
// statements (and images are not signed).
type Publisher struct {
	Registry *oci.Client
	Signer   *Signer
}

// Signs reports whether the publisher signs.
func (p *Publisher) Signs() bool { return p != nil && p.Signer != nil }

// SignImage attaches the signature of image@digest (a repository and a manifest or
// index digest) in the form cosign v3 writes: a bundle of a DSSE envelope of an in-toto
// statement about the digest with predicate type CosignSignType. It returns the
// signature referrer's digest.
func (p *Publisher) SignImage(ctx context.Context, image, digest string) (string, error) {
	if p.Signer == nil {
		return "", fmt.Errorf("signing %s@%s: no signing configured", image, digest)
	}
	subject, err := p.Registry.NewDigest(image + "@" + digest)
	if err != nil {
		return "", err
	}
	// cosign names no subject for an image signature: the digest is the claim.
	stmt, err := Statement("", digest, CosignSignType, map[string]any{})
	if err != nil {
		return "", err
	}
	bundle, err := p.Signer.Sign(ctx, stmt)
	if err != nil {
		return "", fmt.Errorf("signing %s@%s: %w", image, digest, err)
	}
	d, err := attachBundle(ctx, p.Registry, subject, CosignSignType, bundle)
	if err != nil {
		return "", fmt.Errorf("attaching the signature of %s@%s: %w", image, digest, err)
	}
	return d, nil
}

// Attest attaches an attestation of predicateType about image@digest: a signed bundle
// when the publisher signs, else the bare statement. It returns the referrer's digest.
func (p *Publisher) Attest(ctx context.Context, image, digest, predicateType string, predicate any) (string, error) {
	subject, err := p.Registry.NewDigest(image + "@" + digest)
	if err != nil {
		return "", err
	}
	stmt, err := Statement(subject.Context().Name(), digest, predicateType, predicate)
	if err != nil {
		return "", err
	}
	var d string
	if p.Signer != nil {
		bundle, err := p.Signer.Sign(ctx, stmt)
		if err != nil {
			return "", fmt.Errorf("signing the attestation of %s@%s: %w", image, digest, err)
		}
		d, err = attachBundle(ctx, p.Registry, subject, predicateType, bundle)
	} else {
		d, err = attachStatement(ctx, p.Registry, subject, predicateType, stmt)
	}
	if err != nil {
		return "", fmt.Errorf("attaching the attestation of %s@%s: %w", image, digest, err)
	}
	return d, nil
}
