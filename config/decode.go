package config

import (
	"fmt"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
)

var (
	commitRe = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[0-9a-f]{40}$`) })
	digestRe = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^sha256:[0-9a-f]{64}$`) })
)

// IsCommit says whether s is a commit a git source may pin: 40 lowercase hex digits.
func IsCommit(s string) bool { return commitRe().MatchString(s) }

// IsDigest says whether s is a digest an image may pin: sha256: and 64 lowercase hex
// digits.
func IsDigest(s string) bool { return digestRe().MatchString(s) }

// instanceBody is a resource instance's evaluated attributes and blocks.
type instanceBody struct {
	*evaluatedBody
	d *decl
}

// check runs check on the known string (or strings) of attribute name, reporting a
// failure at the attribute.
func (ib *instanceBody) check(name, summary string, check func(string) error) hcl.Diagnostics {
	return checkAttr(ib.vals, ib.d.body.attrs, ib.d.DeclRange, name, summary, check)
}

func (ib *instanceBody) rangeOf(name string) hcl.Range {
	if a, ok := ib.d.body.attrs[name]; ok {
		return a.Expr.Range()
	}
	return ib.d.DeclRange
}

// hashed keeps a value for HashedAttrs: resource marks go, sensitive marks stay.
func hashed(v cty.Value) cty.Value { return stripRefMarks(v) }

func (e *evaluator) evalInstance(n *node, r *Resource, in instance, hctx *hcl.EvalContext, deps *blockDeps) (cty.Value, hcl.Diagnostics) {
	eb, diags := evalBody(n.d, n.d.body, hctx)
	ib := &instanceBody{evaluatedBody: eb, d: n.d}
	if e.opts.Validate {
		r.Unset = unsetAttrs(ib, in)
	}
	r.HashedAttrs = map[string]cty.Value{}
	ds := checkSensitive(r, ib)
	diags = append(diags, ds...)
	switch n.d.Kind {
	case TypeSource:
		ds = e.decodeSource(r, ib)
	case TypeImage:
		ds = e.decodeImage(r, ib)
	case TypeKernel, TypeExtension, TypeInstaller:
		ds = e.decodeBuild(r, ib)
	case TypeProfile:
		ds = e.decodeProfile(r, ib)
	}
	diags = append(diags, ds...)
	r.consumed, r.Consumes = deps.consumes(r, ib)
	failed := eb.failed || diags.HasErrors()
	if !failed {
		diags = append(diags, e.hash(r)...)
		failed = diags.HasErrors()
	}
	v := e.resourceValue(r)
	if failed {
		// Whatever is computed from this instance is quiet about it: its error is out.
		v = v.Mark(failedMark{})
	}
	return v, diags
}

// hash asks the hooks for the resource's hash, in dependency order.
func (e *evaluator) hash(r *Resource) hcl.Diagnostics {
	h := e.opts.Hooks
	if h == nil {
		return nil
	}
	fail := func(err error) hcl.Diagnostics {
		return hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Cannot hash " + r.Addr.String(),
			Detail: fmt.Sprintf("%s.", err), Subject: r.DeclRange.Ptr()}}
	}
	switch r.Addr.Type {
	case TypeSource:
		s, err := h.SourceHash(e.ctx, r)
		if err != nil {
			return fail(err)
		}
		r.Hash = s
	case TypeImage:
		d, err := h.ImageDigest(e.ctx, r)
		if err != nil {
			return fail(err)
		}
		r.Image.Digest = d
		return nil
	default:
		deps := make(map[string]string, len(r.consumed))
		for _, dr := range r.consumed {
			deps[dr.addr] = dr.hashInput()
		}
		s, err := h.ResourceHash(r, deps)
		if err != nil {
			return fail(err)
		}
		r.Hash = s
	}
	r.Tag = h.ContentTag(r.Hash)
	return nil
}

func (e *evaluator) decodeSource(r *Resource, ib *instanceBody) hcl.Diagnostics {
	var diags hcl.Diagnostics
	spec := &SourceSpec{Git: str(ib.vals["git"]), Ref: str(ib.vals["ref"]), Commit: str(ib.vals["commit"]),
		Subdir: str(ib.vals["subdir"]), Path: str(ib.vals["path"])}
	r.Source = spec
	_, hasGit := ib.vals["git"]
	_, hasPath := ib.vals["path"]
	switch {
	case hasGit && hasPath:
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Both git and path",
			Detail: "A source is either a git repository or a local path; keep exactly one of git and path.", Subject: ib.rangeOf("path").Ptr()})
	case !hasGit && !hasPath:
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Neither git nor path",
			Detail: fmt.Sprintf("%s needs a git repository (git + commit) or a local directory (path); add one of them.", r.Addr), Subject: r.DeclRange.Ptr()})
	case hasGit:
		c, ok := ib.vals["commit"]
		if !ok {
			c = cty.UnknownVal(cty.String)
			if !e.opts.Pinning {
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Missing commit",
					Detail: fmt.Sprintf("%s pins no commit, and a git source is hashed by its full 40-hex commit: run `sovos pin` to write the commit its ref points at (or add commit = \"<sha>\").", r.Addr), Subject: ib.rangeOf("git").Ptr()})
			}
		} else if c.IsKnown() && !IsCommit(spec.Commit) {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid commit",
				Detail: fmt.Sprintf("%q is not a full commit id; write the 40 lowercase hex digits (git rev-parse REF).", spec.Commit), Subject: ib.rangeOf("commit").Ptr()})
		}
		if _, ok := ib.vals["ref"]; ok {
			diags = append(diags, ib.check("ref", "Invalid ref", checkGitRef)...)
		}
		r.HashedAttrs["commit"] = hashed(c)
		if v, ok := ib.vals["subdir"]; ok {
			r.HashedAttrs["subdir"] = hashed(v)
		}
	case hasPath:
		r.HashedAttrs["path"] = hashed(ib.vals["path"])
		spec.Path = e.abs(spec.Path)
		if p, ok := knownString(ib.vals, "path"); ok {
			if why := e.missing(spec.Path, true); why != "" {
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Missing source directory",
					Detail:  fmt.Sprintf("%s: path %q (%s) %s; a path source is a local directory, relative to the configuration directory.", r.Addr, p, spec.Path, why),
					Subject: ib.rangeOf("path").Ptr()})
			}
		}
	}
	return diags
}

func (e *evaluator) decodeImage(r *Resource, ib *instanceBody) hcl.Diagnostics {
	var diags hcl.Diagnostics
	spec := &ImageSpec{Ref: str(ib.vals["ref"]), Digest: str(ib.vals["digest"])}
	r.Image = spec
	if spec.Digest != "" && !IsDigest(spec.Digest) {
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid digest",
			Detail: fmt.Sprintf("%q is not an image digest; write sha256: followed by 64 lowercase hex digits, or remove the pin.", spec.Digest), Subject: ib.rangeOf("digest").Ptr()})
	}
	if strings.Contains(spec.Ref, "@") {
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Digest in image ref",
			Detail: "Give the digest in the digest attribute, not in ref; ref names the repository and tag.", Subject: ib.rangeOf("ref").Ptr()})
	} else {
		diags = append(diags, ib.check("ref", "Invalid image reference", func(s string) error { return checkReference(s, false) })...)
	}
	r.HashedAttrs["ref"] = hashed(ib.vals["ref"])
	return diags
}

// refAttr checks that a reference attribute names a resource of an accepted type and
// returns its instance address.
func (e *evaluator) refAttr(ib *instanceBody, name string, want []string) (string, bool, hcl.Diagnostics) {
	v, ok := ib.flow(name)
	if !ok {
		return "", false, nil
	}
	rng := ib.rangeOf(name)
	marks := topRefs(v)
	if len(marks) == 0 && !v.IsKnown() {
		// An upstream error already explains this (its value is unknown); don't pile on.
		return "", false, nil
	}
	var wrong []refMark
	for _, m := range marks {
		for _, t := range want {
			if m.Type == t {
				return m.Addr, true, nil
			}
		}
		wrong = append(wrong, m)
	}
	example := want[0] + ".NAME"
	if t := v.Type(); len(marks) == 0 && (t.IsObjectType() || t.IsTupleType()) {
		return "", false, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Reference to a collection of instances",
			Detail: fmt.Sprintf("%s refers to a resource with for_each or count, which is a collection; pick one instance, e.g. %s[\"KEY\"] or %s[0] (or each.value / count.index).", name, example, example), Subject: rng.Ptr()}}
	}
	if len(wrong) > 0 {
		return "", false, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Reference to the wrong kind of resource",
			Detail: fmt.Sprintf("%s must refer to %s, but %s is %s; write %s = %s.", name, A(want[0]), wrong[0].Addr, A(wrong[0].Type), name, example), Subject: rng.Ptr()}}
	}
	return "", false, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Invalid reference",
		Detail: fmt.Sprintf("%s must be a reference such as %s, not a string or other value; write %s = %s without quotes.", name, example, name, example), Subject: rng.Ptr()}}
}

// addressOf is the address of the instance a resource mark names: the evaluated
// instance's own, parsed from the string only for one that is not (yet) indexed.
func (e *evaluator) addressOf(addr string) Address {
	if r := e.instances[addr]; r != nil {
		return r.Addr
	}
	a, _ := ParseAddress(addr)
	return a
}

func (e *evaluator) decodeBuild(r *Resource, ib *instanceBody) hcl.Diagnostics {
	var diags hcl.Diagnostics
	spec := &BuildSpec{Dockerfile: "Dockerfile", Frontend: str(ib.vals["frontend"]), Target: str(ib.vals["target"]),
		Args: strMapOf(ib.vals["args"]), Image: str(ib.vals["image"]), Tags: strs(ib.vals["tags"]),
		Triggers: strMapOf(ib.vals["triggers"])}
	r.Build = spec
	h := r.HashedAttrs
	var source *Resource
	if src, ok, ds := e.refAttr(ib, "source", []string{TypeSource}); ok {
		source = e.instances[src]
		spec.Source = e.addressOf(src)
		h["source"] = e.hashOf(src)
	} else {
		diags = append(diags, ds...)
	}
	_, written := ib.vals["dockerfile"]
	if written {
		spec.Dockerfile = str(ib.vals["dockerfile"])
		h["dockerfile"] = hashed(ib.vals["dockerfile"])
	} else {
		h["dockerfile"] = cty.StringVal("Dockerfile")
	}
	diags = append(diags, e.checkDockerfile(r, ib, source, written)...)
	for _, name := range []string{"frontend", "target", "args", "image", "triggers"} {
		if v, ok := ib.vals[name]; ok {
			h[name] = hashed(v)
		}
	}
	diags = append(diags, e.decodeContexts(r, ib)...)
	diags = append(diags, e.decodeSecrets(r, ib)...)
	if r.Addr.Type != TypeKernel {
		if k, ok, ds := e.refAttr(ib, "kernel", []string{TypeKernel}); ok {
			a := e.addressOf(k)
			spec.Kernel = &a
			h["kernel"] = e.hashOf(k)
		} else {
			diags = append(diags, ds...)
		}
	}
	if v, ok := ib.vals["modules"]; ok {
		// Hashed only when written, so configurations without it keep their hashes.
		b, _ := v.UnmarkDeep()
		spec.NoModules = b.Type() == cty.Bool && b.IsKnown() && b.False()
		h["modules"] = hashed(v)
	}
	spec.Provenance = ProvenanceMin
	if v, ok := ib.vals["provenance"]; ok {
		// Not hashed (BuildSpec.Provenance).
		if m := str(v); m == ProvenanceMin || m == ProvenanceMax {
			spec.Provenance = m
		} else if v.IsKnown() {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid provenance mode",
				Detail:  fmt.Sprintf("provenance = %q: use \"min\" (the default: the build's sources and frontend, no build args) or \"max\" (BuildKit's full record, build args included).", m),
				Subject: ib.rangeOf("provenance").Ptr()})
		}
	}
	if r.Addr.Type == TypeInstaller {
		spec.KernelArg = "PKG_KERNEL"
		if v, ok := ib.vals["kernel_arg"]; ok {
			spec.KernelArg = str(v)
		}
		h["kernel_arg"] = cty.StringVal(spec.KernelArg)
	}
	var stages map[string]cty.Value // most builds have none
	for _, b := range ib.blocks {
		switch b.Type {
		case "stage":
			if stages == nil {
				stages = map[string]cty.Value{}
			}
			if _, dup := stages[b.Labels[0]]; dup {
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Duplicate stage",
					Detail: fmt.Sprintf("The stage %q is declared twice; remove one.", b.Labels[0]), Subject: b.DefRange.Ptr()})
				continue
			}
			spec.Stages = append(spec.Stages, Stage{Target: b.Labels[0], Image: str(b.vals["image"])})
			stages[b.Labels[0]] = hashed(b.vals["image"])
		case "cache":
			spec.Cache = &CacheSpec{Ref: str(b.vals["ref"]), Mode: str(b.vals["mode"])}
			if m := spec.Cache.Mode; m != "" && m != "min" && m != "max" {
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid cache mode",
					Detail: fmt.Sprintf("cache mode %q is not min or max; use one of them.", m), Subject: b.DefRange.Ptr()})
			}
		case "signing_cert":
			spec.SigningCert = &SigningCert{Target: str(b.vals["target"]), Path: str(b.vals["path"])}
			h["signing_cert"] = cty.ObjectVal(map[string]cty.Value{"target": hashed(b.vals["target"]), "path": hashed(b.vals["path"])})
		}
	}
	if len(stages) > 0 {
		h["stages"] = cty.ObjectVal(stages)
	}
	diags = append(diags, ib.check("image", "Invalid image", checkRepository)...)
	diags = append(diags, ib.check("tags", "Invalid tag", checkTag)...)
	diags = append(diags, ib.check("frontend", "Invalid frontend", func(s string) error { return checkReference(s, true) })...)
	for _, b := range ib.blocks {
		switch b.Type {
		case "stage":
			diags = append(diags, checkAttr(b.vals, b.attrs, b.DefRange, "image", "Invalid stage image", checkRepository)...)
		case "cache":
			diags = append(diags, checkAttr(b.vals, b.attrs, b.DefRange, "ref", "Invalid cache ref", func(s string) error { return checkReference(s, false) })...)
		}
	}
	platform := str(ib.vals["platform"])
	if platform != "" {
		p, err := NormalizePlatform(platform)
		if err != nil {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid platform",
				Detail: fmt.Sprintf("%s: %s.", r.Addr, err), Subject: ib.rangeOf("platform").Ptr()})
		}
		platform = p
	}
	explicit := ""
	if b, ok, ds := e.refAttr(ib, "builder", []string{typeBuilder}); ok {
		explicit = strings.TrimPrefix(b, "builder.")
	} else {
		diags = append(diags, ds...)
	}
	r.Builder, r.Platform = e.route(explicit, platform)
	if explicit == "" {
		diags = append(diags, e.checkRoute(r, ib)...)
	}
	diags = append(diags, e.checkKernelSecrets(r, ib)...)
	return diags
}

func (e *evaluator) decodeContexts(r *Resource, ib *instanceBody) hcl.Diagnostics {
	v, ok := ib.flow("contexts")
	if !ok {
		return nil
	}
	rng := ib.rangeOf("contexts")
	uv, _ := v.Unmark()
	if !uv.IsKnown() {
		return nil
	}
	if !(uv.Type().IsObjectType() || uv.Type().IsMapType()) {
		return hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Incorrect attribute value type",
			Detail: "contexts must be a map of name = source.NAME or an image reference string; write contexts = { pkgs = source.pkgs }.", Subject: rng.Ptr()}}
	}
	spec := r.Build
	hc := map[string]cty.Value{}
	for name, ev := range uv.AsValueMap() {
		if marks := topRefs(ev); len(marks) == 1 && marks[0].Type == TypeSource {
			if spec.ContextSources == nil {
				spec.ContextSources = map[string]Address{}
			}
			spec.ContextSources[name] = e.addressOf(marks[0].Addr)
			hc[name] = e.hashOf(marks[0].Addr)
			continue
		}
		sv, err := convert.Convert(ev, cty.String)
		if t := ev.Type(); err != nil || t != cty.String && t != cty.DynamicPseudoType {
			return hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Incorrect attribute value type",
				Detail: fmt.Sprintf("contexts[%q] must be source.NAME or an image reference string (e.g. kernel.NAME.ref).", name), Subject: rng.Ptr()}}
		}
		if s, ok := knownString(map[string]cty.Value{"": sv}, ""); ok {
			// BuildKit takes docker-image://REF, or the reference alone.
			if err := checkReference(strings.TrimPrefix(s, "docker-image://"), true); err != nil {
				return hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Invalid context",
					Detail: fmt.Sprintf("contexts[%q] must be source.NAME or an image reference: %s.", name, err), Subject: rng.Ptr()}}
			}
		}
		if spec.ContextRefs == nil {
			spec.ContextRefs = map[string]string{}
		}
		spec.ContextRefs[name] = str(sv)
		hc[name] = hashed(sv)
	}
	if len(hc) > 0 {
		r.HashedAttrs["contexts"] = cty.ObjectVal(hc)
	}
	return nil
}

func (e *evaluator) decodeSecrets(r *Resource, ib *instanceBody) hcl.Diagnostics {
	specs, ids, diags := e.secretSpecs(r, ib, "secrets", `secrets = { token = { env = "GH_TOKEN" } }`)
	if specs == nil {
		return diags
	}
	r.Build.Secrets = specs
	if ids.LengthInt() > 0 {
		r.HashedAttrs["secrets"] = ids
	}
	return diags
}

// checkDockerfile refuses a build file that is not in a path source's directory, which
// BuildKit would report only when the build runs: the dockerfile written, or by default
// Dockerfile (or a bldr Pkgfile, which counts too). A git source's files are not at
// hand before its checkout, so they are not checked. src is the build's source
// instance, if any.
func (e *evaluator) checkDockerfile(r *Resource, ib *instanceBody, src *Resource, written bool) hcl.Diagnostics {
	b := r.Build
	if src == nil || src.Source == nil || src.Source.Path == "" || b.Dockerfile == "" {
		return nil
	}
	if _, ok := knownString(ib.vals, "dockerfile"); written && !ok {
		return nil
	}
	if e.missing(src.Source.Path, true) != "" {
		return nil // the source's own error says so
	}
	why := e.missing(filepath.Join(src.Source.Path, b.Dockerfile), false)
	if why == "" || !written && e.missing(filepath.Join(src.Source.Path, "Pkgfile"), false) == "" {
		return nil
	}
	detail := fmt.Sprintf("%s: dockerfile %q %s in %s's directory %s; dockerfile is relative to the source directory.", r.Addr, b.Dockerfile, why, b.Source, src.Source.Path)
	if !written {
		detail = fmt.Sprintf("%s: %s has no Dockerfile (nor a bldr Pkgfile) in %s; add one, or name the build file with dockerfile = \"PATH\" (relative to the source directory).", r.Addr, b.Source, src.Source.Path)
	}
	return hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Missing dockerfile", Detail: detail, Subject: ib.rangeOf("dockerfile").Ptr()}}
}

// secretSpecs decodes an attribute mapping each secret id to { env = "VAR" } or
// { file = "path" }: where its value comes from, never the value. It returns the specs
// (nil when the attribute is absent or wrong) and the sorted ids, which are hashed:
// which secrets a build gets is an input, their values are not. A file that does not
// exist is an error now rather than after every build before it ran (not for a
// read-only command: EvalOptions.ReadOnly); an environment variable may be set only
// where apply runs, so operation checks those before building.
func (e *evaluator) secretSpecs(r *Resource, ib *instanceBody, attr, example string) (map[string]SecretSpec, cty.Value, hcl.Diagnostics) {
	v, ok := ib.vals[attr]
	if !ok {
		return nil, cty.NilVal, nil
	}
	rng := ib.rangeOf(attr)
	uv, _ := v.UnmarkDeep()
	bad := hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Incorrect attribute value type",
		Detail: fmt.Sprintf("%s must map each id to { env = \"VAR\" } or { file = \"path\" }; write e.g. %s.", attr, example), Subject: rng.Ptr()}}
	if !uv.IsWhollyKnown() {
		// validate checks with unknown variables: nothing to say yet.
		return nil, cty.NilVal, nil
	}
	if !(uv.Type().IsObjectType() || uv.Type().IsMapType()) {
		return nil, cty.NilVal, bad
	}
	specs := map[string]SecretSpec{}
	var ids []string
	for id, sv := range uv.AsValueMap() {
		if !(sv.Type().IsObjectType() || sv.Type().IsMapType()) {
			return nil, cty.NilVal, bad
		}
		s := SecretSpec{}
		for k, x := range sv.AsValueMap() {
			cv, err := convert.Convert(x, cty.String)
			if err != nil {
				return nil, cty.NilVal, bad
			}
			switch k {
			case "env":
				s.Env = str(cv)
			case "file":
				s.File = e.abs(str(cv))
			default:
				return nil, cty.NilVal, bad
			}
		}
		if (s.Env == "") == (s.File == "") {
			return nil, cty.NilVal, bad
		}
		specs[id] = s
		ids = append(ids, id)
	}
	sort.Strings(ids)
	var diags hcl.Diagnostics
	for _, id := range ids {
		f := specs[id].File
		if f == "" || e.opts.ReadOnly {
			continue
		}
		if why := e.missing(f, false); why != "" {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Missing secret file",
				Detail:  fmt.Sprintf("%s: %s[%q] file %s %s (paths are relative to the configuration directory); create it, correct the path, or read the secret from an environment variable with { env = \"VAR\" }.", r.Addr, attr, id, f, why),
				Subject: secretEntryRange(ib.d.body.attrs[attr], id, rng).Ptr()})
		}
	}
	l := make([]cty.Value, len(ids))
	for i, id := range ids {
		l[i] = cty.StringVal(id)
	}
	if len(l) == 0 {
		return specs, cty.ListValEmpty(cty.String), diags
	}
	return specs, cty.ListVal(l), diags
}

// secretEntryRange is where the file of secret id is written in a literal map, else
// def.
func secretEntryRange(a *hcl.Attribute, id string, def hcl.Range) hcl.Range {
	if a == nil {
		return def
	}
	obj, ok := a.Expr.(*hclsyntax.ObjectConsExpr)
	if !ok {
		return def
	}
	for _, item := range obj.Items {
		if k, ds := item.KeyExpr.Value(nil); ds.HasErrors() || k.Type() != cty.String || !k.IsKnown() || k.AsString() != id {
			continue
		}
		if inner, ok := item.ValueExpr.(*hclsyntax.ObjectConsExpr); ok {
			for _, it := range inner.Items {
				if k, ds := it.KeyExpr.Value(nil); !ds.HasErrors() && k.Type() == cty.String && k.IsKnown() && k.AsString() == "file" {
					return it.ValueExpr.Range()
				}
			}
		}
		return item.ValueExpr.Range()
	}
	return def
}

// route picks the builder and platform of a resource: an explicit builder wins; else
// the first builder listing the platform; else the "default" builder or the first one.
// The platform defaults to the chosen builder's first platform, else linux/amd64.
func (e *evaluator) route(explicit, platform string) (string, string) {
	var chosen *Builder
	if explicit != "" {
		chosen = e.cfg.Builders[explicit]
	}
	if chosen == nil && platform != "" {
		for _, b := range e.builders {
			for _, p := range b.Platforms {
				if p == platform {
					chosen = b
					break
				}
			}
			if chosen != nil {
				break
			}
		}
	}
	if chosen == nil {
		chosen = e.cfg.Builders["default"]
	}
	if chosen == nil && len(e.builders) > 0 {
		chosen = e.builders[0]
	}
	if platform == "" {
		platform = "linux/amd64"
		if chosen != nil && len(chosen.Platforms) > 0 {
			platform = chosen.Platforms[0]
		}
	}
	name := ""
	if chosen != nil {
		name = chosen.Name
	}
	return name, platform
}

func (e *evaluator) defaultAddress() string {
	if h := env(e.opts.Environ, "BUILDKIT_HOST"); h != "" {
		return h
	}
	return "unix:///run/buildkit/buildkitd.sock"
}

// checkAddress checks a builder address with EvalOptions.CheckBuilderAddress, if any.
func (e *evaluator) checkAddress(address string) error {
	if e.opts.CheckBuilderAddress == nil {
		return nil
	}
	return e.opts.CheckBuilderAddress(address)
}

func (e *evaluator) addDefaultBuilder() hcl.Diagnostics {
	b := &Builder{Name: "default", Address: e.defaultAddress()}
	e.builders = append(e.builders, b)
	e.cfg.Builders[b.Name] = b
	if err := e.checkAddress(b.Address); err != nil {
		return hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Invalid builder address",
			Detail: fmt.Sprintf("No builder is declared, so builds go to $BUILDKIT_HOST, and %s; fix BUILDKIT_HOST or declare a builder block.", err)}}
	}
	return nil
}

func (e *evaluator) evalBuilder(n *node) hcl.Diagnostics {
	eb, diags := evalBody(nil, n.d.body, e.hclCtx(n))
	vals, blocks := eb.vals, eb.blocks
	if vars := sensitiveVars(vals["platforms"]); vars != nil {
		diags = append(diags, sensitiveDiag(n.d.key(), "platforms", vars, n.d.body.attrs["platforms"].Expr.Range()))
		delete(vals, "platforms")
	}
	b := &Builder{Name: n.d.Name, Address: str(vals["address"]), DeclRange: n.d.DeclRange}
	attrs := n.d.body.attrs
	for _, p := range strs(vals["platforms"]) {
		np, err := NormalizePlatform(p)
		if err != nil {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid platform",
				Detail: fmt.Sprintf("builder.%s platforms: %s.", b.Name, err), Subject: attrs["platforms"].Expr.Range().Ptr()})
			continue
		}
		b.Platforms = append(b.Platforms, np)
	}
	if b.Address == "" {
		b.Address = e.defaultAddress()
		if err := e.checkAddress(b.Address); err != nil {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid builder address",
				Detail: fmt.Sprintf("builder.%s has no address, so it takes $BUILDKIT_HOST, and %s.", b.Name, err), Subject: n.d.DeclRange.Ptr()})
		}
	} else if _, ok := knownString(vals, "address"); ok {
		if err := e.checkAddress(b.Address); err != nil {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid builder address",
				Detail: fmt.Sprintf("builder.%s: %s.", b.Name, err), Subject: attrs["address"].Expr.Range().Ptr()})
		}
	}
	for _, blk := range blocks {
		if blk.Type == "tls" {
			b.TLS = &BuilderTLS{CACert: e.abs(str(blk.vals["ca_cert"])), Cert: e.abs(str(blk.vals["cert"])),
				Key: e.abs(str(blk.vals["key"])), ServerName: str(blk.vals["server_name"])}
			if (b.TLS.Cert == "") != (b.TLS.Key == "") {
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Client certificate without its key",
					Detail:  fmt.Sprintf("builder.%s: tls cert and key go together (a client certificate and its private key); set both, or neither for server authentication only.", b.Name),
					Subject: blk.DefRange.Ptr()})
			}
			for _, f := range []struct{ attr, path string }{{"ca_cert", b.TLS.CACert}, {"cert", b.TLS.Cert}, {"key", b.TLS.Key}} {
				if f.path == "" || e.opts.ReadOnly {
					continue
				}
				if why := e.missing(f.path, false); why != "" {
					diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Missing TLS file",
						Detail:  fmt.Sprintf("builder.%s: tls %s %s %s; paths are relative to the configuration directory.", b.Name, f.attr, f.path, why),
						Subject: blk.attrs[f.attr].Expr.Range().Ptr()})
				}
			}
		}
	}
	if strings.HasPrefix(b.Address, "tcp://") && b.TLS == nil && n.d.body.attrs["address"] != nil {
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagWarning, Summary: "Builder without TLS",
			Detail:  fmt.Sprintf("builder.%s is reached over tcp:// without a tls block, so build secrets and the registry credentials BuildKit pushes with travel in clear; add tls { ca_cert, cert, key }, or reach it through a unix socket or an SSH tunnel.", b.Name),
			Subject: attrs["address"].Expr.Range().Ptr()})
	}
	e.builders = append(e.builders, b)
	e.cfg.Builders[b.Name] = b
	plats := make([]cty.Value, len(b.Platforms))
	for i, p := range b.Platforms {
		plats[i] = cty.StringVal(p)
	}
	pl := cty.ListValEmpty(cty.String)
	if len(plats) > 0 {
		pl = cty.ListVal(plats)
	}
	e.values[n.d.key()] = cty.ObjectVal(map[string]cty.Value{"name": cty.StringVal(b.Name), "address": cty.StringVal(b.Address), "platforms": pl}).
		Mark(refMark{Type: typeBuilder, Addr: n.d.key()})
	return diags
}

func (e *evaluator) decodeProfile(r *Resource, ib *instanceBody) hcl.Diagnostics {
	var diags hcl.Diagnostics
	v := ib.vals
	spec := &ProfileSpec{Arch: str(v["arch"]), Platform: str(v["platform"]), Version: str(v["version"]),
		Secureboot: boolean(v["secureboot"]), Installer: str(v["installer"]), Extensions: strs(v["extensions"]),
		KernelArgs: strs(v["kernel_args"]), Imager: str(v["imager"]), Image: str(v["image"]), Tags: strs(v["tags"]),
		Dest: str(v["dest"])}
	if spec.Platform == "" {
		spec.Platform = "metal"
	}
	if spec.Dest == "" {
		spec.Dest = "_out/profiles"
	}
	spec.Dest = e.abs(spec.Dest)
	r.Profile = spec
	h := r.HashedAttrs
	h["platform"] = cty.StringVal(spec.Platform)
	for _, name := range []string{"arch", "version", "secureboot", "installer", "extensions", "kernel_args", "imager", "image", "board"} {
		if x, ok := v[name]; ok {
			h[name] = hashed(x)
		}
	}
	keys, keyIDs, ds := e.secretSpecs(r, ib, "secureboot_keys", `secureboot_keys = { "uki-signing-key.pem" = { file = "keys/uki-signing-key.pem" } }`)
	diags = append(diags, ds...)
	if keys != nil {
		spec.SecurebootKeys = keys
		if keyIDs.LengthInt() > 0 {
			h["secureboot_keys"] = keyIDs
		}
	}
	board := str(v["board"])
	for _, b := range ib.blocks {
		switch b.Type {
		case "overlay":
			spec.Overlay = &Overlay{Name: str(b.vals["name"]), Image: str(b.vals["image"]), Options: goValue(b.vals["options"])}
			ov := map[string]cty.Value{"name": hashed(b.vals["name"]), "image": hashed(b.vals["image"])}
			if o, ok := b.vals["options"]; ok {
				ov["options"] = hashed(o)
			}
			h["overlay"] = cty.ObjectVal(ov)
		case "output":
			spec.Output = ProfileOutput{Kind: str(b.vals["kind"]), OutFormat: str(b.vals["out_format"]), DiskSize: integer(b.vals["disk_size"]),
				DiskFormat: str(b.vals["disk_format"]), Bootloader: str(b.vals["bootloader"])}
			ov := map[string]cty.Value{}
			for k, x := range b.vals {
				ov[k] = hashed(x)
			}
			h["output"] = cty.ObjectVal(ov)
		}
	}
	explicit := ""
	if b, ok, ds := e.refAttr(ib, "builder", []string{typeBuilder}); ok {
		explicit = strings.TrimPrefix(b, "builder.")
	} else {
		diags = append(diags, ds...)
	}
	if spec.Arch != "" {
		r.Builder, r.Platform = e.route(explicit, "linux/"+spec.Arch)
	}
	ref := func(s string) error { return checkReference(s, true) }
	diags = append(diags, ib.check("image", "Invalid image", checkRepository)...)
	diags = append(diags, ib.check("tags", "Invalid tag", checkTag)...)
	for _, name := range []string{"installer", "imager", "extensions"} {
		diags = append(diags, ib.check(name, "Invalid image reference", ref)...)
	}
	for _, b := range ib.blocks {
		if b.Type == "overlay" {
			diags = append(diags, checkAttr(b.vals, b.attrs, b.DefRange, "image", "Invalid overlay image", ref)...)
		}
	}
	diags = append(diags, checkProfile(r, ib, board)...)
	diags = append(diags, e.checkKernelConsistency(r, ib)...)
	return diags
}
