package verify

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
)

// SignOptions select how Sign names the signer and which digest it uses.
type SignOptions struct {
	// KeyID names the signer by subject key identifier, like `sign-file -k`, instead of
	// by issuer and serial number.
	KeyID bool
	// Hash is the digest algorithm; zero means SHA-512, the kernel's usual
	// CONFIG_MODULE_SIG_HASH.
	Hash crypto.Hash
}

// Sign returns module with a signature appended exactly as the kernel's sign-file
// writes it: a detached CMS SignedData without certificates or signed attributes
// (`openssl cms -sign -binary -noattr -nocerts -nosmimecap -outform DER`), the
// module_signature info and the marker. It is what tests and the modsign helper use to
// make modules; sovos itself only verifies.
func Sign(module []byte, key crypto.Signer, cert *x509.Certificate, opts SignOptions) ([]byte, error) {
	der, err := SignPKCS7(module, key, cert, opts)
	if err != nil {
		return nil, err
	}
	return appendTrailer(module, der), nil
}

type outSignerInfo struct {
	Version            int
	SID                asn1.RawValue
	DigestAlgorithm    pkix.AlgorithmIdentifier
	SignatureAlgorithm pkix.AlgorithmIdentifier
	Signature          []byte
}

type outSignedData struct {
	Version          int
	DigestAlgorithms []pkix.AlgorithmIdentifier `asn1:"set"`
	EncapContentInfo encapsulatedContentInfo
	SignerInfos      []asn1.RawValue `asn1:"set"`
}

type outContentInfo struct {
	ContentType asn1.ObjectIdentifier
	Content     asn1.RawValue
}

// SignPKCS7 returns the detached DER CMS SignedData over content that Sign appends.
func SignPKCS7(content []byte, key crypto.Signer, cert *x509.Certificate, opts SignOptions) ([]byte, error) {
	if key == nil || cert == nil {
		return nil, errors.New("sign: a key and a certificate are required")
	}
	h := opts.Hash
	if h == 0 {
		h = crypto.SHA512
	}
	hashOID, ok := oidFromHash(h)
	if !ok || !h.Available() {
		return nil, fmt.Errorf("sign: unsupported digest %v", h)
	}
	if pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool }); !ok || !pub.Equal(cert.PublicKey) {
		return nil, errors.New("sign: the key does not match the certificate")
	}

	// As openssl writes them: digest algorithms without parameters, rsaEncryption with
	// NULL parameters, ecdsa-with-SHAxxx without.
	var sigAlg pkix.AlgorithmIdentifier
	switch key.Public().(type) {
	case *rsa.PublicKey:
		sigAlg = pkix.AlgorithmIdentifier{Algorithm: oidRSAEncryption, Parameters: asn1.NullRawValue}
	case *ecdsa.PublicKey:
		for _, a := range signatureAlgorithms {
			if a.key == "ecdsa" && a.hash == h {
				sigAlg = pkix.AlgorithmIdentifier{Algorithm: a.oid}
			}
		}
		if sigAlg.Algorithm == nil {
			return nil, fmt.Errorf("sign: no ECDSA signature algorithm for %v", h)
		}
	default:
		return nil, fmt.Errorf("sign: unsupported key type %T (RSA or ECDSA)", key.Public())
	}

	version := 1
	var sid asn1.RawValue
	if opts.KeyID {
		if len(cert.SubjectKeyId) == 0 {
			return nil, errors.New("sign: the certificate has no subject key identifier to sign by key id")
		}
		version = 3
		sid = asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, Bytes: cert.SubjectKeyId}
	} else {
		serial, err := asn1.Marshal(cert.SerialNumber)
		if err != nil {
			return nil, fmt.Errorf("sign: serial: %w", err)
		}
		body := append(append([]byte{}, cert.RawIssuer...), serial...)
		sid = asn1.RawValue{Class: asn1.ClassUniversal, Tag: asn1.TagSequence, IsCompound: true, Bytes: body}
	}

	d := h.New()
	d.Write(content)
	signature, err := key.Sign(rand.Reader, d.Sum(nil), h)
	if err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}

	digestAlg := pkix.AlgorithmIdentifier{Algorithm: hashOID}
	si, err := asn1.Marshal(outSignerInfo{
		Version:            version,
		SID:                sid,
		DigestAlgorithm:    digestAlg,
		SignatureAlgorithm: sigAlg,
		Signature:          signature,
	})
	if err != nil {
		return nil, fmt.Errorf("sign: signer info: %w", err)
	}
	sd, err := asn1.Marshal(outSignedData{
		Version:          version,
		DigestAlgorithms: []pkix.AlgorithmIdentifier{digestAlg},
		EncapContentInfo: encapsulatedContentInfo{EContentType: oidData},
		SignerInfos:      []asn1.RawValue{{FullBytes: si}},
	})
	if err != nil {
		return nil, fmt.Errorf("sign: signed data: %w", err)
	}
	der, err := asn1.Marshal(outContentInfo{
		ContentType: oidSignedData,
		Content:     asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: sd},
	})
	if err != nil {
		return nil, fmt.Errorf("sign: content info: %w", err)
	}
	return der, nil
}
