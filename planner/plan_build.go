package planner

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/urmanac/sovos/bootmedia"
	"github.com/urmanac/sovos/config"
	"github.com/urmanac/sovos/hashing"
	"github.com/urmanac/sovos/state"
)

// MakePlan plans cfg against the prior state (nil: none yet), read from a manifest
// with digest priorDigest. cfg must have been evaluated with hooks, so every build
// resource and profile has its Hash and Tag.
func MakePlan(ctx context.Context, cfg *config.Config, prior *state.State, priorDigest string, opts Options) (*Plan, error) {
	ws := cfg.Settings.State.Workspace // config.ResolveWorkspace's answer
	if ws == "" {
		ws = config.DefaultWorkspace
	}
	p := &Plan{
		FormatVersion: FormatVersion,
		SovosVersion:  config.SovosVersion,
		Workspace:     ws,
		State:         StateRef{Digest: priorDigest},
		Promote:       opts.Promote,
		Targets:       append([]string(nil), opts.Targets...),
		Config:        cfg,
		Prior:         prior,
	}
	if prior != nil {
		p.State.Lineage, p.State.Serial = prior.Lineage, prior.Serial
	}

	b := &planning{
		cfg:     cfg,
		opts:    opts,
		byAddr:  make(map[string]*config.Resource, len(cfg.Resources)),
		prior:   map[string]*state.Resource{},
		changed: map[string]Action{},
		digest:  map[string]string{},
	}
	b.addrs = make([]string, len(cfg.Resources))
	for i, r := range cfg.Resources {
		b.addrs[i] = r.Address()
		b.byAddr[b.addrs[i]] = r
	}
	if prior != nil {
		for _, pr := range prior.Resources {
			b.prior[pr.Address] = pr
		}
	}
	selected, err := b.selectTargets()
	if err != nil {
		return nil, err
	}
	replace, err := b.matchAddrs("-replace", opts.Replace)
	if err != nil {
		return nil, err
	}
	if err := b.checkReplace(opts.Replace); err != nil {
		return nil, err
	}

	// What the registry knows is independent of the other decisions, so it is asked
	// once, up front, in one batch.
	view := &registryView{}
	if opts.Refresh {
		q := &refreshRequest{repos: map[string]bool{}, candidates: map[string]bool{}, certs: map[string]bool{}}
		for i, r := range cfg.Resources {
			if isData(r.Addr.Type) || (selected != nil && !selected[b.addrs[i]]) {
				continue
			}
			img := imageOf(r)
			if img == "" || r.Tag == "" {
				continue
			}
			q.repo(img)
			for _, s := range stagesOf(r) {
				q.repo(s.Image)
			}
			if pr := b.prior[b.addrs[i]]; pr == nil {
				q.candidates[img+":"+r.Tag] = true
				if needsCert(r) {
					q.certs[img+":"+r.Tag] = true
				}
				for _, s := range stagesOf(r) {
					q.candidates[s.Image+":"+r.Tag] = true
				}
			}
		}
		if view, err = refresh(ctx, opts, q); err != nil {
			return nil, err
		}
	}
	b.view = view

	for i, r := range cfg.Resources {
		addr := b.addrs[i]
		if selected != nil && !selected[addr] {
			continue
		}
		if isData(r.Addr.Type) {
			d, err := b.data(r, addr)
			if err != nil {
				return nil, err
			}
			p.Data = append(p.Data, d)
			continue
		}
		c, err := b.plan(r, addr, replace[addr])
		if err != nil {
			return nil, err
		}
		p.Changes = append(p.Changes, c)
	}

	// Forget what the state holds and the configuration no longer declares. Recorded
	// sources and images are data: dropping them needs no review.
	if prior != nil {
		for _, pr := range prior.Resources {
			if b.byAddr[pr.Address] != nil || isData(pr.Type) {
				continue
			}
			if selected != nil && !b.targeted(pr.Address) {
				continue
			}
			p.Changes = append(p.Changes, forget(pr))
		}
	}
	p.summarize()
	return p, nil
}

// planning holds the working set of one MakePlan.
type planning struct {
	cfg    *config.Config
	opts   Options
	addrs  []string // addresses of cfg.Resources, computed once
	byAddr map[string]*config.Resource
	prior  map[string]*state.Resource
	view   *registryView
	// changed records the resources planned as create or rebuild: their digest will be
	// new, so everything built on them must follow.
	changed map[string]Action
	// digest is the digest each unchanged (or adopted) resource will have after apply.
	digest map[string]string
}

// matchAddrs resolves addresses given on the command line: an exact instance address or a
// resource's base address (profile.talos for every instance of it).
func (b *planning) matchAddrs(flag string, addrs []string) (map[string]bool, error) {
	out := map[string]bool{}
	for _, a := range addrs {
		if _, err := config.ParseAddress(a); err != nil {
			// ParseAddress names the address too; say it once.
			why := strings.TrimPrefix(err.Error(), fmt.Sprintf("invalid address %q: ", a))
			return nil, fmt.Errorf("%s=%s: not a resource address: %s; write TYPE.NAME or TYPE.NAME[\"KEY\"], e.g. kernel.sovereign", flag, a, why)
		}
		found := false
		for _, r := range b.cfg.Resources {
			if s := r.Addr.String(); s == a || r.Addr.Base() == a {
				out[s], found = true, true
			}
		}
		if _, ok := b.prior[a]; ok {
			out[a], found = true, true
		}
		if !found {
			return nil, fmt.Errorf("%s=%s: no resource with that address in the configuration or the state; `sovos graph` shows the configured resources and `sovos state list` the recorded ones", flag, a)
		}
	}
	return out, nil
}

// checkReplace refuses -replace of what builds and publishes nothing (a source, an
// image), which would silently change nothing; it names what to replace instead.
func (b *planning) checkReplace(addrs []string) error {
	for _, a := range addrs {
		pa, err := config.ParseAddress(a)
		if err != nil || !isData(pa.Type) {
			continue
		}
		var users []string
		for i, r := range b.cfg.Resources {
			for _, d := range r.DependsOn {
				if (d.String() == a || d.Base() == a) && !slices.Contains(users, b.addrs[i]) {
					users = append(users, b.addrs[i])
				}
			}
		}
		what := "a source is read, not built"
		if pa.Type == config.TypeImage {
			what = "an image is resolved to a digest, not built"
		}
		hint := ""
		if len(users) > 0 {
			hint = fmt.Sprintf(" (here: -replace=%s)", strings.Join(users, " -replace="))
		}
		return fmt.Errorf("-replace=%s: %s, so there is nothing to replace; name the resources built from it instead%s", a, what, hint)
	}
	return nil
}

// selectTargets returns nil without -target, else the targets and everything they depend
// on.
func (b *planning) selectTargets() (map[string]bool, error) {
	if len(b.opts.Targets) == 0 {
		return nil, nil
	}
	sel, err := b.matchAddrs("-target", b.opts.Targets)
	if err != nil {
		return nil, err
	}
	// Resources come in dependency order, so one backward pass closes the set.
	for i := len(b.cfg.Resources) - 1; i >= 0; i-- {
		r := b.cfg.Resources[i]
		if !sel[b.addrs[i]] {
			continue
		}
		for _, d := range r.DependsOn {
			sel[d.String()] = true
		}
	}
	return sel, nil
}

func (b *planning) targeted(addr string) bool {
	for _, t := range b.opts.Targets {
		if t == addr || strings.HasPrefix(addr, t+"[") {
			return true
		}
	}
	return false
}

func imageOf(r *config.Resource) string {
	switch {
	case r.Build != nil:
		return r.Build.Image
	case r.Profile != nil:
		return r.Profile.Image
	}
	return ""
}

func stagesOf(r *config.Resource) []config.Stage {
	if r.Build != nil {
		return r.Build.Stages
	}
	return nil
}

// stableTags are the tags -promote moves; none for a resource that pushes no image.
func stableTags(r *config.Resource) []string {
	if imageOf(r) == "" {
		return nil
	}
	var tags []string
	switch {
	case r.Build != nil:
		tags = r.Build.Tags
	case r.Profile != nil:
		tags = r.Profile.Tags
	}
	return tags
}

func refOf(image, tag string) string {
	if image == "" || tag == "" {
		return ""
	}
	return image + ":" + tag
}

// ShortHash is the first 8 hex characters of a hash or commit, as reasons show them.
func ShortHash(h string) string {
	if len(h) > 8 {
		return h[:8]
	}
	return h
}

// ShortDigest is a digest cut to its algorithm and first 12 hex characters
// (sha256:0123456789ab), as reasons show them.
func ShortDigest(d string) string {
	if strings.HasPrefix(d, "sha256:") && len(d) > 7+12 {
		return d[:7+12]
	}
	return d
}

func newChange(r *config.Resource, addr string, pr *state.Resource) (*ResourceChange, error) {
	inputs, err := RecordedInputs(r)
	if err != nil {
		return nil, err
	}
	c := &ResourceChange{
		Inputs:   inputs,
		Address:  addr,
		Type:     r.Addr.Type,
		Name:     r.Addr.Name,
		Index:    r.Addr.Key,
		Action:   ActionNoop,
		Resource: r,
		Prior:    pr,
		After:    &Snapshot{Hash: r.Hash, Tag: r.Tag, Ref: refOf(imageOf(r), r.Tag)},
	}
	if r.Builder != "" {
		c.Builder = "builder." + r.Builder
	}
	if pr := r.Profile; pr != nil {
		c.Boots = &ProfileImages{Installer: pr.Installer, Imager: pr.Imager, Extensions: pr.Extensions}
	}
	c.DependsOn = make([]string, 0, len(r.DependsOn))
	for _, d := range r.DependsOn {
		c.DependsOn = append(c.DependsOn, d.String())
	}
	if pr != nil {
		c.Before = &Snapshot{Hash: pr.Hash, Tag: pr.Tag, Ref: refOf(pr.Image, pr.Tag), Digest: pr.Digest}
	}
	return c, nil
}

// data describes a source or image: never built, only read.
func (b *planning) data(r *config.Resource, addr string) (*ResourceChange, error) {
	c, err := newChange(r, addr, b.prior[addr])
	if err != nil {
		return nil, err
	}
	c.After.Tag, c.After.Ref = "", ""
	if r.Image != nil {
		// An image is identified by its digest; After.Hash is what the state records.
		c.After = &Snapshot{Hash: hashing.ImageHash(r.Image.Digest), Ref: r.Image.Ref, Digest: r.Image.Digest}
		b.digest[c.Address] = r.Image.Digest
	}
	return c, nil
}

func forget(pr *state.Resource) *ResourceChange {
	c := &ResourceChange{
		Address: pr.Address,
		Type:    pr.Type,
		Action:  ActionForget,
		Prior:   pr,
		Before:  &Snapshot{Hash: pr.Hash, Tag: pr.Tag, Ref: refOf(pr.Image, pr.Tag), Digest: pr.Digest},
		Reasons: []Reason{{ReasonRemoved, "not in the configuration any more: dropped from the state (its images and tags stay in the registry)"}},
	}
	if a, err := config.ParseAddress(pr.Address); err == nil {
		c.Type, c.Name, c.Index = a.Type, a.Name, a.Key
	}
	c.DependsOn = []string{}
	return c
}

// plan decides the action of one build resource or profile. Its dependencies have been
// planned already (configuration order is dependency order).
func (b *planning) plan(r *config.Resource, addr string, replace bool) (*ResourceChange, error) {
	if r.Hash == "" {
		return nil, fmt.Errorf("%s: its hash is unknown (the configuration was evaluated without hashing)", addr)
	}
	pr := b.prior[addr]
	c, err := newChange(r, addr, pr)
	if err != nil {
		return nil, err
	}
	img, ref := imageOf(r), c.After.Ref
	consumed := consumedDeps(r)

	if pr == nil {
		m, ok := b.view.manifests[ref]
		stages, stagesOK := b.stageDigests(r)
		// An artifact built on an upstream that this plan rebuilds was built on the old
		// upstream (a kernel's new build has a new signing key): never adopt it.
		var changedDep string
		for _, da := range consumed {
			if _, ok := b.changed[da]; ok {
				changedDep = da
				break
			}
		}
		// A first-release profile pushed a single-tar image under the same tag: boot media
		// are an artifact now, so that image is rebuilt, not adopted. So did an installer
		// profile, holding the imager's archive as a file; the installer image this sovos
		// pushes carries dev.sovos.address, that one does not.
		oldFormat := ok && (bootmedia.Publishes(r.Profile) && m.artifactType != bootmedia.ArtifactType ||
			bootmedia.PushesInstaller(r.Profile) && m.address == "")
		adoptable := ok && m.hash == r.Hash && stagesOK && changedDep == "" && !oldFormat
		switch {
		case adoptable && needsCert(r) && !b.view.certs[ref]:
			// An apply stopped between the kernel's push and its certificate's: adopted,
			// the kernel's modules could never be verified. BuildKit's cache usually
			// makes this rebuild quick (same key, same certificate).
			c.Action = ActionRebuild
			c.Reasons = []Reason{{ReasonCertMissing, fmt.Sprintf("not in the state; %s is in the registry, built from the same hash, but without its signing-certificate artifact (an apply stopped before storing it): rebuilt, as its modules could not be verified", ref)}}
			b.changed[addr] = ActionRebuild
		case adoptable:
			c.Action = ActionAdopt
			c.AdoptDigest = m.digest
			c.AdoptStages = stages
			c.Reasons = []Reason{{ReasonFoundInRegistry, fmt.Sprintf("not in the state, but %s is in the registry, built from the same hash (%s): recorded without a build", ref, AnnotationHash)}}
			b.digest[addr] = m.digest
		default:
			c.Action = ActionCreate
			msg := "not in the state"
			switch {
			case ok && oldFormat && m.hash == r.Hash && bootmedia.PushesInstaller(r.Profile):
				msg += fmt.Sprintf("; %s is in the registry but is an image holding the imager's %s as a file (an earlier sovos pushed that), not the installer image", ref, bootmedia.InstallerArchive(r.Profile.Arch))
			case ok && oldFormat && m.hash == r.Hash:
				msg += fmt.Sprintf("; %s is in the registry but is a first-release single-tar image, not boot media (%s)", ref, bootmedia.ArtifactType)
			case ok && changedDep != "" && m.hash == r.Hash:
				msg += fmt.Sprintf("; %s is in the registry but was built on the %s this plan replaces", ref, changedDep)
			case ok:
				msg += fmt.Sprintf("; %s exists in the registry but was built from other inputs", ref)
			case b.opts.Refresh && ref != "":
				msg += fmt.Sprintf(", and %s is not in the registry", ref)
			}
			c.Reasons = []Reason{{ReasonNotInState, msg}}
			b.changed[addr] = ActionCreate
		}
		b.promoteTags(c)
		return c, nil
	}

	var reasons []Reason
	if replace {
		reasons = append(reasons, Reason{ReasonReplace, "replacement requested with -replace=" + addr})
	}
	// An artifact recorded without its type was pushed by an earlier sovos in a form this
	// one replaces.
	if pr.Digest != "" && pr.ArtifactType == "" {
		switch {
		case bootmedia.Publishes(r.Profile):
			reasons = append(reasons, Reason{ReasonArtifactFormat, fmt.Sprintf("%s@%s is a first-release single-tar image; boot media are now published as an OCI artifact (%s) that `oras pull` and `sovos fetch` read",
				refOf(pr.Image, pr.Tag), ShortDigest(pr.Digest), bootmedia.ArtifactType)})
		case bootmedia.PushesInstaller(r.Profile):
			reasons = append(reasons, Reason{ReasonArtifactFormat, fmt.Sprintf("%s@%s is an image holding the imager's %s as a file (an earlier sovos pushed that); the installer image in it is now pushed as the image it is",
				refOf(pr.Image, pr.Tag), ShortDigest(pr.Digest), bootmedia.InstallerArchive(r.Profile.Arch))})
		}
	}
	hashChanged := pr.Hash != r.Hash
	var explainedDeps map[string]bool
	if hashChanged {
		rs, deps := b.hashReasons(r, consumed, pr, c.Inputs)
		reasons, explainedDeps = append(reasons, rs...), deps
	}
	for _, da := range consumed {
		if act, ok := b.changed[da]; ok {
			verb := "rebuilt"
			if act == ActionCreate {
				verb = "created"
			}
			reasons = append(reasons, Reason{ReasonDependency, fmt.Sprintf("dependency %s will be %s", da, verb)})
			continue
		}
		recorded, ok := pr.BuiltFrom[da]
		if explainedDeps[da] {
			continue
		}
		if cur := b.digest[da]; ok && cur != "" && recorded != cur {
			reasons = append(reasons, Reason{ReasonUpstreamDigest, fmt.Sprintf("%s: built from %s, now %s", da, ShortDigest(recorded), ShortDigest(cur))})
		}
	}
	if pr.Image != "" && img != "" && pr.Image != img {
		reasons = append(reasons, Reason{ReasonAttrChanged, fmt.Sprintf("image: %q -> %q", pr.Image, img)})
	} else if b.opts.Refresh && !hashChanged && ref != "" {
		if !b.view.has(img, r.Tag) {
			reasons = append(reasons, Reason{ReasonArtifactMissing, ref + " is missing from the registry"})
		}
		for _, s := range stagesOf(r) {
			if sref := refOf(s.Image, r.Tag); !b.view.has(s.Image, r.Tag) {
				reasons = append(reasons, Reason{ReasonArtifactMissing, fmt.Sprintf("stage %q: %s is missing from the registry", s.Target, sref)})
			}
		}
	}
	if hashChanged && len(reasons) == 0 {
		reasons = append(reasons, Reason{ReasonHashChanged, unexplainedHash(r, pr, c.Inputs)})
	}
	if v := pr.Verified; v != nil && !v.OK && v.Digest == pr.Digest && !hashChanged {
		// The state records the verdict so a reviewer sees it: the extension is built and
		// checked again, and nothing downstream is built on it until it passes.
		reasons = append(reasons, Reason{ReasonVerifyFailed, failedVerification(pr)})
	}
	if len(reasons) > 0 {
		c.Action, c.Reasons = ActionRebuild, reasons
		b.changed[addr] = ActionRebuild
		b.promoteTags(c)
		return c, nil
	}
	b.digest[addr] = pr.Digest
	if b.promoteTags(c) {
		c.Action = ActionPromote
		for _, t := range sortedTagNames(c.Tags) {
			tc := c.Tags[t]
			switch {
			case !tc.Moves():
			case pr.RolledBack != nil:
				c.Reasons = append(c.Reasons, Reason{ReasonRolledBack, fmt.Sprintf("tag %s: rolled back to serial %d by `sovos rollback` (serial %d); promoting moves it forward again",
					tc.Text(t), pr.RolledBack.To, pr.RolledBack.At)})
			default:
				c.Reasons = append(c.Reasons, Reason{ReasonPromote, "tag " + tc.Text(t)})
			}
		}
	}
	return c, nil
}

// needsCert reports whether r is a build whose signing certificate is recorded (a
// kernel with signing_cert): one found in the registry is adopted only with it.
func needsCert(r *config.Resource) bool {
	return r.Build != nil && r.Build.SigningCert != nil
}

// stageDigests returns the digests of r's stages found in the registry, and whether every
// stage is there (an artifact is adopted whole or not at all).
func (b *planning) stageDigests(r *config.Resource) (map[string]string, bool) {
	stages := stagesOf(r)
	if len(stages) == 0 {
		return nil, true
	}
	out := make(map[string]string, len(stages))
	for _, s := range stages {
		m, ok := b.view.manifests[refOf(s.Image, r.Tag)]
		if !ok {
			return nil, false
		}
		out[s.Target] = m.digest
	}
	return out, true
}

// promoteTags fills c.Tags when the plan promotes, and reports whether a tag would move.
func (b *planning) promoteTags(c *ResourceChange) bool {
	if !b.opts.Promote || c.Resource == nil {
		return false
	}
	tags := stableTags(c.Resource)
	if len(tags) == 0 {
		return false
	}
	after := NewBuild
	switch c.Action {
	case ActionAdopt:
		after = c.AdoptDigest
	case ActionNoop, ActionPromote:
		after = c.Prior.Digest
	}
	c.Tags = make(map[string]TagChange, len(tags))
	moves := false
	for _, t := range tags {
		before := ""
		if c.Prior != nil {
			before = c.Prior.Tags[t]
		}
		c.Tags[t] = TagChange{Before: before, After: after}
		if before != after {
			moves = true
		}
	}
	return moves
}

func sortedTagNames(m map[string]TagChange) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// hashReasons explains a changed hash: changed sources and images first, then attributes
// (old -> new, from the recorded inputs). Dependencies that are rebuilt are explained by
// the caller.
func (b *planning) hashReasons(r *config.Resource, deps []string, pr *state.Resource, cur map[string]json.RawMessage) ([]Reason, map[string]bool) {
	var reasons []Reason
	explainedDeps := map[string]bool{}
	// explained holds the hashes/digests whose change another reason already names, so
	// an attribute that merely carries one is not reported twice.
	var explained []string
	for _, da := range deps {
		dep := b.byAddr[da]
		if dep == nil {
			continue
		}
		if _, ok := b.changed[da]; ok {
			explained = append(explained, dep.Hash)
			continue
		}
		if !isData(dep.Addr.Type) {
			continue
		}
		if rs, ok := dataChange(dep, b.prior[da]); ok {
			reasons = append(reasons, rs)
			explainedDeps[da] = true
			explained = append(explained, dep.Hash)
			if dep.Image != nil && dep.Image.Digest != "" {
				explained = append(explained, dep.Image.Digest)
			}
		}
	}
	skip := func(_ string, v json.RawMessage) bool {
		for _, h := range explained {
			if h != "" && strings.Contains(string(v), h) {
				return true
			}
		}
		return false
	}
	for _, m := range inputDiffs(pr.Inputs, cur, skip) {
		reasons = append(reasons, Reason{ReasonAttrChanged, m})
	}
	return reasons, explainedDeps
}

// dataChange says how a source or image changed since it was recorded. A source or image
// missing from the state yields nothing: the attribute diff then shows its hash.
func dataChange(dep *config.Resource, pr *state.Resource) (Reason, bool) {
	addr := dep.Addr.String()
	if pr == nil {
		return Reason{}, false
	}
	switch {
	case dep.Source != nil:
		if pr.Hash == dep.Hash {
			return Reason{}, false
		}
		if dep.Source.Git != "" {
			var old string
			if raw, ok := pr.Inputs["commit"]; ok {
				_ = json.Unmarshal(raw, &old)
			}
			if old != "" && old != dep.Source.Commit {
				return Reason{ReasonSourceChanged, fmt.Sprintf("%s: commit %s -> %s", addr, ShortHash(old), ShortHash(dep.Source.Commit))}, true
			}
			var oldSub string
			if raw, ok := pr.Inputs["subdir"]; ok {
				_ = json.Unmarshal(raw, &oldSub)
			}
			if oldSub != dep.Source.Subdir {
				return Reason{ReasonSourceChanged, fmt.Sprintf("%s: subdir %q -> %q", addr, oldSub, dep.Source.Subdir)}, true
			}
			return Reason{ReasonSourceChanged, fmt.Sprintf("%s: changed (commit %s)", addr, ShortHash(dep.Source.Commit))}, true
		}
		return Reason{ReasonSourceChanged, fmt.Sprintf("%s: content changed (%s -> %s)", addr, ShortHash(pr.Hash), ShortHash(dep.Hash))}, true
	case dep.Image != nil:
		if pr.Digest == "" || pr.Digest == dep.Image.Digest {
			return Reason{}, false
		}
		return Reason{ReasonImageChanged, fmt.Sprintf("%s: %s now points to %s (was %s)", addr, dep.Image.Ref, ShortDigest(dep.Image.Digest), ShortDigest(pr.Digest))}, true
	}
	return Reason{}, false
}

// unexplainedHash words a hash change no recorded input explains: a redacted (sensitive)
// value, or what is hashed but not recorded (platform, dependencies' hashes, encoding).
func unexplainedHash(r *config.Resource, pr *state.Resource, inputs map[string]json.RawMessage) string {
	change := fmt.Sprintf("hash %s -> %s", ShortHash(pr.Hash), ShortHash(r.Hash))
	for _, v := range inputs {
		if strings.Contains(string(v), Redacted) {
			return "a sensitive value changed, or another input that is not shown (" + change + ")"
		}
	}
	return "an input that is not recorded changed: platform, a dependency's hash or the hash encoding (" + change + ")"
}

// consumedDeps lists the dependencies whose values r uses (config.Resource.Consumes):
// only their changes rebuild r. A matrix instance also orders after the resource its
// conditional's other branch names, but is not rebuilt for it.
func consumedDeps(r *config.Resource) []string {
	deps := r.Consumes
	if deps == nil {
		deps = r.DependsOn
	}
	out := make([]string, len(deps))
	for i, d := range deps {
		out[i] = d.String()
	}
	return out
}

// failedVerification says which modules of the recorded build failed, at most three.
func failedVerification(pr *state.Resource) string {
	v := pr.Verified
	var bad []string
	for _, m := range v.Modules {
		if m.Verdict != "ok" {
			bad = append(bad, m.Path+": "+m.Verdict)
		}
	}
	msg := fmt.Sprintf("its build %s failed verification", ShortDigest(pr.Digest))
	if v.Kernel != "" {
		msg += " against " + v.Kernel + "'s signing key"
	}
	if len(bad) > 3 {
		bad = append(bad[:3], fmt.Sprintf("%d more", len(bad)-3))
	}
	if len(bad) > 0 {
		msg += " (" + strings.Join(bad, ", ") + ")"
	}
	return msg + "; it is built and checked again"
}
