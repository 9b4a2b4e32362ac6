package executor

import (
	"context"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"time"

	"github.com/urmanac/sovos/config"
	"github.com/urmanac/sovos/executor/bkdriver"
	"github.com/urmanac/sovos/executor/gitsource"
	"github.com/urmanac/sovos/executor/verify"
	"github.com/urmanac/sovos/planner"
	"github.com/urmanac/sovos/state"
)

// DefaultKernelArg is the build arg an installer receives its kernel in.
const DefaultKernelArg = "PKG_KERNEL"

// node carries out one change.
func (a *applier) node(ctx context.Context, c *planner.ResourceChange) error {
	a.log.Debug("applying", "address", c.Address, "action", c.Action)
	switch c.Action {
	case planner.ActionForget:
		a.update(func(x *state.Index) { x.Remove(c.Address) })
		return nil
	}
	r := c.Resource
	if r == nil {
		return fmt.Errorf("%s: the plan is not bound to its configuration", c.Address)
	}
	switch {
	case r.Profile != nil:
		return a.profile(ctx, c)
	case r.Build == nil:
		return nil
	}
	switch c.Action {
	case planner.ActionCreate, planner.ActionRebuild:
		if err := a.build(ctx, c); err != nil {
			return err
		}
	case planner.ActionAdopt:
		if err := a.adopt(ctx, c); err != nil {
			return err
		}
		if r.Addr.Type == config.TypeExtension {
			return nil // verified before it was recorded
		}
	case planner.ActionNoop, planner.ActionPromote:
		if err := a.signRecorded(ctx, c); err != nil {
			return err
		}
	}
	if r.Addr.Type == config.TypeExtension {
		return a.verifyExtension(ctx, c)
	}
	return nil
}

// sourceDir returns the local directory of a source: its path, or a checkout of its
// pinned commit.
func (a *applier) sourceDir(ctx context.Context, addr config.Address) (string, error) {
	sr := a.p.Config.Resource(addr.String())
	if sr == nil || sr.Source == nil {
		return "", fmt.Errorf("%s is not a source in the configuration", addr)
	}
	s := sr.Source
	if s.Path != "" {
		return s.Path, nil
	}
	dir, err := gitsource.Fetch(ctx, a.opts.CacheDir, s.Git, s.Commit, s.Subdir)
	if err != nil {
		return "", fmt.Errorf("%s: %w", addr, err)
	}
	return dir, nil
}

// request turns a build resource into a BuildKit request, every upstream reference
// pinned by the digest recorded for it.
func (a *applier) request(ctx context.Context, r *config.Resource) (bkdriver.Request, error) {
	b := r.Build
	addr := r.Addr.String()
	var req bkdriver.Request
	dir, err := a.sourceDir(ctx, b.Source)
	if err != nil {
		return req, err
	}
	req = bkdriver.Request{
		Address:            addr,
		ContextDir:         dir,
		Dockerfile:         b.Dockerfile,
		Frontend:           b.Frontend,
		Target:             b.Target,
		Platform:           r.Platform,
		Args:               map[string]string{},
		Contexts:           map[string]bkdriver.Context{},
		Image:              b.Image,
		Tag:                r.Tag,
		Annotations:        map[string]string{planner.AnnotationHash: r.Hash},
		Provenance:         b.Provenance,
		InsecureRegistries: a.opts.Registry.InsecureHosts(),
	}
	if b.Frontend != "" {
		if req.Frontend, _, err = a.pin(b.Frontend); err != nil {
			return req, err
		}
	}
	for k, v := range b.Args {
		if req.Args[k], _, err = a.pin(v); err != nil {
			return req, fmt.Errorf("build arg %s: %w", k, err)
		}
	}
	for name, src := range b.ContextSources {
		d, err := a.sourceDir(ctx, src)
		if err != nil {
			return req, fmt.Errorf("context %q: %w", name, err)
		}
		req.Contexts[name] = bkdriver.Context{Dir: d}
	}
	for name, ref := range b.ContextRefs {
		pinned, _, err := a.pin(ref)
		if err != nil {
			return req, fmt.Errorf("context %q: %w", name, err)
		}
		req.Contexts[name] = bkdriver.Context{Image: pinned}
	}
	if len(b.Secrets) > 0 {
		req.Secrets = map[string]bkdriver.Secret{}
		for id, s := range b.Secrets {
			file := s.File
			if file != "" && !filepath.IsAbs(file) {
				file = filepath.Join(a.p.Config.Dir, file)
			}
			req.Secrets[id] = bkdriver.Secret{Env: s.Env, File: file}
		}
	}
	for _, s := range b.Stages {
		req.Stages = append(req.Stages, bkdriver.Stage{Target: s.Target, Image: s.Image})
	}
	if b.Cache != nil && b.Cache.Ref != "" {
		req.Cache = &bkdriver.Cache{Ref: b.Cache.Ref, Mode: b.Cache.Mode}
	}
	if b.SigningCert != nil {
		req.ReadFile = &bkdriver.FileRef{Target: b.SigningCert.Target, Path: b.SigningCert.Path}
	}
	if r.Addr.Type == config.TypeInstaller && b.Kernel != nil {
		arg := b.KernelArg
		if arg == "" {
			arg = DefaultKernelArg
		}
		art := a.artifact(b.Kernel.String())
		if art == nil || art.digest == "" {
			return req, fmt.Errorf("its kernel %s has no recorded digest; apply it first", b.Kernel)
		}
		req.Args[arg] = art.image + "@" + art.digest
	}
	return req, nil
}

// build runs a kernel, extension or installer build and records it.
func (a *applier) build(ctx context.Context, c *planner.ResourceChange) error {
	r := c.Resource
	req, err := a.request(ctx, r)
	if err != nil {
		return fmt.Errorf("%s: %w", c.Address, err)
	}
	// -replace asks for a real rebuild: from BuildKit's cache it would come back
	// identical, with the same signing key.
	req.NoCache = replaced(c)
	drv, err := a.builder(ctx, r.Builder)
	if err != nil {
		return fmt.Errorf("%s: %w", c.Address, err)
	}
	res, err := drv.Build(ctx, req, a.status)
	if err != nil {
		return err // the driver names the address
	}
	art := &artifact{image: r.Build.Image, digest: res.Digest, stages: map[string]*state.Stage{}}
	for _, s := range r.Build.Stages {
		art.stages[s.Target] = &state.Stage{Image: s.Image, Digest: res.Stages[s.Target]}
	}
	if r.Build.SigningCert != nil {
		cert, err := verify.ParseCertificate(res.File)
		if err != nil {
			return fmt.Errorf("%s: signing_cert %s in target %s: %w", c.Address, r.Build.SigningCert.Path, r.Build.SigningCert.Target, err)
		}
		art.cert = cert
		// Next to the kernel image, and before the kernel is recorded, so that a kernel
		// found in the registry without a state (a lost state, an apply killed before its
		// state write, a new workspace) has its certificate, or is rebuilt: one without
		// it is never adopted.
		if err := StoreCertificate(ctx, a.opts.Registry, art.image, art.digest, cert); err != nil {
			return fmt.Errorf("%s: storing its signing certificate next to %s@%s: %w; the kernel is not recorded (the next apply builds it again)", c.Address, art.image, art.digest, err)
		}
	}
	if err := a.signImages(ctx, c.Address, art, false); err != nil {
		return err
	}
	return a.record(c, art, time.Now())
}

// replaced reports whether c was asked for with -replace: its build or imager step
// runs afresh rather than come back from BuildKit's cache.
func replaced(c *planner.ResourceChange) bool {
	return slices.ContainsFunc(c.Reasons, func(why planner.Reason) bool { return why.Kind == planner.ReasonReplace })
}

// adopt records an artifact the plan found in the registry with the same hash.
func (a *applier) adopt(ctx context.Context, c *planner.ResourceChange) error {
	r := c.Resource
	art := &artifact{image: r.Build.Image, digest: c.AdoptDigest, stages: map[string]*state.Stage{}}
	for _, s := range r.Build.Stages {
		art.stages[s.Target] = &state.Stage{Image: s.Image, Digest: c.AdoptStages[s.Target]}
	}
	if r.Build.SigningCert != nil {
		// The certificate is read only by a build; an adopted kernel keeps the one the
		// state may still hold from before.
		if c.Prior != nil && c.Prior.Digest == art.digest && len(c.Prior.SigningCert) > 0 {
			if cert, err := verify.ParseCertificate(c.Prior.SigningCert); err == nil {
				art.cert = cert
			}
		}
		if art.cert == nil {
			// The plan adopts a kernel only with its certificate artifact: without it its
			// modules could never be checked.
			cert, err := FetchCertificate(ctx, a.opts.Registry, art.image, art.digest)
			if err != nil {
				return fmt.Errorf("%s: adopting %s@%s: its signing certificate: %w; plan again (it is rebuilt when the certificate is missing)", c.Address, art.image, art.digest, err)
			}
			art.cert = cert
		}
	}
	if r.Addr.Type == config.TypeExtension {
		// Verified against its adopted kernel before it is recorded (SPEC §9): a lost
		// state must not bring back an extension its kernel would refuse.
		if err := a.checkAndAttest(ctx, c, art); err != nil {
			return err
		}
	}
	if err := a.signImages(ctx, c.Address, art, true); err != nil {
		return err
	}
	return a.record(c, art, time.Time{})
}

// record stores a build resource's artifact in this apply and in the state.
func (a *applier) record(c *planner.ResourceChange, art *artifact, builtAt time.Time) error {
	r := c.Resource
	rec := &state.Resource{
		Address:   c.Address,
		Type:      r.Addr.Type,
		Hash:      r.Hash,
		Tag:       r.Tag,
		Image:     art.image,
		Digest:    art.digest,
		Inputs:    c.Inputs,
		BuiltFrom: a.dependencyDigests(r),
	}
	if !builtAt.IsZero() {
		rec.BuiltAt = builtAt.UTC()
	}
	if len(art.stages) > 0 {
		rec.Stages = art.stages
	}
	if art.cert != nil {
		rec.SigningCert = art.cert.Raw
	}
	if c.Prior != nil {
		// Stable tags stay where they were until promoted.
		rec.Tags = maps.Clone(c.Prior.Tags)
	}
	if len(art.attestations) > 0 {
		rec.Attestations = maps.Clone(art.attestations)
	}
	rec.Verified = art.verification
	a.setArtifact(c.Address, art)
	a.update(func(x *state.Index) { x.Put(rec) })
	return nil
}

// recordData records the sources and images the builds read, so the next plan can say
// how they changed. One whose dependents did not all succeed keeps its old record: its
// change is still to be explained.
func (a *applier) recordData(failed map[string]bool) {
	blocked := map[string]bool{}
	for _, c := range a.p.Changes {
		if failed[c.Address] {
			for _, d := range c.DependsOn {
				blocked[d] = true
			}
		}
	}
	for _, d := range a.p.Data {
		if blocked[d.Address] || d.After == nil || d.After.Hash == "" {
			continue
		}
		rec := &state.Resource{Address: d.Address, Type: d.Type, Hash: d.After.Hash, Inputs: d.Inputs}
		if d.Type == config.TypeImage {
			rec.Image, rec.Digest = d.After.Ref, d.After.Digest
		}
		a.update(func(x *state.Index) { x.Put(rec) })
	}
}
