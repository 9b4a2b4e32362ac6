package operation

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/urmanac/sovos/attest"
	"github.com/urmanac/sovos/config"
	"github.com/urmanac/sovos/internal/oci"
	"github.com/urmanac/sovos/rollback"
)

// signing is the configuration's sovos.signing made usable: what signs (apply) and
// what checks signatures (apply's promotion gate, verify). Both are nil without a
// signing block.
type signing struct {
	signer   *attest.Signer
	verifier *attest.Verifier
}

// loadSigning reads sovos.signing. With sign, the signer is made too (the private key
// read and opened with COSIGN_PASSWORD, or keyless wired to Fulcio, Rekor and the CI's
// identity token); without, only the verifier (a key pair's public_key when given, so
// checking needs no password).
func loadSigning(in Inputs, cfg *config.Config, sign bool) (*signing, error) {
	s := cfg.Settings.Signing
	if s == nil {
		return &signing{}, nil
	}
	getenv := func(name string) string { return envOf(in.Environ, name) }
	out := &signing{}
	if s.Keyless {
		if sign {
			out.signer = attest.KeylessSigner(attest.KeylessOptions{
				FulcioURL: s.FulcioURL,
				RekorURL:  s.RekorURL,
				Token: func(ctx context.Context) (string, error) {
					return attest.IdentityToken(ctx, getenv, nil)
				},
			})
		}
		v, err := attest.KeylessVerifier(attest.PublicGoodRoot(s.TrustedRoot), s.Identity, s.Issuer)
		if err != nil {
			return nil, fmt.Errorf("sovos.signing: %w", err)
		}
		out.verifier = v
		return out, nil
	}

	if s.PublicKey != "" {
		data, err := os.ReadFile(s.PublicKey)
		if err != nil {
			return nil, fmt.Errorf("sovos.signing.public_key: %w (the cosign.pub of the key pair, relative to the configuration directory)", err)
		}
		pub, err := attest.PublicKey(data, s.PublicKey)
		if err != nil {
			return nil, fmt.Errorf("sovos.signing.public_key: %w", err)
		}
		if out.verifier, err = attest.KeyVerifier(pub, "the public key "+s.PublicKey); err != nil {
			return nil, err
		}
		if !sign {
			return out, nil
		}
	}
	keyPEM, err := os.ReadFile(s.Key)
	if err != nil {
		why := "the private key of a cosign key pair (cosign generate-key-pair), relative to the configuration directory; in CI, write it from a secret before apply"
		if !sign {
			why = "checking signatures needs the public key: set sovos.signing.public_key = \"cosign.pub\", or provide the private key and COSIGN_PASSWORD"
		}
		return nil, fmt.Errorf("sovos.signing.key: %w (%s)", err, why)
	}
	signer, pub, err := attest.KeySigner(keyPEM, []byte(getenv("COSIGN_PASSWORD")), s.Key)
	if err != nil {
		return nil, fmt.Errorf("sovos.signing.key: %w", err)
	}
	out.signer = signer
	if out.verifier == nil {
		if out.verifier, err = attest.KeyVerifier(pub, "the public key of "+s.Key); err != nil {
			return nil, err
		}
	} else if err := samePublicKey(out.verifier, signer); err != nil {
		return nil, err
	}
	return out, nil
}

// samePublicKey refuses a public_key that is not the private key's: everything signed
// would fail its own check.
func samePublicKey(v *attest.Verifier, s *attest.Signer) error {
	probe := "sha256:" + fmt.Sprintf("%064x", 0)
	stmt, err := attest.Statement("", probe, attest.CosignSignType, map[string]any{})
	if err != nil {
		return err
	}
	b, err := s.Sign(context.Background(), stmt)
	if err != nil {
		return err
	}
	if _, err := v.Verify(b, probe); err != nil {
		return fmt.Errorf("sovos.signing: public_key is not the public half of key (a signature made with %s does not verify with %s)", s.What, v.What)
	}
	return nil
}

// attested is rollback's question answered by attest.Passing, the one gate: does the
// extension image@digest have a passing module-signature attestation for the kernel
// digest and certificate fingerprint (signed by the configured key or identity when
// sovos.signing is set)?
func attested(v *attest.Verifier) rollback.AttestedFunc {
	return func(ctx context.Context, reg *oci.Client, image, digest, kernelDigest, fingerprint string) (bool, error) {
		_, err := attest.Passing(ctx, reg, image, digest, attest.Kernel{Digest: kernelDigest, CertificateSHA256: fingerprint}, v)
		if attest.IsNotFound(err) {
			return false, nil
		}
		return err == nil, err
	}
}

// envOf returns the last value of name in environ.
func envOf(environ []string, name string) string {
	for i := len(environ) - 1; i >= 0; i-- {
		if k, v, ok := strings.Cut(environ[i], "="); ok && k == name {
			return v
		}
	}
	return ""
}
