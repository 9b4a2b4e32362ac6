package executor

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/urmanac/sovos/attest"
	"github.com/urmanac/sovos/config"
	"github.com/urmanac/sovos/executor/verify"
	"github.com/urmanac/sovos/internal/oci"
	"github.com/urmanac/sovos/state"
)

// ExtensionCheck is the verdict on one extension (SPEC §6): its modules against its
// kernel's signing key, and its Talos compatibility against the profiles that use it.
// apply and `sovos verify` both get it from CheckExtension.
type ExtensionCheck struct {
	Address string
	Ref     string // image@digest checked
	Kernel  string // the kernel's address
	OK      bool
	// Error says why the extension could not be checked (then Modules is empty).
	Error string
	// Problem is a failure of the image as a whole (no module where one is expected).
	Problem            string
	Modules            []verify.ModuleResult
	TalosCompatibility string
	Profiles           []ProfileCheck
	// Platform and Checked are the platform checked and the digest of its image
	// manifest, inside the index Ref names.
	Platform, Checked string
	// Attestation is the module-signature attestation found for Ref and its kernel
	// (`sovos verify`); nil when not looked for.
	Attestation *AttestationCheck

	err error // what Error says, for apply to wrap
}

// AttestationCheck is what `sovos verify` found of an extension's module-signature
// attestation (SPEC §9): one that counts for the recorded kernel (Digest, signed by the
// configured key when Signed), or why none does.
type AttestationCheck struct {
	OK     bool
	Digest string
	Signed bool
	Error  string
}

// ProfileCheck is the Talos compatibility of an extension with one profile using it.
type ProfileCheck struct {
	Address string
	Version string
	OK      bool
	Error   string
}

// KernelOf is the one answer to "which kernel are this extension's modules checked
// against?": the kernel its block names (kernel = kernel.X).
func KernelOf(ext *config.Resource) (string, error) {
	if ext == nil || ext.Build == nil || ext.Build.Kernel == nil {
		return "", errors.New("no kernel to verify its modules against")
	}
	return ext.Build.Kernel.String(), nil
}

// KernelCertificate is the signing certificate of a recorded kernel: the one the state
// keeps, else the artifact stored next to its image (a kernel adopted without a state).
func KernelCertificate(ctx context.Context, reg *oci.Client, k *state.Resource) (*x509.Certificate, error) {
	switch {
	case len(k.SigningCert) > 0:
		cert, err := x509.ParseCertificate(k.SigningCert)
		if err != nil {
			return nil, fmt.Errorf("%s: recorded signing certificate: %v", k.Address, err)
		}
		return cert, nil
	case k.Digest != "":
		cert, err := FetchCertificate(ctx, reg, k.Image, k.Digest)
		if err != nil {
			return nil, fmt.Errorf("%s has no recorded signing certificate, and none is stored next to its image (declare its signing_cert and rebuild it): %v", k.Address, err)
		}
		return cert, nil
	}
	return nil, fmt.Errorf("%s has no recorded signing certificate (declare its signing_cert and rebuild it)", k.Address)
}

// CheckExtension is the one extension verification, for apply and for `sovos verify`:
// every module of the image ref (image@digest, for ext's platform) against cert, the
// kernel's certificate (kernel names it; see KernelOf); an image without any module
// fails unless ext says modules = false; and the manifest's
// compatibility.talos.version must admit the version of every profile that uses the
// extension (cfg.Consumers).
func CheckExtension(ctx context.Context, reg *oci.Client, cfg *config.Config, ext *config.Resource, ref, kernel string, cert *x509.Certificate) *ExtensionCheck {
	ch := &ExtensionCheck{Address: ext.Addr.String(), Ref: ref, Kernel: kernel}
	rep, err := verify.CheckRef(ctx, reg, ref, ext.Platform, cert)
	if err != nil {
		ch.Error, ch.err = fmt.Sprintf("reading %s: %v", ref, err), err
		return ch
	}
	ch.Modules, ch.TalosCompatibility, ch.OK = rep.Modules, rep.TalosCompatibility, rep.OK
	ch.Platform, ch.Checked = ext.Platform, rep.Digest
	if rep.MissingModules(ext.Build != nil && ext.Build.NoModules) {
		ch.OK, ch.Problem = false, verify.NoModulesProblem
	}
	for _, p := range cfg.Consumers(ch.Address) {
		if p.Profile == nil {
			continue
		}
		pc := ProfileCheck{Address: p.Addr.String(), Version: p.Profile.Version, OK: true}
		if rep.TalosCompatibility != "" && p.Profile.Version != "" {
			if err := verify.CheckTalosCompatibility(rep.TalosCompatibility, p.Profile.Version); err != nil {
				pc.OK, pc.Error = false, err.Error()
				ch.OK = false
			}
		}
		ch.Profiles = append(ch.Profiles, pc)
	}
	return ch
}

// problems lists what fails the check, one line each.
func (ch *ExtensionCheck) problems() []string {
	var out []string
	if ch.Problem != "" {
		out = append(out, ch.Problem)
	}
	for _, m := range ch.Modules {
		if m.Verdict == verify.OK {
			continue
		}
		p := fmt.Sprintf("%s: %s", m.Path, m.Verdict)
		if m.Detail != "" {
			p += " (" + m.Detail + ")"
		}
		out = append(out, p)
	}
	for _, p := range ch.Profiles {
		if !p.OK {
			out = append(out, fmt.Sprintf("manifest.yaml compatibility.talos.version %q does not admit %s (version %s): %s", ch.TalosCompatibility, p.Address, p.Version, p.Error))
		}
	}
	return out
}

// verification is the check as the state records it.
func (ch *ExtensionCheck) verification(digest string) *state.Verification {
	v := &state.Verification{Digest: digest, Kernel: ch.Kernel, OK: ch.OK, At: time.Now().UTC(), Modules: []state.ModuleVerdict{}}
	for _, m := range ch.Modules {
		v.Modules = append(v.Modules, state.ModuleVerdict{Path: m.Path, Verdict: string(m.Verdict), Detail: m.Detail})
	}
	return v
}

// CheckAttestation looks for the module-signature attestation of ch.Ref that counts for
// the kernel recorded as k (its digest and certificate): attest.Passing, checked with v
// when signing is configured. A missing or failing attestation fails the check.
func CheckAttestation(ctx context.Context, reg *oci.Client, ch *ExtensionCheck, k *state.Resource, cert *x509.Certificate, v *attest.Verifier) {
	image, digest, _ := strings.Cut(ch.Ref, "@")
	ac := &AttestationCheck{}
	ch.Attestation = ac
	f, err := attest.Passing(ctx, reg, image, digest, kernelIdentity(k.Digest, cert), v)
	if err != nil {
		ac.Error = err.Error()
		var nf *attest.NotFoundError
		if errors.As(err, &nf) && len(nf.Reasons) == 0 {
			// Built by an earlier release, or its attestation was lost.
			ac.Error += ": the next `sovos apply` verifies it again and attaches one"
		}
		ch.OK = false
		return
	}
	ac.OK, ac.Digest, ac.Signed = true, f.Digest, f.Signed
}
