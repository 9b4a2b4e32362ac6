package modsigntest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/binary"
	"errors"
	"fmt"

	// Registered so that crypto.Hash.Available reports them.
	_ "crypto/sha1"
	_ "crypto/sha256"
	_ "crypto/sha3"
	_ "crypto/sha512"
)

// The encoding of a module signature, written here independently of executor/verify's
// parser so that each checks the other (and openssl checks both, in verify's tests).
var (
	oidData          = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 1}
	oidSignedData    = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 2}
	oidRSAEncryption = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 1}
)

// digestOIDs are the digests sign-file offers (CONFIG_MODULE_SIG_HASH) and, for ECDSA keys,
// the ecdsa-with-<hash> signature algorithm openssl writes with them.
var digestOIDs = map[crypto.Hash]struct{ digest, ecdsa asn1.ObjectIdentifier }{
	crypto.SHA1:     {asn1.ObjectIdentifier{1, 3, 14, 3, 2, 26}, asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 1}},
	crypto.SHA256:   {asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 1}, asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 2}},
	crypto.SHA384:   {asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 2}, asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 3}},
	crypto.SHA512:   {asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 3}, asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 4}},
	crypto.SHA224:   {asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 4}, asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 1}},
	crypto.SHA3_256: {asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 8}, asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 3, 10}},
	crypto.SHA3_384: {asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 9}, asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 3, 11}},
	crypto.SHA3_512: {asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 10}, asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 3, 12}},
}

// Magic is the marker sign-file appends after a module's signature.
const Magic = "~Module signature appended~\n"

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
// make modules; sovos itself only verifies (executor/verify).
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

type outEncapsulatedContentInfo struct {
	EContentType asn1.ObjectIdentifier
}

type outSignedData struct {
	Version          int
	DigestAlgorithms []pkix.AlgorithmIdentifier `asn1:"set"`
	EncapContentInfo outEncapsulatedContentInfo
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
	oids, ok := digestOIDs[h]
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
		sigAlg = pkix.AlgorithmIdentifier{Algorithm: oids.ecdsa}
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

	digestAlg := pkix.AlgorithmIdentifier{Algorithm: oids.digest}
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
		EncapContentInfo: outEncapsulatedContentInfo{EContentType: oidData},
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

// appendTrailer appends a PKCS#7 blob, the kernel's struct module_signature
// (include/linux/module_signature.h: id_type PKEY_ID_PKCS7, the blob's length big-endian,
// everything else zero) and the marker to module, as sign-file does.
func appendTrailer(module, pkcs7 []byte) []byte {
	const infoSize, idPKCS7 = 12, 2
	out := make([]byte, 0, len(module)+len(pkcs7)+infoSize+len(Magic))
	out = append(out, module...)
	out = append(out, pkcs7...)
	var info [infoSize]byte
	info[2] = idPKCS7
	binary.BigEndian.PutUint32(info[8:], uint32(len(pkcs7)))
	out = append(out, info[:]...)
	return append(out, Magic...)
}
