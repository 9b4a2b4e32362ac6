package operation

import (
	"context"
	"fmt"

	"github.com/urmanac/sovos/attest"
	"github.com/urmanac/sovos/config"
	"github.com/urmanac/sovos/executor"
	"github.com/urmanac/sovos/internal/oci"
	"github.com/urmanac/sovos/state"
)

// VerifyRequest is `sovos verify [ADDR]...`.
type VerifyRequest struct {
	Inputs
	// Addresses picks extensions; none checks every recorded extension.
	Addresses []string
}

// VerifyResult holds one check per extension.
type VerifyResult struct {
	Checks []*executor.ExtensionCheck
	// OK is true when every check passed.
	OK bool
}

// Verify checks every recorded extension (SPEC §6) as apply does (executor.CheckExtension):
// its recorded digest against the recorded signing certificate of the kernel its block
// names, and its Talos compatibility against the profiles using it; and its
// module-signature attestation (SPEC §9) for that kernel, with its signature when
// sovos.signing is configured.
func Verify(ctx context.Context, req VerifyRequest) (*VerifyResult, error) {
	st, err := ReadState(ctx, req.Inputs)
	if err != nil {
		return nil, err
	}
	s := st.State
	if s == nil {
		return nil, fmt.Errorf("no state in %s: nothing has been applied yet, so there is nothing to verify", st.Backend)
	}
	recorded := state.NewIndex(s)
	var exts []*state.Resource
	for _, r := range s.Resources {
		if r.Type == config.TypeExtension {
			exts = append(exts, r)
		}
	}
	if len(req.Addresses) > 0 {
		exts = exts[:0]
		for _, a := range req.Addresses {
			r := recorded.Get(a)
			if r == nil {
				return nil, fmt.Errorf("no resource %s in the state in %s; `sovos state list` shows what is recorded", a, st.Backend)
			}
			if r.Type != config.TypeExtension {
				return nil, fmt.Errorf("%s is %s: verify checks extensions", a, config.A(r.Type))
			}
			exts = append(exts, r)
		}
	}
	reg, err := registryClient(st.Config.Settings)
	if err != nil {
		return nil, err
	}
	sig, err := loadSigning(req.Inputs, st.Config, false)
	if err != nil {
		return nil, err
	}
	res := &VerifyResult{OK: true}
	for _, r := range exts {
		ch := verifyRecorded(ctx, st.Config, recorded, r, reg, sig.verifier)
		res.OK = res.OK && ch.OK
		res.Checks = append(res.Checks, ch)
	}
	return res, nil
}

// verifyRecorded checks one recorded extension: against the kernel its block names
// (executor.KernelOf), with the certificate that kernel's record holds.
func verifyRecorded(ctx context.Context, cfg *config.Config, recorded *state.Index, r *state.Resource, reg *oci.Client, v *attest.Verifier) *executor.ExtensionCheck {
	ref := r.Image + "@" + r.Digest
	fail := func(kernel, format string, args ...any) *executor.ExtensionCheck {
		return &executor.ExtensionCheck{Address: r.Address, Ref: ref, Kernel: kernel, Error: fmt.Sprintf(format, args...)}
	}
	if r.Digest == "" {
		return fail("", "no digest recorded: apply it first")
	}
	ext := cfg.Resource(r.Address)
	if ext == nil {
		return fail("", "not in the configuration, so its kernel is unknown (the next apply forgets it)")
	}
	kernel, err := executor.KernelOf(ext)
	if err != nil {
		return fail("", "%v", err)
	}
	kr := recorded.Get(kernel)
	if kr == nil {
		return fail(kernel, "%s is not in the state: apply it first", kernel)
	}
	// The image is read for the extension's platform, and its Talos compatibility is
	// checked against each profile's version: neither may be left to a variable
	// without a value.
	if err := ext.Needs("platform"); err != nil {
		return fail(kernel, "%v", err)
	}
	for _, p := range cfg.Consumers(r.Address) {
		if err := p.Needs("version"); err != nil {
			return fail(kernel, "%v", err)
		}
	}
	cert, err := executor.KernelCertificate(ctx, reg, kr)
	if err != nil {
		return fail(kernel, "%v", err)
	}
	ch := executor.CheckExtension(ctx, reg, cfg, ext, ref, kernel, cert)
	if ch.Error == "" {
		// The module-signature attestation too (SPEC §9): for this digest and the
		// kernel the state records, signed when signing is configured.
		executor.CheckAttestation(ctx, reg, ch, kr, cert, v)
	}
	return ch
}
