// Package rollback moves stable tags back to where an earlier state serial recorded them
// (SPEC §10 `sovos rollback`): it plans the moves from two states and the registry,
// refuses an extension that was not checked against the kernel it would run with, and
// moves the tags through the registry client. It builds nothing.
package rollback

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/urmanac/sovos/executor"
	"github.com/urmanac/sovos/internal/oci"
	"github.com/urmanac/sovos/state"
)

// Move is one stable tag moved back.
type Move struct {
	// Address and Type are the resource's.
	Address, Type string
	// Image is the repository and Tag the stable tag: the reference Image:Tag moves.
	Image, Tag string
	// From is the digest the tag points at now ("" when it does not exist); To the one
	// it pointed at in the target serial.
	From, To string
}

// Ref is the moved reference, image:tag.
func (m Move) Ref() string { return m.Image + ":" + m.Tag }

// Plan is a rollback to an earlier serial.
type Plan struct {
	// Workspace is the state's workspace; Current the serial of the state now, To the
	// serial rolled back to.
	Workspace   string
	Current, To uint64
	// Moves are the tags that point elsewhere now, in dependency order (kernels first).
	Moves []Move
	// Unchanged counts the stable tags already where they were at To.
	Unchanged int
	// Notes say what is left as it is, and why (a resource no longer in the state, a tag
	// that did not exist at To).
	Notes []string

	target *state.State
}

// AttestedFunc answers whether the extension image@digest has a passing
// module-signature attestation (SPEC §9) for the kernel image digest kernelDigest whose
// signing certificate has the SHA-256 fingerprint (lowercase hex) fingerprint.
type AttestedFunc func(ctx context.Context, reg *oci.Client, image, digest, kernelDigest, fingerprint string) (bool, error)

// Request is what a rollback is planned from.
type Request struct {
	// Current is the state now, Target the state at the serial rolled back to (its
	// history entry).
	Current, Target *state.State
	// Registry reads the tags as they are, and holds the moves.
	Registry *oci.Client
	// Attested is the module-signature attestation check; nil when there is none yet,
	// and then only the states' verified entries count.
	Attested AttestedFunc
	// Earlier returns the history entries older than Target, newest first: their
	// verified entries stand in for extensions built before attestations existed when
	// Target's own is about another build. nil means none.
	Earlier func(ctx context.Context) ([]*state.State, error)
}

// RefusedError is a rollback that would put an extension next to a kernel it was not
// checked against, or a tag on an artifact that is gone: nothing was moved.
type RefusedError struct {
	To       uint64
	Problems []string
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("rollback to serial %d refused, nothing was moved:\n  - %s", e.To, strings.Join(e.Problems, "\n  - "))
}

// MakePlan compares the stable tags recorded at req.Target with where they point in the
// registry now, checks that every digest it would move a tag to still exists, and
// checks every extension whose tags (or whose kernel's tags) move. It moves nothing.
func MakePlan(ctx context.Context, req Request) (*Plan, error) {
	cur, target := req.Current, req.Target
	if cur == nil || target == nil {
		return nil, errors.New("rollback: no state")
	}
	if target.Lineage != cur.Lineage {
		return nil, fmt.Errorf("serial %d belongs to lineage %s, the state now to %s (a state pushed with -force replaced the history): nothing to roll back to", target.Serial, target.Lineage, cur.Lineage)
	}
	p := &Plan{Workspace: cur.Workspace, Current: cur.Serial, To: target.Serial, target: target}
	var problems []string
	for _, r := range target.Resources {
		if len(r.Tags) == 0 {
			continue
		}
		now := cur.Resource(r.Address)
		if now == nil {
			p.Notes = append(p.Notes, fmt.Sprintf("%s is no longer in the state: its tags (%s) are left as they are", r.Address, strings.Join(slices.Sorted(maps.Keys(r.Tags)), ", ")))
			continue
		}
		for _, t := range slices.Sorted(maps.Keys(now.Tags)) {
			if _, ok := r.Tags[t]; !ok {
				p.Notes = append(p.Notes, fmt.Sprintf("%s: tag %s did not exist at serial %d: it is left as it is", r.Address, t, target.Serial))
			}
		}
		for _, t := range slices.Sorted(maps.Keys(r.Tags)) {
			ref := r.Image + ":" + t
			from, err := digestOf(ctx, req.Registry, ref)
			if err != nil {
				return nil, fmt.Errorf("%s: reading %s: %w", r.Address, ref, err)
			}
			if from == r.Tags[t] {
				p.Unchanged++
				continue
			}
			p.Moves = append(p.Moves, Move{Address: r.Address, Type: r.Type, Image: r.Image, Tag: t, From: from, To: r.Tags[t]})
		}
	}
	slices.SortStableFunc(p.Moves, func(a, b Move) int {
		return cmp.Or(cmp.Compare(typeOrder(a.Type), typeOrder(b.Type)), strings.Compare(a.Address, b.Address), strings.Compare(a.Tag, b.Tag))
	})
	// Every digest a tag moves to must still be there (gc, or a person, may have
	// deleted it since).
	checked := map[string]bool{}
	for _, m := range p.Moves {
		ref := m.Image + "@" + m.To
		if checked[ref] {
			continue
		}
		checked[ref] = true
		d, err := req.Registry.NewDigest(ref)
		if err != nil {
			return nil, fmt.Errorf("%s: %s: %w", m.Address, ref, err)
		}
		if _, err := req.Registry.Head(ctx, d); oci.IsNotFound(err) {
			problems = append(problems, fmt.Sprintf("%s: %s no longer exists in the registry (deleted by `sovos gc` or by hand), so %s cannot move back to it", m.Address, ref, m.Ref()))
		} else if err != nil {
			return nil, fmt.Errorf("%s: checking %s: %w", m.Address, ref, err)
		}
	}
	g := &gate{req: req}
	for _, r := range target.Resources {
		if r.Type != "extension" || len(r.Tags) == 0 || cur.Resource(r.Address) == nil || !p.touches(r, g.kernelAddress(r)) {
			continue
		}
		if err := g.check(ctx, r, &problems); err != nil {
			return nil, err
		}
	}
	if len(problems) > 0 {
		return nil, &RefusedError{To: target.Serial, Problems: problems}
	}
	return p, nil
}

// touches reports whether the plan moves a tag of ext or of its kernel.
func (p *Plan) touches(ext *state.Resource, kernel string) bool {
	for _, m := range p.Moves {
		if m.Address == ext.Address || (kernel != "" && m.Address == kernel) {
			return true
		}
	}
	return false
}

// typeOrder is the order tags move in: what others are built on first, as promotion does.
func typeOrder(t string) int {
	switch t {
	case "kernel":
		return 0
	case "extension":
		return 1
	case "installer":
		return 2
	case "profile":
		return 3
	}
	return 4
}

// digestOf returns the digest ref (image:tag) points at, "" when the tag does not exist.
func digestOf(ctx context.Context, reg *oci.Client, ref string) (string, error) {
	r, err := reg.ParseReference(ref)
	if err != nil {
		return "", err
	}
	d, err := reg.Digest(ctx, r)
	if oci.IsNotFound(err) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	return d.String(), nil
}

// Apply moves the plan's tags, in order, and returns those it moved: all of them, or
// those before the one whose error it returns. Pass a ctx that fences the moves (the
// state lock's guard). Cancelling ctx stops it between two moves: the move in flight
// finishes or fails on its own (a move cut off half-way could not tell whether the tag
// moved), no other starts, and the error is ctx's.
func Apply(ctx context.Context, reg *oci.Client, p *Plan) ([]Move, error) {
	var done []Move
	for _, m := range p.Moves {
		if ctx.Err() != nil {
			return done, context.Cause(ctx)
		}
		if err := move(context.WithoutCancel(ctx), reg, m); err != nil {
			return done, err
		}
		done = append(done, m)
	}
	return done, nil
}

// move moves one tag.
func move(ctx context.Context, reg *oci.Client, m Move) error {
	src, err := reg.NewDigest(m.Image + "@" + m.To)
	if err != nil {
		return err
	}
	desc, err := reg.Get(ctx, src)
	if err != nil {
		return fmt.Errorf("%s: reading %s: %w", m.Address, src, err)
	}
	dst, err := reg.NewTag(m.Ref())
	if err != nil {
		return err
	}
	if err := reg.Tag(ctx, dst, desc); err != nil {
		return fmt.Errorf("%s: moving %s back to %s: %w", m.Address, dst, m.To, err)
	}
	return nil
}

// Record writes into s (the state now, about to be written as serial at) what the moves
// did: each moved tag's digest, and on each resource whose tags now lag its recorded
// digest, that they were rolled back (so a promoting plan says why it moves them forward
// again). It returns the history entry's Promoted (image:tag -> digest).
func Record(s *state.State, p *Plan, moved []Move, at uint64) map[string]string {
	promoted := map[string]string{}
	touched := map[string]bool{}
	for _, m := range moved {
		r := s.Resource(m.Address)
		if r == nil {
			continue
		}
		if r.Tags == nil {
			r.Tags = map[string]string{}
		}
		r.Tags[m.Tag] = m.To
		promoted[m.Ref()] = m.To
		touched[m.Address] = true
	}
	for addr := range touched {
		r := s.Resource(addr)
		r.RolledBack = nil
		for _, d := range r.Tags {
			if d != r.Digest {
				r.RolledBack = &state.Rollback{To: p.To, At: at}
			}
		}
	}
	return promoted
}

// fingerprint is a certificate's SHA-256 fingerprint, lowercase hex, as the
// module-signature attestation records it.
func fingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:])
}

// shortFP shortens a fingerprint for messages.
func shortFP(fp string) string { return fp[:min(len(fp), 16)] }

// certificateOf returns the fingerprint of the signing certificate of kernel k (as
// recorded at the target serial) at digest d: the one a state records for that digest
// (the target's, else the current one's), else the artifact stored next to the image
// (executor.KernelCertificate decides).
func certificateOf(ctx context.Context, reg *oci.Client, k *state.Resource, d string, states ...*state.State) (string, error) {
	rec := &state.Resource{Address: k.Address, Image: k.Image, Digest: d}
	for _, s := range states {
		if r := s.Resource(k.Address); r != nil && r.Digest == d && len(r.SigningCert) > 0 {
			rec.SigningCert = r.SigningCert
			break
		}
	}
	cert, err := executor.KernelCertificate(ctx, reg, rec)
	if err != nil {
		return "", err
	}
	return fingerprint(cert.Raw), nil
}
