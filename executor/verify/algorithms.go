package verify

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"encoding/asn1"
	"errors"
	"fmt"

	// Registered so that crypto.Hash.Available reports them.
	_ "crypto/sha1"
	_ "crypto/sha256"
	_ "crypto/sha3"
	_ "crypto/sha512"
)

var (
	oidSHA1     = asn1.ObjectIdentifier{1, 3, 14, 3, 2, 26}
	oidSHA256   = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 1}
	oidSHA384   = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 2}
	oidSHA512   = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 3}
	oidSHA224   = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 4}
	oidSHA3_256 = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 8}
	oidSHA3_384 = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 9}
	oidSHA3_512 = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 10}

	oidRSAEncryption = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 1}
	oidRSAPSS        = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 10}
	oidECPublicKey   = asn1.ObjectIdentifier{1, 2, 840, 10045, 2, 1}
)

// digests maps the digest algorithms the kernel accepts in a module signature, each
// with its name as the attestation records it.
var digests = []struct {
	oid  asn1.ObjectIdentifier
	hash crypto.Hash
	name string
}{
	{oidSHA1, crypto.SHA1, "sha1"},
	{oidSHA224, crypto.SHA224, "sha224"},
	{oidSHA256, crypto.SHA256, "sha256"},
	{oidSHA384, crypto.SHA384, "sha384"},
	{oidSHA512, crypto.SHA512, "sha512"},
	{oidSHA3_256, crypto.SHA3_256, "sha3-256"},
	{oidSHA3_384, crypto.SHA3_384, "sha3-384"},
	{oidSHA3_512, crypto.SHA3_512, "sha3-512"},
}

// signatureAlgorithms maps the signature algorithm OIDs sovos checks to a key family and,
// for the "<hash>With<key>" forms, the digest they imply.
var signatureAlgorithms = []struct {
	oid  asn1.ObjectIdentifier
	key  string
	hash crypto.Hash
}{
	{oidRSAEncryption, "rsa", 0},
	{asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 5}, "rsa", crypto.SHA1},
	{asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 11}, "rsa", crypto.SHA256},
	{asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 12}, "rsa", crypto.SHA384},
	{asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 13}, "rsa", crypto.SHA512},
	{asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 14}, "rsa", crypto.SHA224},
	{asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 3, 14}, "rsa", crypto.SHA3_256},
	{asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 3, 15}, "rsa", crypto.SHA3_384},
	{asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 3, 16}, "rsa", crypto.SHA3_512},
	{oidRSAPSS, "rsa-pss", 0},
	{oidECPublicKey, "ecdsa", 0},
	{asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 1}, "ecdsa", crypto.SHA1},
	{asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 1}, "ecdsa", crypto.SHA224},
	{asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 2}, "ecdsa", crypto.SHA256},
	{asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 3}, "ecdsa", crypto.SHA384},
	{asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 4}, "ecdsa", crypto.SHA512},
	{asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 3, 10}, "ecdsa", crypto.SHA3_256},
	{asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 3, 11}, "ecdsa", crypto.SHA3_384},
	{asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 3, 12}, "ecdsa", crypto.SHA3_512},
}

func hashFromOID(oid asn1.ObjectIdentifier) crypto.Hash {
	for _, d := range digests {
		if d.oid.Equal(oid) {
			return d.hash
		}
	}
	return 0
}

// hashName names a digest algorithm as the attestation records it: "sha256", "sha3-512";
// the OID when sovos does not know it.
func hashName(oid asn1.ObjectIdentifier) string {
	for _, d := range digests {
		if d.oid.Equal(oid) {
			return d.name
		}
	}
	return oid.String()
}

// digestFunc returns the digest of a module's signed content with the given algorithm.
type digestFunc func(crypto.Hash) ([]byte, error)

// contentDigest is the digestFunc of content held in memory.
func contentDigest(content []byte) digestFunc {
	return func(h crypto.Hash) ([]byte, error) {
		d := h.New()
		d.Write(content)
		return d.Sum(nil), nil
	}
}

// verifySignature checks si's signature over the content digestOf hashes with pub. The
// error says why it does not verify, in words fit for a report.
func verifySignature(si SignerInfo, digestOf digestFunc, pub crypto.PublicKey) error {
	if si.Hash == 0 {
		return fmt.Errorf("unsupported digest algorithm %v", si.DigestAlgorithm)
	}
	if !si.Hash.Available() {
		return fmt.Errorf("digest algorithm %v is not available", si.Hash)
	}
	var family string
	for _, a := range signatureAlgorithms {
		if a.oid.Equal(si.SignatureAlgorithm.Algorithm) {
			if a.hash != 0 && a.hash != si.Hash {
				return fmt.Errorf("signature algorithm %v implies %v but the digest algorithm is %v", a.oid, a.hash, si.Hash)
			}
			family = a.key
			break
		}
	}
	if family == "" {
		return fmt.Errorf("unsupported signature algorithm %v", si.SignatureAlgorithm.Algorithm)
	}

	digest, err := digestOf(si.Hash)
	if err != nil {
		return err
	}

	switch pub := pub.(type) {
	case *rsa.PublicKey:
		var err error
		switch family {
		case "rsa":
			err = rsa.VerifyPKCS1v15(pub, si.Hash, digest, si.Signature)
		case "rsa-pss":
			err = rsa.VerifyPSS(pub, si.Hash, digest, si.Signature, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthAuto, Hash: si.Hash})
		default:
			return fmt.Errorf("signature algorithm is %s but the certificate holds an RSA key", family)
		}
		if err != nil {
			return fmt.Errorf("%s/%v signature does not verify against the certificate's key: %w", family, si.Hash, err)
		}
		return nil
	case *ecdsa.PublicKey:
		if family != "ecdsa" {
			return fmt.Errorf("signature algorithm is %s but the certificate holds an ECDSA key", family)
		}
		if !ecdsa.VerifyASN1(pub, digest, si.Signature) {
			return fmt.Errorf("ecdsa/%v signature does not verify against the certificate's key", si.Hash)
		}
		return nil
	default:
		return errors.New("the certificate's key type is not supported for module signatures (RSA or ECDSA)")
	}
}
