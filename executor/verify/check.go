package verify

import (
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
)

// Kind is the verdict on one module. The values are those the state records (SPEC §7,
// state.ModuleVerdict.Verdict).
type Kind string

// Verdict kinds.
const (
	// OK: signed, by the certificate's key, and the signature verifies.
	OK Kind = "ok"
	// Unsigned: no signature trailer at all.
	Unsigned Kind = "unsigned"
	// ForeignKey: a well-formed signature by a key other than the certificate's.
	ForeignKey Kind = "foreign_key"
	// Invalid: a damaged trailer or PKCS#7 blob, or a signature that does not verify.
	Invalid Kind = "invalid"
)

// Verdict is the outcome of checking one module.
type Verdict struct {
	Kind Kind
	// Detail says why, for every kind but OK: whose key signed a foreign module, what is
	// wrong with an invalid one.
	Detail string
	// Signers are the signers the signature names, when it could be parsed.
	Signers []Signer
	// Signer is the signer the verdict is about: the one whose key is the kernel's, else
	// the first named; nil when no signature could be parsed. Hash is the digest
	// algorithm its signer info names ("sha512"; the OID when sovos does not know it).
	Signer *Signer
	Hash   string
}

// OK reports whether the module passed.
func (v Verdict) OK() bool { return v.Kind == OK }

func (v Verdict) String() string {
	if v.Detail == "" {
		return string(v.Kind)
	}
	return string(v.Kind) + ": " + v.Detail
}

// CheckModule checks one decompressed module against the kernel's module-signing
// certificate, as the kernel would when loading it. Any input gives a verdict; it never
// panics.
func CheckModule(data []byte, cert *x509.Certificate) Verdict {
	sig, err := Parse(data)
	if errors.Is(err, ErrUnsigned) {
		return Verdict{Kind: Unsigned, Detail: "no module signature appended"}
	}
	if err != nil {
		return Verdict{Kind: Invalid, Detail: err.Error()}
	}
	return checkSigners(sig.Signers, contentDigest(sig.Content), cert)
}

// checkSigners gives the verdict on a module signed by signers, whose content digestOf
// hashes.
func checkSigners(signers []SignerInfo, digestOf digestFunc, cert *x509.Certificate) Verdict {
	v := Verdict{Signers: make([]Signer, 0, len(signers))}
	for _, si := range signers {
		v.Signers = append(v.Signers, si.Signer)
	}
	if len(signers) > 0 {
		v.about(signers[0])
	}
	if cert == nil {
		v.Kind, v.Detail = Invalid, "no certificate to check against"
		return v
	}
	for _, si := range signers {
		if !si.Signer.Matches(cert) {
			continue
		}
		v.about(si)
		// The kernel refuses authenticated attributes in module signatures outright.
		if si.HasSignedAttrs {
			v.Kind, v.Detail = Invalid, "the signer info has signed attributes, which the kernel rejects in a module signature (sign with -noattr, as sign-file does)"
			return v
		}
		if err := verifySignature(si, digestOf, cert.PublicKey); err != nil {
			v.Kind, v.Detail = Invalid, fmt.Sprintf("signed by the expected key (%s) but %v", si.Signer, err)
			return v
		}
		v.Kind = OK
		return v
	}
	// Like the kernel's trust check: a signature by an unknown key is not an error of the
	// module's form, it is the wrong key. Say whose it is and whose was expected.
	names := make([]string, 0, len(signers))
	for _, si := range signers {
		names = append(names, si.Signer.String())
	}
	expected := CertificateSigner(cert, signers[0].Signer.KeyID != nil)
	v.Kind = ForeignKey
	v.Detail = fmt.Sprintf("signed by %s; the kernel's key is %s", strings.Join(names, " and "), expected)
	return v
}

// about makes si the signer the verdict is about.
func (v *Verdict) about(si SignerInfo) {
	s := si.Signer
	v.Signer, v.Hash = &s, hashName(si.DigestAlgorithm)
}
