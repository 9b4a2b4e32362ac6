package attest

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	intoto "github.com/in-toto/attestation/go/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"
)

// Predicate types sovos writes.
const (
	// ModuleSignaturesType is the predicate type of the module-signature attestation
	// (docs/attestations.md, docs/module-signatures.schema.json).
	ModuleSignaturesType = "https://github.com/urmanac/sovos/attestation/module-signatures/v1"
	// CosignSignType is the predicate type of an image signature as cosign v3 writes it:
	// an empty predicate about the image digest.
	CosignSignType = "https://sigstore.dev/cosign/sign/v1"
)

// PayloadType is the DSSE payload type of an in-toto statement.
const PayloadType = "application/vnd.in-toto+json"

// ModuleSignatures is the predicate of the module-signature attestation: which kernel's
// key every module of the extension was checked against, in which image manifest, and
// what each module's signature said. sovos writes one only for an extension that passed.
type ModuleSignatures struct {
	Extension ExtensionRef `json:"extension"`
	Kernel    KernelRef    `json:"kernel"`
	// Checked is the platform image manifest whose filesystem was checked, inside the
	// index the statement's subject names.
	Checked CheckedImage `json:"checked"`
	Modules []Module     `json:"modules"`
	// Result is "passed": every module is signed by the kernel's key.
	Result     string    `json:"result"`
	VerifiedAt time.Time `json:"verified_at"`
	Verifier   string    `json:"verifier"` // "sovos VERSION"
}

// ExtensionRef names the extension the attestation is about.
type ExtensionRef struct {
	Address string `json:"address"` // extension.hailort
	Image   string `json:"image"`   // its repository
}

// KernelRef names the kernel whose key the modules were checked against: its address,
// the digest of the kernel image built with that key, and the SHA-256 fingerprint of
// its module-signing certificate (of the DER).
type KernelRef struct {
	Address           string `json:"address"`
	Image             string `json:"image"`
	Digest            string `json:"digest"`
	CertificateSHA256 string `json:"certificate_sha256"`
}

// CheckedImage is the image manifest checked, and its platform.
type CheckedImage struct {
	Platform string `json:"platform"`
	Digest   string `json:"digest"`
}

// Module is one kernel module's verdict.
type Module struct {
	Path string `json:"path"`
	// Signer names the key that signed it: issuer and serial, or subject key id.
	Signer *ModuleSigner `json:"signer,omitempty"`
	// HashAlgorithm is the digest its signature uses ("sha512").
	HashAlgorithm string `json:"hash_algorithm,omitempty"`
	// Result is "ok", or the failure: unsigned, foreign_key, invalid.
	Result string `json:"result"`
}

// ModuleSigner is a module's signer as its PKCS#7 signer info names it.
type ModuleSigner struct {
	Issuer       string `json:"issuer,omitempty"`
	Serial       string `json:"serial,omitempty"`
	SubjectKeyID string `json:"subject_key_id,omitempty"`
}

// Result values.
const (
	ResultPassed = "passed"
	ModuleOK     = "ok"
)

// Kernel identifies the kernel an attestation must name to count: the digest of its
// image and the fingerprint of its signing certificate. A kernel rebuilt under the same
// hash has a new key, so both are compared.
type Kernel struct {
	Digest            string
	CertificateSHA256 string
}

// Fingerprint is the SHA-256 fingerprint of a certificate (of its DER), in hex.
func Fingerprint(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.Raw)
	return hex.EncodeToString(sum[:])
}

// Statement returns the in-toto Statement v1 (JSON) of predicate about subject, an
// image digest in repository name ("sha256:..."; name may be empty, as cosign leaves
// it for an image signature).
func Statement(name, subject, predicateType string, predicate any) ([]byte, error) {
	alg, hexDigest, ok := strings.Cut(subject, ":")
	if !ok || alg == "" || hexDigest == "" {
		return nil, fmt.Errorf("statement subject %q is not a digest", subject)
	}
	raw, err := json.Marshal(predicate)
	if err != nil {
		return nil, err
	}
	pred := &structpb.Struct{}
	if err := protojson.Unmarshal(raw, pred); err != nil {
		return nil, fmt.Errorf("predicate: %w", err)
	}
	st := &intoto.Statement{
		Type:          intoto.StatementTypeUri,
		Subject:       []*intoto.ResourceDescriptor{{Name: name, Digest: map[string]string{alg: hexDigest}}},
		PredicateType: predicateType,
		Predicate:     pred,
	}
	if err := st.Validate(); err != nil {
		return nil, fmt.Errorf("statement: %w", err)
	}
	return protojson.Marshal(st)
}

// ParsedStatement is a statement read back: its subject digests and predicate.
type ParsedStatement struct {
	PredicateType string
	// Subjects are the subject digests, "sha256:..." each.
	Subjects  []string
	Predicate json.RawMessage
}

// About reports whether digest ("sha256:...") is one of the statement's subjects.
func (s *ParsedStatement) About(digest string) bool {
	for _, d := range s.Subjects {
		if d == digest {
			return true
		}
	}
	return false
}

// ParseStatement reads an in-toto statement (v1, or v0.1 as cosign attest writes).
func ParseStatement(data []byte) (*ParsedStatement, error) {
	var st intoto.Statement
	if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(data, &st); err != nil {
		return nil, fmt.Errorf("not an in-toto statement: %w", err)
	}
	if err := st.Validate(); err != nil {
		return nil, fmt.Errorf("not a valid in-toto statement: %w", err)
	}
	out := &ParsedStatement{PredicateType: st.GetPredicateType()}
	for _, s := range st.GetSubject() {
		for alg, d := range s.GetDigest() {
			out.Subjects = append(out.Subjects, alg+":"+d)
		}
	}
	if st.GetPredicate() != nil {
		raw, err := protojson.Marshal(st.GetPredicate())
		if err != nil {
			return nil, err
		}
		out.Predicate = raw
	}
	return out, nil
}

// ModuleSignaturesOf decodes the predicate of a module-signature statement.
func (s *ParsedStatement) ModuleSignatures() (*ModuleSignatures, error) {
	if s.PredicateType != ModuleSignaturesType {
		return nil, fmt.Errorf("predicate type %s, not %s", s.PredicateType, ModuleSignaturesType)
	}
	if len(s.Predicate) == 0 {
		return nil, errors.New("the statement has no predicate")
	}
	var p ModuleSignatures
	if err := json.Unmarshal(s.Predicate, &p); err != nil {
		return nil, fmt.Errorf("module-signature predicate: %w", err)
	}
	return &p, nil
}

// Counts reports why p does not count for kernel k, or "" when it does: it must say
// passed, name that kernel digest and certificate, and every module must be ok.
func (p *ModuleSignatures) Counts(k Kernel) string {
	switch {
	case p.Result != ResultPassed:
		return fmt.Sprintf("its result is %q, not %q", p.Result, ResultPassed)
	case p.Kernel.Digest != k.Digest:
		return fmt.Sprintf("it names kernel image %s, not %s (the kernel was rebuilt since: its key is another)", short(p.Kernel.Digest), short(k.Digest))
	case !strings.EqualFold(p.Kernel.CertificateSHA256, k.CertificateSHA256):
		return fmt.Sprintf("it names kernel certificate %s, not %s", short(p.Kernel.CertificateSHA256), short(k.CertificateSHA256))
	}
	for _, m := range p.Modules {
		if m.Result != ModuleOK {
			return fmt.Sprintf("module %s: %s", m.Path, m.Result)
		}
	}
	return ""
}

// short abbreviates a digest or fingerprint for a message.
func short(d string) string {
	_, h, ok := strings.Cut(d, ":")
	if !ok {
		h = d
	}
	if len(h) > 12 {
		return d[:len(d)-len(h)] + h[:12]
	}
	return d
}
