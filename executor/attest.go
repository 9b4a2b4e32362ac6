package executor

import (
	"context"
	"crypto/x509"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/urmanac/sovos/attest"
	"github.com/urmanac/sovos/config"
	"github.com/urmanac/sovos/planner"
	"github.com/urmanac/sovos/state"
)

// Attestations and signatures (SPEC §9): an extension that passes verification gets a
// module-signature attestation; with sovos.signing every image built is signed and every
// attestation is a signed bundle; promotion moves an extension's tags only when
// attest.Passing finds an attestation for its exact digest and its kernel.

// publisher attaches this apply's signatures and attestations.
func (a *applier) publisher() *attest.Publisher {
	return &attest.Publisher{Registry: a.opts.Registry, Signer: a.opts.Signer}
}

// signImages signs art's image and each of its stages when signing is configured, and
// notes the image signature in art.attestations. An adopted artifact (onlyUnsigned)
// is signed only when no signature by the configured key is attached yet.
func (a *applier) signImages(ctx context.Context, addr string, art *artifact, onlyUnsigned bool) error {
	if a.opts.Signer == nil {
		return nil
	}
	refs := []struct{ image, digest string }{{art.image, art.digest}}
	for _, t := range slices.Sorted(maps.Keys(art.stages)) {
		refs = append(refs, struct{ image, digest string }{art.stages[t].Image, art.stages[t].Digest})
	}
	for i, r := range refs {
		if r.digest == "" {
			continue
		}
		var sig string
		if onlyUnsigned {
			if f, err := attest.Signature(ctx, a.opts.Registry, r.image, r.digest, a.opts.Verifier); err == nil {
				sig = f.Digest
			} else if !attest.IsNotFound(err) {
				return fmt.Errorf("%s: looking for the signature of %s@%s: %w", addr, r.image, r.digest, err)
			}
		}
		if sig == "" {
			var err error
			if sig, err = a.publisher().SignImage(ctx, r.image, r.digest); err != nil {
				return fmt.Errorf("%s: %w", addr, err)
			}
		}
		if i == 0 {
			if art.attestations == nil {
				art.attestations = map[string]string{}
			}
			art.attestations[attest.CosignSignType] = sig
		}
	}
	return nil
}

// kernelFor returns the kernel an extension is checked against and its artifact in this
// apply, with the certificate needed.
func (a *applier) kernelFor(c *planner.ResourceChange) (string, *artifact, error) {
	kaddr, err := KernelOf(c.Resource)
	if err != nil {
		return "", nil, fmt.Errorf("%s: %w", c.Address, err)
	}
	kart := a.artifact(kaddr)
	if kart == nil || kart.cert == nil {
		return "", nil, fmt.Errorf("%s: its kernel %s has no recorded signing certificate, so its modules cannot be checked; declare signing_cert in %s and rebuild it (sovos apply -replace=%s)", c.Address, kaddr, kaddr, kaddr)
	}
	return kaddr, kart, nil
}

// kernelIdentity is what an attestation must name for a kernel to count: the digest of
// its image and the fingerprint of its signing certificate. Apply's gate and `sovos
// verify` (CheckAttestation) both ask it.
func kernelIdentity(digest string, cert *x509.Certificate) attest.Kernel {
	return attest.Kernel{Digest: digest, CertificateSHA256: attest.Fingerprint(cert)}
}

// checkAndAttest verifies the extension art holds (SPEC §6) and, when it passes,
// attaches its module-signature attestation. The verdict and the attestation go into
// art (record writes them); a failure is an error saying what failed.
func (a *applier) checkAndAttest(ctx context.Context, c *planner.ResourceChange, art *artifact) error {
	kaddr, kart, err := a.kernelFor(c)
	if err != nil {
		return err
	}
	ref := art.image + "@" + art.digest
	ch := CheckExtension(ctx, a.opts.Registry, a.p.Config, c.Resource, ref, kaddr, kart.cert)
	if ch.err != nil {
		return fmt.Errorf("%s: verifying %s: %w", c.Address, ref, ch.err)
	}
	art.verification = ch.verification(art.digest)
	if err := ch.failure(c.Address); err != nil {
		return err
	}
	d, err := a.publisher().Attest(ctx, art.image, art.digest, attest.ModuleSignaturesType, modulePredicate(c.Resource, art.image, ch, kaddr, kart))
	if err != nil {
		return fmt.Errorf("%s: %w", c.Address, err)
	}
	if art.attestations == nil {
		art.attestations = map[string]string{}
	}
	art.attestations[attest.ModuleSignaturesType] = d
	a.mu.Lock()
	a.verified[c.Address] = art.digest
	a.mu.Unlock()
	return nil
}

// verifyExtension checks a built (or recorded) extension's modules against its kernel's
// certificate and its Talos compatibility against the profiles using it, records the
// verdict, and attaches the module-signature attestation when it passes. A
// verification already recorded for this exact digest is not repeated.
func (a *applier) verifyExtension(ctx context.Context, c *planner.ResourceChange) error {
	art := a.artifact(c.Address)
	if art == nil || art.digest == "" {
		return fmt.Errorf("%s: no recorded digest to verify", c.Address)
	}
	a.mu.Lock()
	done := a.verified[c.Address] == art.digest
	attested := art.attestations[attest.ModuleSignaturesType] != ""
	a.mu.Unlock()
	if done && (c.Action == planner.ActionNoop || c.Action == planner.ActionPromote) {
		if attested {
			return nil
		}
		// Verified by an earlier release, which attached no attestation: find one, or
		// verify again and attach it, once.
		return a.attested(ctx, c, art)
	}
	checked := &artifact{image: art.image, digest: art.digest, attestations: maps.Clone(art.attestations)}
	err := a.checkAndAttest(ctx, c, checked)
	if checked.verification != nil {
		a.mu.Lock()
		art.attestations = checked.attestations
		a.mu.Unlock()
		a.update(func(x *state.Index) {
			if rec := x.Get(c.Address); rec != nil {
				rec.Verified = checked.verification
				rec.Attestations = maps.Clone(checked.attestations)
			}
		})
	}
	return err
}

// failure is the error of a check that did not pass, nil when it passed.
func (ch *ExtensionCheck) failure(addr string) error {
	if ch.OK {
		return nil
	}
	problems := ch.problems()
	if len(problems) == 1 && ch.Problem != "" {
		return fmt.Errorf("%s: %s does not pass verification: %s", addr, ch.Ref, ch.Problem)
	}
	return fmt.Errorf("%s: %s does not pass verification against %s's signing key (a board would refuse these modules: \"key was rejected by service\"):\n      %s",
		addr, ch.Ref, ch.Kernel, strings.Join(problems, "\n      "))
}

// modulePredicate is the module-signature attestation of a passing check.
func modulePredicate(ext *config.Resource, image string, ch *ExtensionCheck, kaddr string, kart *artifact) *attest.ModuleSignatures {
	p := &attest.ModuleSignatures{
		Extension:  attest.ExtensionRef{Address: ext.Addr.String(), Image: image},
		Kernel:     attest.KernelRef{Address: kaddr, Image: kart.image, Digest: kart.digest, CertificateSHA256: attest.Fingerprint(kart.cert)},
		Checked:    attest.CheckedImage{Platform: ch.Platform, Digest: ch.Checked},
		Modules:    []attest.Module{},
		Result:     attest.ResultPassed,
		VerifiedAt: time.Now().UTC().Truncate(time.Second),
		Verifier:   "sovos " + config.SovosVersion,
	}
	for _, m := range ch.Modules {
		am := attest.Module{Path: m.Path, HashAlgorithm: m.HashAlgorithm, Result: string(m.Verdict)}
		if m.Signer != nil {
			am.Signer = &attest.ModuleSigner{Issuer: m.Signer.Issuer, Serial: m.Signer.Serial, SubjectKeyID: m.Signer.SubjectKeyID}
		}
		p.Modules = append(p.Modules, am)
	}
	return p
}

// gate is the promotion gate of an extension (SPEC §9): its tags move only when a
// module-signature attestation for this exact digest names the kernel digest and
// certificate this apply records for its kernel (signed, when signing is configured).
// An extension without one (built by an earlier release, or before signing was
// configured) is verified again now and attested before it is promoted.
func (a *applier) gate(ctx context.Context, c *planner.ResourceChange, art *artifact) error {
	if err := a.attested(ctx, c, art); err != nil {
		return fmt.Errorf("not promoted: %w", err)
	}
	return nil
}

// attested makes sure art, a recorded extension, has a module-signature attestation
// that counts for its kernel (attest.Passing): found, or, when none counts, made after
// verifying the extension again (SPEC §9: an extension built by an earlier release has
// none). It records the attestation's digest.
func (a *applier) attested(ctx context.Context, c *planner.ResourceChange, art *artifact) error {
	kaddr, kart, err := a.kernelFor(c)
	if err != nil {
		return err
	}
	f, err := attest.Passing(ctx, a.opts.Registry, art.image, art.digest, kernelIdentity(kart.digest, kart.cert), a.opts.Verifier)
	if attest.IsNotFound(err) {
		a.log.Info("no module-signature attestation counts for this kernel: verifying again", "address", c.Address, "kernel", kaddr, "why", err)
		checked := &artifact{image: art.image, digest: art.digest, attestations: maps.Clone(art.attestations)}
		if cerr := a.checkAndAttest(ctx, c, checked); cerr != nil {
			if checked.verification != nil {
				a.update(func(x *state.Index) {
					if rec := x.Get(c.Address); rec != nil {
						rec.Verified = checked.verification
					}
				})
			}
			return cerr
		}
		f, err = attest.Passing(ctx, a.opts.Registry, art.image, art.digest, kernelIdentity(kart.digest, kart.cert), a.opts.Verifier)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", c.Address, err)
	}
	a.noteAttestation(c.Address, art, attest.ModuleSignaturesType, f.Digest)
	return nil
}

// noteAttestation records digest as art's attestation of predicateType, in this apply
// and in addr's state record.
func (a *applier) noteAttestation(addr string, art *artifact, predicateType, digest string) {
	a.mu.Lock()
	if art.attestations == nil {
		art.attestations = map[string]string{}
	}
	art.attestations[predicateType] = digest
	a.mu.Unlock()
	a.update(func(x *state.Index) {
		if rec := x.Get(addr); rec != nil {
			if rec.Attestations == nil {
				rec.Attestations = map[string]string{}
			}
			rec.Attestations[predicateType] = digest
		}
	})
}

// signRecorded signs an unchanged resource that was never signed (built before
// sovos.signing was configured, or by an earlier release), so that turning signing on
// signs what is already built at the next apply, once: the state then records its
// signature. An extension also gets a signed module-signature attestation (the one it
// has is unsigned, or missing): found, or made after verifying it again.
func (a *applier) signRecorded(ctx context.Context, c *planner.ResourceChange) error {
	art := a.artifact(c.Address)
	if a.opts.Signer == nil || art == nil || art.digest == "" || art.image == "" {
		return nil
	}
	a.mu.Lock()
	signed := art.attestations[attest.CosignSignType] != ""
	a.mu.Unlock()
	if signed {
		return nil
	}
	if err := a.signBeforePromotion(ctx, c, art); err != nil {
		return err
	}
	if c.Type == config.TypeExtension {
		return a.attested(ctx, c, art)
	}
	return nil
}

// signBeforePromotion signs a resource whose stable tags are about to move and that
// carries no signature yet (built before sovos.signing was configured), so no stable
// tag points at an unsigned image.
func (a *applier) signBeforePromotion(ctx context.Context, c *planner.ResourceChange, art *artifact) error {
	if a.opts.Signer == nil || art.attestations[attest.CosignSignType] != "" {
		return nil
	}
	signed := &artifact{image: art.image, digest: art.digest, stages: art.stages}
	if err := a.signImages(ctx, c.Address, signed, true); err != nil {
		return err
	}
	a.noteAttestation(c.Address, art, attest.CosignSignType, signed.attestations[attest.CosignSignType])
	return nil
}
