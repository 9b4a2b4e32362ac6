package verify

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"strings"
)

// The CMS structures below are those of RFC 5652, reduced to what a module signature
// holds. They are parsed with encoding/asn1 rather than a PKCS#7 library because the
// maintained Go ones model the signer identifier as issuerAndSerialNumber only and cannot
// read what `sign-file -k` writes (a [0] IMPLICIT subjectKeyIdentifier).

var (
	oidData       = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 1}
	oidSignedData = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 2}
)

type contentInfo struct {
	ContentType asn1.ObjectIdentifier
	Content     asn1.RawValue `asn1:"explicit,tag:0"`
}

type signedData struct {
	Version          int
	DigestAlgorithms []pkix.AlgorithmIdentifier `asn1:"set"`
	EncapContentInfo encapsulatedContentInfo
	Certificates     asn1.RawValue   `asn1:"optional,tag:0"`
	CRLs             asn1.RawValue   `asn1:"optional,tag:1"`
	SignerInfos      []asn1.RawValue `asn1:"set"`
}

type encapsulatedContentInfo struct {
	EContentType asn1.ObjectIdentifier
	EContent     asn1.RawValue `asn1:"optional,explicit,tag:0"`
}

type signerInfo struct {
	Version            int
	SID                asn1.RawValue
	DigestAlgorithm    pkix.AlgorithmIdentifier
	SignedAttrs        asn1.RawValue `asn1:"optional,tag:0"`
	SignatureAlgorithm pkix.AlgorithmIdentifier
	Signature          []byte
	UnsignedAttrs      asn1.RawValue `asn1:"optional,tag:1"`
}

type issuerAndSerialNumber struct {
	Issuer asn1.RawValue
	Serial *big.Int
}

// SignerInfo is one signer of a module signature.
type SignerInfo struct {
	// Signer names the key that made the signature.
	Signer Signer
	// Hash is the digest algorithm named by the signer info, zero if sovos does not know it.
	Hash crypto.Hash
	// DigestAlgorithm and SignatureAlgorithm are the algorithm OIDs as written.
	DigestAlgorithm    asn1.ObjectIdentifier
	SignatureAlgorithm pkix.AlgorithmIdentifier
	// Signature is the signature value.
	Signature []byte
	// HasSignedAttrs reports signed (authenticated) attributes, which the kernel rejects
	// in a module signature.
	HasSignedAttrs bool
}

// Signer identifies a signing key the way CMS does: by the issuer and serial number of
// its certificate (sign-file's default) or by its subject key identifier (sign-file -k).
type Signer struct {
	// RawIssuer is the DER issuer name; nil when the signer is named by key id.
	RawIssuer []byte
	// Serial is the certificate serial number; nil when the signer is named by key id.
	Serial *big.Int
	// KeyID is the subject key identifier; nil when the signer is named by issuer and serial.
	KeyID []byte
}

// String names the signer for a person: "issuer CN=x, serial 0x1f" or "key id 0a1b...".
func (s Signer) String() string {
	if s.KeyID != nil {
		return "key id " + hex.EncodeToString(s.KeyID)
	}
	return fmt.Sprintf("issuer %s, serial %s", s.IssuerName(), formatSerial(s.Serial))
}

// IssuerName renders RawIssuer as an RFC 2253 distinguished name (empty for key ids).
func (s Signer) IssuerName() string {
	if s.RawIssuer == nil {
		return ""
	}
	var rdns pkix.RDNSequence
	if rest, err := asn1.Unmarshal(s.RawIssuer, &rdns); err != nil || len(rest) != 0 {
		return "<unparsable name " + hex.EncodeToString(s.RawIssuer) + ">"
	}
	var name pkix.Name
	name.FillFromRDNSequence(&rdns)
	return name.String()
}

// ID names the signer as the attestation records it (SignerID): the issuer as an RFC
// 2253 name and the serial in hex, or the subject key identifier in hex.
func (s Signer) ID() *SignerID {
	if s.KeyID != nil {
		return &SignerID{SubjectKeyID: hex.EncodeToString(s.KeyID)}
	}
	return &SignerID{Issuer: s.IssuerName(), Serial: formatSerial(s.Serial)}
}

// Matches reports whether cert is the signer's certificate: the same raw issuer and serial
// number, or the same subject key identifier, which is how the kernel looks up the key.
func (s Signer) Matches(cert *x509.Certificate) bool {
	if cert == nil {
		return false
	}
	if s.KeyID != nil {
		return len(cert.SubjectKeyId) > 0 && bytes.Equal(s.KeyID, cert.SubjectKeyId)
	}
	return s.Serial != nil && cert.SerialNumber != nil &&
		bytes.Equal(s.RawIssuer, cert.RawIssuer) && s.Serial.Cmp(cert.SerialNumber) == 0
}

// CertificateSigner names cert in the form that a signature uses (by key id or by
// issuer and serial), so a report can say what was expected in the terms of what was
// found. A certificate without a subject key identifier is named by issuer and serial.
func CertificateSigner(cert *x509.Certificate, byKeyID bool) Signer {
	if byKeyID && len(cert.SubjectKeyId) > 0 {
		return Signer{KeyID: cert.SubjectKeyId}
	}
	return Signer{RawIssuer: cert.RawIssuer, Serial: cert.SerialNumber}
}

func formatSerial(n *big.Int) string {
	if n == nil {
		return "<none>"
	}
	if n.Sign() < 0 {
		return "-0x" + strings.TrimPrefix(n.Text(16), "-")
	}
	return "0x" + n.Text(16)
}

// ParsePKCS7 parses the DER CMS SignedData of a module signature and returns its signers.
// It insists on what the kernel insists on for a module: signed data over the id-data
// content type, detached (no content inside), at least one signer.
func ParsePKCS7(der []byte) ([]SignerInfo, error) {
	var ci contentInfo
	rest, err := asn1.Unmarshal(der, &ci)
	if err != nil {
		return nil, fmt.Errorf("PKCS#7: %w", err)
	}
	if len(rest) != 0 {
		return nil, fmt.Errorf("PKCS#7: %d bytes of trailing data after the ContentInfo", len(rest))
	}
	if !ci.ContentType.Equal(oidSignedData) {
		return nil, fmt.Errorf("PKCS#7: content type %v is not signedData", ci.ContentType)
	}
	var sd signedData
	rest, err = asn1.Unmarshal(ci.Content.Bytes, &sd)
	if err != nil {
		return nil, fmt.Errorf("PKCS#7 SignedData: %w", err)
	}
	if len(rest) != 0 {
		return nil, fmt.Errorf("PKCS#7 SignedData: %d bytes of trailing data", len(rest))
	}
	if !sd.EncapContentInfo.EContentType.Equal(oidData) {
		return nil, fmt.Errorf("PKCS#7 SignedData: content type %v is not id-data", sd.EncapContentInfo.EContentType)
	}
	if len(sd.EncapContentInfo.EContent.FullBytes) != 0 {
		return nil, errors.New("PKCS#7 SignedData: content is embedded, but a module signature must be detached")
	}
	if len(sd.SignerInfos) == 0 {
		return nil, errors.New("PKCS#7 SignedData: no signer")
	}
	signers := make([]SignerInfo, 0, len(sd.SignerInfos))
	for i, raw := range sd.SignerInfos {
		si, err := parseSignerInfo(raw.FullBytes)
		if err != nil {
			return nil, fmt.Errorf("PKCS#7 SignerInfo %d: %w", i, err)
		}
		signers = append(signers, si)
	}
	return signers, nil
}

func parseSignerInfo(der []byte) (SignerInfo, error) {
	var raw signerInfo
	rest, err := asn1.Unmarshal(der, &raw)
	if err != nil {
		return SignerInfo{}, err
	}
	if len(rest) != 0 {
		return SignerInfo{}, fmt.Errorf("%d bytes of trailing data", len(rest))
	}
	signer, err := parseSignerIdentifier(raw.SID)
	if err != nil {
		return SignerInfo{}, err
	}
	if len(raw.Signature) == 0 {
		return SignerInfo{}, errors.New("empty signature")
	}
	return SignerInfo{
		Signer:             signer,
		Hash:               hashFromOID(raw.DigestAlgorithm.Algorithm),
		DigestAlgorithm:    raw.DigestAlgorithm.Algorithm,
		SignatureAlgorithm: raw.SignatureAlgorithm,
		Signature:          raw.Signature,
		HasSignedAttrs:     len(raw.SignedAttrs.FullBytes) != 0,
	}, nil
}

// parseSignerIdentifier reads a SignerIdentifier CHOICE: issuerAndSerialNumber (a
// SEQUENCE) or subjectKeyIdentifier ([0] IMPLICIT OCTET STRING).
func parseSignerIdentifier(sid asn1.RawValue) (Signer, error) {
	switch {
	case sid.Class == asn1.ClassUniversal && sid.Tag == asn1.TagSequence && sid.IsCompound:
		var ias issuerAndSerialNumber
		rest, err := asn1.Unmarshal(sid.FullBytes, &ias)
		if err != nil {
			return Signer{}, fmt.Errorf("issuerAndSerialNumber: %w", err)
		}
		if len(rest) != 0 {
			return Signer{}, errors.New("issuerAndSerialNumber: trailing data")
		}
		if ias.Issuer.Class != asn1.ClassUniversal || ias.Issuer.Tag != asn1.TagSequence || !ias.Issuer.IsCompound {
			return Signer{}, errors.New("issuerAndSerialNumber: issuer is not a Name")
		}
		return Signer{RawIssuer: ias.Issuer.FullBytes, Serial: ias.Serial}, nil
	case sid.Class == asn1.ClassContextSpecific && sid.Tag == 0 && !sid.IsCompound:
		if len(sid.Bytes) == 0 {
			return Signer{}, errors.New("subjectKeyIdentifier is empty")
		}
		return Signer{KeyID: sid.Bytes}, nil
	default:
		return Signer{}, fmt.Errorf("signer identifier has unexpected tag (class %d, tag %d)", sid.Class, sid.Tag)
	}
}
