package rollback

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/urmanac/sovos/planner"
	"github.com/urmanac/sovos/state"
)

// gate is the check of SPEC §10: an extension's stable tags move back only to a digest
// that was checked against the kernel its stable tags move back to in the same serial —
// a module-signature attestation for that kernel digest and certificate, or, for builds
// made before attestations existed, a passing verification recorded against it.
type gate struct {
	req     Request
	earlier []*state.State
	loaded  bool
}

// kernelAddress is the kernel an extension's modules were checked against, as the state
// recorded it: its verification's kernel, else the one kernel it was built from.
func (g *gate) kernelAddress(ext *state.Resource) string {
	if ext.Verified != nil && ext.Verified.Kernel != "" {
		return ext.Verified.Kernel
	}
	var kernels []string
	for a := range ext.BuiltFrom {
		if strings.HasPrefix(a, "kernel.") {
			kernels = append(kernels, a)
		}
	}
	if len(kernels) == 1 {
		return kernels[0]
	}
	return ""
}

// check adds to problems every pair (extension digest, kernel digest) the target serial's
// tags would put together without a passing check.
func (g *gate) check(ctx context.Context, ext *state.Resource, problems *[]string) error {
	target := g.req.Target
	ka := g.kernelAddress(ext)
	k := target.Resource(ka)
	if k == nil {
		*problems = append(*problems, fmt.Sprintf("%s: serial %d does not record the kernel its modules were checked against, so its tags cannot move back safely", ext.Address, target.Serial))
		return nil
	}
	kernelDigests := distinct(k.Tags)
	if len(kernelDigests) == 0 && k.Digest != "" {
		kernelDigests = []string{k.Digest}
	}
	for _, e := range distinct(ext.Tags) {
		for _, kd := range kernelDigests {
			fp, err := certificateOf(ctx, g.req.Registry, k, kd, target, g.req.Current)
			if err != nil {
				*problems = append(*problems, fmt.Sprintf("%s: the signing certificate of %s@%s is unknown: %v", ext.Address, ka, planner.ShortDigest(kd), err))
				continue
			}
			ok, err := g.passed(ctx, ext, k, e, kd, fp)
			if err != nil {
				return err
			}
			if !ok {
				*problems = append(*problems, fmt.Sprintf("%s: %s@%s has no passing module-signature attestation for %s@%s (certificate %s), nor a passing verification recorded against it: its modules may be rejected by that kernel (\"key was rejected by service\")%s",
					ext.Address, ext.Image, e, ka, planner.ShortDigest(kd), shortFP(fp), g.why(ext, e)))
			}
		}
	}
	return nil
}

// passed reports whether extension digest e was checked against kernel digest kd with
// certificate fingerprint fp.
func (g *gate) passed(ctx context.Context, ext, k *state.Resource, e, kd, fp string) (bool, error) {
	if g.req.Attested != nil {
		ok, err := g.req.Attested(ctx, g.req.Registry, ext.Image, e, kd, fp)
		if err != nil {
			return false, fmt.Errorf("%s: reading the attestations of %s@%s: %w", ext.Address, ext.Image, e, err)
		}
		if ok {
			return true, nil
		}
	}
	// The verified entry: the target serial's, else an older serial's about this build
	// (the target's may be about a later build that failed).
	if verifiedIn(g.req.Target, ext.Address, k.Address, e, kd, fp) {
		return true, nil
	}
	if g.req.Earlier == nil {
		return false, nil
	}
	if !g.loaded {
		var err error
		if g.earlier, err = g.req.Earlier(ctx); err != nil {
			return false, fmt.Errorf("reading the history for %s's verification: %w", ext.Address, err)
		}
		g.loaded = true
	}
	for _, s := range g.earlier {
		if verifiedIn(s, ext.Address, k.Address, e, kd, fp) {
			return true, nil
		}
	}
	return false, nil
}

// verifiedIn reports whether s records a passing verification of extension addr at
// digest e, made while kernel ka was recorded at digest kd (whose certificate, when s
// has it, has fingerprint fp): verification is made against the kernel the same state
// records. It stands in for an attestation only for a build made before attestations
// existed: one the state records none for. A build that has attestations is judged by
// them alone, so a missing, unsigned or failing one is not waved through.
func verifiedIn(s *state.State, addr, ka, e, kd, fp string) bool {
	x, k := s.Resource(addr), s.Resource(ka)
	if x == nil || k == nil || x.Verified == nil || !x.Verified.OK || x.Verified.Digest != e || k.Digest != kd {
		return false
	}
	if x.Digest == e && len(x.Attestations) > 0 {
		return false
	}
	if x.Verified.Kernel != "" && x.Verified.Kernel != ka {
		return false
	}
	return len(k.SigningCert) == 0 || fingerprint(k.SigningCert) == fp
}

// why adds what the target serial recorded about the extension's verification.
func (g *gate) why(ext *state.Resource, e string) string {
	v := ext.Verified
	switch {
	case v == nil:
		return ""
	case v.Digest == e && !v.OK:
		return fmt.Sprintf("; serial %d records that it failed verification", g.req.Target.Serial)
	}
	return ""
}

// distinct returns a map's values, sorted, without duplicates.
func distinct(m map[string]string) []string {
	return slices.Compact(slices.Sorted(maps.Values(m)))
}
