package attest

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/secure-systems-lab/go-securesystemslib/encrypted"
	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	"github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/sign"
	"github.com/sigstore/sigstore-go/pkg/verify"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/sigstore/sigstore/pkg/signature/options"
	"google.golang.org/protobuf/encoding/protojson"
)

// Signer signs in-toto statements as Sigstore bundles holding a DSSE envelope, the form
// cosign v3 writes for image signatures and attestations alike.
type Signer struct {
	// keypair returns the key to sign with: the configured one, or a fresh ephemeral
	// key for each keyless signature.
	keypair func() (sign.Keypair, error)
	// options adds what keyless signing needs (Fulcio, Rekor, the identity token).
	options func(ctx context.Context) (sign.BundleOptions, error)
	// What is a word for messages: "the cosign key cosign.key", "keyless (Fulcio ...)".
	What string
}

// Sign returns the Sigstore bundle (JSON) of a DSSE envelope of statement.
func (s *Signer) Sign(ctx context.Context, statement []byte) ([]byte, error) {
	kp, err := s.keypair()
	if err != nil {
		return nil, err
	}
	opts := sign.BundleOptions{}
	if s.options != nil {
		if opts, err = s.options(ctx); err != nil {
			return nil, err
		}
	}
	opts.Context = ctx
	b, err := sign.Bundle(&sign.DSSEData{Data: statement, PayloadType: PayloadType}, kp, opts)
	if err != nil {
		return nil, fmt.Errorf("signing with %s: %w", s.What, err)
	}
	return protojson.Marshal(b)
}

// Private key PEM types of cosign key pairs (cosign generate-key-pair).
const (
	sigstorePrivateKeyType = "ENCRYPTED SIGSTORE PRIVATE KEY"
	cosignPrivateKeyType   = "ENCRYPTED COSIGN PRIVATE KEY"
)

// KeySigner returns the Signer of a cosign key pair's encrypted private key (the
// cosign.key `cosign generate-key-pair` writes: a PKCS#8 key sealed with scrypt and
// secretbox), opened with password (COSIGN_PASSWORD). what names the key in messages.
func KeySigner(keyPEM, password []byte, what string) (*Signer, crypto.PublicKey, error) {
	sv, err := loadPrivateKey(keyPEM, password, what)
	if err != nil {
		return nil, nil, err
	}
	kp, err := newKeypair(sv)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", what, err)
	}
	pub, _ := sv.PublicKey()
	return &Signer{keypair: func() (sign.Keypair, error) { return kp, nil }, What: what}, pub, nil
}

func loadPrivateKey(keyPEM, password []byte, what string) (signature.SignerVerifier, error) {
	block, _ := pem.Decode(keyPEM)
	if block == nil {
		return nil, fmt.Errorf("%s is not a PEM file: sovos signs with a cosign key pair's private key (cosign generate-key-pair writes cosign.key)", what)
	}
	if block.Type != sigstorePrivateKeyType && block.Type != cosignPrivateKeyType {
		return nil, fmt.Errorf("%s holds a %q block, not a cosign private key (%q): make one with cosign generate-key-pair", what, block.Type, sigstorePrivateKeyType)
	}
	der, err := encrypted.Decrypt(block.Bytes, password)
	if err != nil {
		return nil, fmt.Errorf("%s: cannot decrypt it with the password in COSIGN_PASSWORD (%v)", what, err)
	}
	pk, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	// As cosign: Ed25519 keys sign prehashed (ed25519ph).
	sv, err := signature.LoadDefaultSignerVerifier(pk, options.WithED25519ph())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return sv, nil
}

// EncryptKey seals a private key as cosign generate-key-pair does (cosign.key), for
// tests and tools; the public key PEM is returned too (cosign.pub).
func EncryptKey(key crypto.Signer, password []byte) (privatePEM, publicPEM []byte, err error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	sealed, err := encrypted.Encrypt(der, password)
	if err != nil {
		return nil, nil, err
	}
	privatePEM = pem.EncodeToMemory(&pem.Block{Type: sigstorePrivateKeyType, Bytes: sealed})
	publicPEM, err = cryptoutils.MarshalPublicKeyToPEM(key.Public())
	return privatePEM, publicPEM, err
}

// keypair is a sign.Keypair over a loaded key, as cosign's SignerVerifierKeypair: the
// hint is the base64 SHA-256 of the public key's DER.
type keypair struct {
	sv     signature.SignerVerifier
	pub    crypto.PublicKey
	hint   []byte
	keyAlg string
	alg    signature.AlgorithmDetails
}

func newKeypair(sv signature.SignerVerifier) (*keypair, error) {
	pub, err := sv.PublicKey()
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(der)
	kp := &keypair{sv: sv, pub: pub, hint: []byte(base64.StdEncoding.EncodeToString(sum[:]))}
	switch pub.(type) {
	case *ecdsa.PublicKey:
		kp.keyAlg = "ECDSA"
	case *rsa.PublicKey:
		kp.keyAlg = "RSA"
	case ed25519.PublicKey:
		kp.keyAlg = "ED25519"
	default:
		return nil, fmt.Errorf("unsupported key type %T", pub)
	}
	if kp.alg, err = signature.GetDefaultAlgorithmDetails(pub, options.WithED25519ph()); err != nil {
		return nil, err
	}
	return kp, nil
}

func (k *keypair) GetHashAlgorithm() protocommon.HashAlgorithm { return k.alg.GetProtoHashType() }
func (k *keypair) GetSigningAlgorithm() protocommon.PublicKeyDetails {
	return k.alg.GetSignatureAlgorithm()
}
func (k *keypair) GetHint() []byte                { return k.hint }
func (k *keypair) GetKeyAlgorithm() string        { return k.keyAlg }
func (k *keypair) GetPublicKey() crypto.PublicKey { return k.pub }
func (k *keypair) GetPublicKeyPem() (string, error) {
	p, err := cryptoutils.MarshalPublicKeyToPEM(k.pub)
	return string(p), err
}

func (k *keypair) SignData(ctx context.Context, data []byte) ([]byte, []byte, error) {
	var digest []byte
	opts := []signature.SignOption{options.WithContext(ctx)}
	if h := k.alg.GetHashType(); h != 0 {
		d := h.New()
		d.Write(data)
		digest = d.Sum(nil)
		opts = append(opts, options.WithDigest(digest))
	}
	sig, err := k.sv.SignMessage(bytes.NewReader(data), opts...)
	return sig, digest, err
}

// Verifier checks Sigstore bundles: their signature (by a public key, or by a Fulcio
// certificate for an expected identity, logged in Rekor) and that the DSSE envelope's
// statement is about the digest asked for.
type Verifier struct {
	material func() (root.TrustedMaterial, error)
	vopts    []verify.VerifierOption
	popts    []verify.PolicyOption
	// What names the trust in messages: "the public key cosign.pub".
	What string
}

// KeyVerifier checks bundles signed with the private key of pub, with no transparency
// log or timestamp (as `cosign verify --key cosign.pub --insecure-ignore-tlog=true`).
func KeyVerifier(pub crypto.PublicKey, what string) (*Verifier, error) {
	sv, err := signature.LoadDefaultVerifier(pub, options.WithED25519ph())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	key := root.NewExpiringKey(sv, time.Time{}, time.Time{})
	material := root.NewTrustedPublicKeyMaterial(func(string) (root.TimeConstrainedVerifier, error) { return key, nil })
	return &Verifier{
		material: func() (root.TrustedMaterial, error) { return material, nil },
		vopts:    []verify.VerifierOption{verify.WithNoObserverTimestamps()},
		popts:    []verify.PolicyOption{verify.WithKey()},
		What:     what,
	}, nil
}

// PublicKey reads a PEM public key (cosign.pub).
func PublicKey(data []byte, what string) (crypto.PublicKey, error) {
	pub, err := cryptoutils.UnmarshalPEMToPublicKey(data)
	if err != nil {
		return nil, fmt.Errorf("%s is not a PEM public key: %w", what, err)
	}
	return pub, nil
}

// Verify checks a bundle (JSON) and returns the statement its DSSE envelope holds, which
// must be about digest ("sha256:...").
func (v *Verifier) Verify(bundleJSON []byte, digest string) (*ParsedStatement, error) {
	var b bundle.Bundle
	if err := b.UnmarshalJSON(bundleJSON); err != nil {
		return nil, fmt.Errorf("not a Sigstore bundle: %w", err)
	}
	material, err := v.material()
	if err != nil {
		return nil, err
	}
	alg, h, _ := strings.Cut(digest, ":")
	raw, err := hex.DecodeString(h)
	if err != nil || alg == "" {
		return nil, fmt.Errorf("%q is not a digest", digest)
	}
	sv, err := verify.NewVerifier(material, v.vopts...)
	if err != nil {
		return nil, err
	}
	res, err := sv.Verify(&b, verify.NewPolicy(verify.WithArtifactDigest(alg, raw), v.popts...))
	if err != nil {
		return nil, fmt.Errorf("its signature does not verify with %s: %w", v.What, err)
	}
	if res.Statement == nil {
		return nil, errors.New("the bundle holds no in-toto statement")
	}
	data, err := protojson.Marshal(res.Statement)
	if err != nil {
		return nil, err
	}
	return ParseStatement(data)
}

// unverifiedStatement reads the statement inside a bundle without checking its
// signature: what counts when no signing is configured.
func unverifiedStatement(bundleJSON []byte) (*ParsedStatement, error) {
	var b bundle.Bundle
	if err := b.UnmarshalJSON(bundleJSON); err != nil {
		return nil, fmt.Errorf("not a Sigstore bundle: %w", err)
	}
	env := b.GetDsseEnvelope()
	if env == nil || env.GetPayloadType() != PayloadType {
		return nil, errors.New("the bundle holds no in-toto statement")
	}
	return ParseStatement(env.GetPayload())
}
