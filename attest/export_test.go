package attest

import (
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/verify"
)

// KeylessVerifierAt checks keyless bundles as KeylessVerifier does, but at the current
// time and without a transparency log or SCT: what a test's own certificate authority
// can satisfy without a Rekor and a CT log.
func KeylessVerifierAt(material func() (root.TrustedMaterial, error), identity, issuer string) (*Verifier, error) {
	return keylessVerifier(material, identity, issuer, []verify.VerifierOption{verify.WithCurrentTime()})
}
