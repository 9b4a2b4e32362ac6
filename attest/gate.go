package attest

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/urmanac/sovos/internal/oci"
)

// Found is an attestation that counts.
type Found struct {
	// Digest is the digest of the referrer manifest holding it (what the state records).
	Digest string
	// Signed says it is a bundle whose signature the verifier checked.
	Signed    bool
	Statement *ParsedStatement
	// Predicate is set for a module-signature attestation.
	Predicate *ModuleSignatures
}

// NotFoundError says why no attestation of a digest counts: none is attached, or each
// one attached fails for the reason listed.
type NotFoundError struct {
	Ref           string // image@digest
	PredicateType string
	Reasons       []string
}

func (e *NotFoundError) Error() string {
	what := "module-signature attestation"
	if e.PredicateType == CosignSignType {
		what = "signature"
	}
	if len(e.Reasons) == 0 {
		return fmt.Sprintf("%s has no %s", e.Ref, what)
	}
	return fmt.Sprintf("no %s of %s counts: %s", what, e.Ref, strings.Join(e.Reasons, "; "))
}

// IsNotFound reports whether err says that no attestation counts (as opposed to a
// registry that could not be read).
func IsNotFound(err error) bool {
	var nf *NotFoundError
	return errors.As(err, &nf)
}

// Passing is the one answer to "does image@digest have a passing module-signature
// attestation for kernel k?", for promotion, `sovos verify` and rollback alike. It
// counts an attestation attached to that exact digest whose statement is about it,
// says passed, names k's image digest and certificate fingerprint (a kernel rebuilt
// under the same hash has a new key, so an attestation for the old one does not count)
// and lists no failed module. With a verifier (signing is configured) only a bundle
// whose signature it verifies counts; without one, an unsigned statement or the
// statement of any bundle does. It returns a *NotFoundError when none counts, another
// error when the registry could not be read.
func Passing(ctx context.Context, reg *oci.Client, image, digest string, k Kernel, v *Verifier) (*Found, error) {
	cands, err := Find(ctx, reg, image, digest, ModuleSignaturesType, v)
	if err != nil {
		return nil, err
	}
	nf := &NotFoundError{Ref: image + "@" + digest, PredicateType: ModuleSignaturesType, Reasons: cands.reasons}
	for _, f := range cands.Found {
		p, err := f.Statement.ModuleSignatures()
		if err != nil {
			nf.Reasons = append(nf.Reasons, fmt.Sprintf("%s: %v", short(f.Digest), err))
			continue
		}
		if why := p.Counts(k); why != "" {
			nf.Reasons = append(nf.Reasons, fmt.Sprintf("%s: %s", short(f.Digest), why))
			continue
		}
		f.Predicate = p
		return f, nil
	}
	return nil, nf
}

// Signature finds the image signature of image@digest that v verifies (cosign's
// CosignSignType statement about that digest).
func Signature(ctx context.Context, reg *oci.Client, image, digest string, v *Verifier) (*Found, error) {
	if v == nil {
		return nil, errors.New("checking a signature needs a signing configuration")
	}
	cands, err := Find(ctx, reg, image, digest, CosignSignType, v)
	if err != nil {
		return nil, err
	}
	if len(cands.Found) > 0 {
		return cands.Found[0], nil
	}
	return nil, &NotFoundError{Ref: image + "@" + digest, PredicateType: CosignSignType, Reasons: cands.reasons}
}

// Candidates are the attestations of one predicate type attached to a digest: those
// that read and verify (Found), and why the others do not.
type Candidates struct {
	Found   []*Found
	reasons []string
}

// Find lists the attestations of predicateType attached to image@digest whose
// statement is about that digest: with v, bundles v verifies; without, unsigned
// statements and the statements of bundles, unchecked.
func Find(ctx context.Context, reg *oci.Client, image, digest, predicateType string, v *Verifier) (*Candidates, error) {
	subject, err := reg.NewDigest(image + "@" + digest)
	if err != nil {
		return nil, err
	}
	refs, err := referrers(ctx, reg, subject, predicateType)
	if err != nil {
		return nil, err
	}
	out := &Candidates{}
	for _, r := range refs {
		var st *ParsedStatement
		var err error
		signed := false
		switch {
		case r.Bundle != nil && v != nil:
			st, err = v.Verify(r.Bundle, digest)
			signed = true
		case r.Bundle != nil:
			st, err = unverifiedStatement(r.Bundle)
		case v != nil:
			err = errors.New("it is not signed, and signing is configured")
		default:
			st, err = ParseStatement(r.Statement)
		}
		if err == nil && st.PredicateType != predicateType {
			err = fmt.Errorf("its statement's predicate type is %s", st.PredicateType)
		}
		if err == nil && !st.About(digest) {
			err = fmt.Errorf("its statement is about %s, not this digest", strings.Join(st.Subjects, ", "))
		}
		if err != nil {
			out.reasons = append(out.reasons, fmt.Sprintf("%s: %v", short(r.Digest), err))
			continue
		}
		out.Found = append(out.Found, &Found{Digest: r.Digest, Signed: signed, Statement: st})
	}
	return out, nil
}
