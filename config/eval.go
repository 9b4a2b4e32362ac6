package config

import (
	"context"
	"fmt"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
	"github.com/zclconf/go-cty/cty/function"
)

// node is a declaration in the evaluation graph: a local, a builder, a resource block
// or an output. Variables are resolved before the graph is walked.
type node struct {
	d    *decl
	refs []ref
	deps []*node
	// depRange[i] is where d refers to deps[i], for cycle reports.
	depRange []hcl.Range
	// resDeps are the resource blocks this node depends on, directly or through locals;
	// only a direct reference keeps its key expression.
	resDeps []ref
}

type evaluator struct {
	ctx    context.Context
	m      *Module
	opts   EvalOptions
	funcs  map[string]function.Function
	varObj cty.Value
	// values holds each evaluated node's value by node key (local.x, kernel.a, ...).
	values map[string]cty.Value
	// nodes indexes the graph by node key.
	nodes map[string]*node
	// instances indexes every resource instance by address string; blocks by block.
	instances map[string]*Resource
	blocks    map[string]*blockInstances
	builders  []*Builder
	cfg       *Config
	// missingPaths memoises missing: a matrix's instances share their source directory
	// and Dockerfile, which one evaluation looks at once, not once per instance.
	missingPaths map[missingKey]string
	missingMu    sync.Mutex
	// errored is set once the walk has reported an error. A value carries failedMark
	// only after its declaration's error, so until then no for_each or count is
	// searched for one (a matrix's for_each map is thousands of values).
	errored bool
}

func (m *Module) newEvaluator(ctx context.Context, opts EvalOptions) *evaluator {
	cfg := &Config{Dir: m.AbsDir, Files: m.parser.Files(), Builders: map[string]*Builder{}}
	return &evaluator{ctx: ctx, m: m, opts: opts, funcs: functions(m.AbsDir), values: map[string]cty.Value{},
		instances: map[string]*Resource{}, blocks: map[string]*blockInstances{}, cfg: cfg, missingPaths: map[missingKey]string{}}
}

// Settings evaluates only the sovos block and the variables: what locating the state
// needs, at a cost independent of the number of resources. The Config it returns has no
// resources; Evaluate reports its diagnostics again, warnings included.
func (m *Module) Settings(ctx context.Context, opts EvalOptions) (*Config, hcl.Diagnostics) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.newEvaluator(ctx, opts)
	diags := m.checkVersion()
	if diags.HasErrors() {
		return e.cfg, diags
	}
	vars, varObj, ds := m.resolveVariables(opts, e)
	diags = append(diags, ds...)
	e.cfg.Variables, e.varObj = vars, varObj
	if !diags.HasErrors() {
		diags = append(diags, e.settings()...)
	}
	redactDiags(diags)
	return e.cfg, diags
}

// Evaluate evaluates the module: variables, locals, builders and every resource in
// dependency order, calling opts.Hooks (when set) to learn hashes and digests.
func (m *Module) Evaluate(ctx context.Context, opts EvalOptions) (*Config, hcl.Diagnostics) {
	// Pruning conditionals edits expression trees for a moment (flow.go): one evaluation
	// of a module at a time.
	m.mu.Lock()
	defer m.mu.Unlock()
	cfg, diags := m.evaluate(ctx, opts)
	redactDiags(diags)
	return cfg, diags
}

func (m *Module) evaluate(ctx context.Context, opts EvalOptions) (*Config, hcl.Diagnostics) {
	e := m.newEvaluator(ctx, opts)
	cfg := e.cfg

	diags := m.checkVersion()
	if diags.HasErrors() {
		return cfg, diags
	}
	vars, varObj, ds := m.resolveVariables(opts, e)
	diags = append(diags, ds...)
	cfg.Variables, e.varObj = vars, varObj
	// The graph needs no values: report reference errors and cycles together with
	// variable errors, so one run shows everything that is structurally wrong.
	nodes, ds := e.graph()
	diags = append(diags, ds...)
	var order []*node
	if !ds.HasErrors() {
		order, ds = sortNodes(nodes)
		diags = append(diags, ds...)
	}
	if diags.HasErrors() {
		return cfg, diags
	}
	diags = append(diags, e.settings()...)
	if len(m.builders) == 0 {
		diags = append(diags, e.addDefaultBuilder()...)
	}
	for _, n := range order {
		if err := ctx.Err(); err != nil {
			return cfg, append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Evaluation interrupted", Detail: err.Error()})
		}
		e.computeResDeps(n)
		switch n.d.Kind {
		case "local":
			// A local's value is what references to it see, so it keeps only the marks
			// of the branches it took (flow.go); the value itself is the ordinary one.
			hctx := e.hclCtx(n)
			v, ds := n.d.expr.Value(hctx)
			diags = append(diags, ds...)
			if ds.HasErrors() {
				v = failedVal
			} else if fv, ok := consumedValue(n.d.flowOf(n.d.expr), hctx); ok {
				v = fv
			}
			e.values[n.d.key()] = v
		case typeBuilder:
			diags = append(diags, e.evalBuilder(n)...)
		case "output":
			diags = append(diags, e.evalOutput(n)...)
		default:
			diags = append(diags, e.evalResource(n)...)
		}
		e.errored = e.errored || diags.HasErrors()
	}
	cfg.index = e.instances
	cfg.indexConsumers()
	diags = append(diags, checkProfileFiles(cfg.Resources)...)
	suggestAttributes(diags)
	return cfg, diags
}

// graph resolves every declaration's references into edges.
func (e *evaluator) graph() ([]*node, hcl.Diagnostics) {
	var diags hcl.Diagnostics
	ns := e.m.names()
	byKey := map[string]*node{}
	e.nodes = byKey
	var nodes []*node
	for _, group := range [][]*decl{e.m.locals, e.m.builders, e.m.resources, e.m.outputs} {
		for _, d := range group {
			n := &node{d: d}
			byKey[d.key()] = n
			nodes = append(nodes, n)
		}
	}
	var builderNodes []*node
	for _, d := range e.m.builders {
		builderNodes = append(builderNodes, byKey[d.key()])
	}
	for _, n := range nodes {
		refs, ds := ns.references(n.d)
		diags = append(diags, ds...)
		n.refs = refs
		seen := map[*node]bool{}
		for _, r := range refs {
			if r.root == "var" {
				continue
			}
			dep := byKey[r.nodeKey()]
			if dep == nil || seen[dep] {
				continue
			}
			seen[dep] = true
			n.deps = append(n.deps, dep)
			n.depRange = append(n.depRange, r.rng)
		}
		// Routing a resource by platform needs every builder, so builders come first.
		if resourceTypes[n.d.Kind] {
			for _, b := range builderNodes {
				if !seen[b] {
					seen[b] = true
					n.deps = append(n.deps, b)
					n.depRange = append(n.depRange, n.d.DeclRange)
				}
			}
		}
	}
	return nodes, diags
}

// sortNodes orders nodes so each comes after its dependencies, keeping declaration
// order where the graph allows, and reports the first cycle it meets.
func sortNodes(nodes []*node) ([]*node, hcl.Diagnostics) {
	const (
		unvisited = iota
		onStack
		done
	)
	state := make(map[*node]int, len(nodes))
	pos := make(map[*node]int, len(nodes))
	var stack []*node
	var stackRefs []hcl.Range
	out := make([]*node, 0, len(nodes))
	var visit func(n *node) *hcl.Diagnostic
	visit = func(n *node) *hcl.Diagnostic {
		state[n] = onStack
		pos[n] = len(stack)
		stack = append(stack, n)
		for i, dep := range n.deps {
			switch state[dep] {
			case unvisited:
				stackRefs = append(stackRefs, n.depRange[i])
				if d := visit(dep); d != nil {
					return d
				}
				stackRefs = stackRefs[:len(stackRefs)-1]
			case onStack:
				cycle := stack[pos[dep]:]
				ranges := append(append([]hcl.Range{}, stackRefs[pos[dep]:]...), n.depRange[i])
				return cycleDiag(cycle, ranges)
			}
		}
		stack = stack[:len(stack)-1]
		state[n] = done
		out = append(out, n)
		return nil
	}
	for _, n := range nodes {
		if state[n] == unvisited {
			if d := visit(n); d != nil {
				return nil, hcl.Diagnostics{d}
			}
		}
	}
	return out, nil
}

func cycleDiag(cycle []*node, ranges []hcl.Range) *hcl.Diagnostic {
	names := make([]string, 0, len(cycle)+1)
	var where []string
	for i, n := range cycle {
		names = append(names, n.d.key())
		next := cycle[(i+1)%len(cycle)].d.key()
		where = append(where, fmt.Sprintf("%s refers to %s at %s", n.d.key(), next, ranges[i]))
	}
	names = append(names, cycle[0].d.key())
	return &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  "Dependency cycle: " + strings.Join(names, " -> "),
		Detail:   fmt.Sprintf("These declarations depend on each other (%s); remove one of the references to break the cycle.", strings.Join(where, "; ")),
		Subject:  ranges[0].Ptr(),
	}
}

// computeResDeps collects the resource blocks n depends on, looking through locals. A
// reference through a local depends on every instance the local names: its key
// expression, if any, belongs to the local's scope.
func (e *evaluator) computeResDeps(n *node) {
	seen := map[string]bool{}
	add := func(r ref) {
		k := r.nodeKey()
		switch {
		case r.keyExpr != nil:
			k = "" // each keyed site is evaluated on its own
		case r.key != cty.NilVal:
			k += "[" + r.key.GoString() + "]"
		}
		if r.explicit {
			k += " (depends_on)"
		}
		if k == "" || !seen[k] {
			seen[k] = true
			n.resDeps = append(n.resDeps, r)
		}
	}
	for _, r := range n.refs {
		switch {
		case resourceTypes[r.root]:
			add(r)
		case r.root == "local":
			if dep := e.nodes[r.nodeKey()]; dep != nil {
				for _, rr := range dep.resDeps {
					rr.keyExpr = nil
					rr.explicit = false
					add(rr)
				}
			}
		}
	}
}

// hclCtx builds the evaluation context of a node from exactly the values it refers to,
// so building contexts costs O(references), not O(declarations).
func (e *evaluator) hclCtx(n *node) *hcl.EvalContext {
	vars := map[string]cty.Value{"var": e.varObj}
	groups := map[string]map[string]cty.Value{}
	for _, r := range n.refs {
		if r.root == "var" {
			continue
		}
		g := groups[r.root]
		if g == nil {
			g = map[string]cty.Value{}
			groups[r.root] = g
		}
		v, ok := e.values[r.nodeKey()]
		if !ok {
			v = cty.DynamicVal
		}
		g[r.name] = v
	}
	for root, g := range groups {
		vars[root] = cty.ObjectVal(g)
	}
	return &hcl.EvalContext{Variables: vars, Functions: e.funcs}
}

func (e *evaluator) settings() hcl.Diagnostics {
	s := &e.cfg.Settings
	var diags hcl.Diagnostics
	ws := ""
	var wsRange *hcl.Range
	if d := e.m.settings; d != nil {
		hctx := &hcl.EvalContext{Variables: map[string]cty.Value{"var": e.varObj}, Functions: e.funcs}
		eb, ds := evalBody(nil, d.body, hctx)
		vals, blocks := eb.vals, eb.blocks
		diags = append(diags, ds...)
		// Where the state is and which registries speak plain HTTP are printed in
		// messages and plans: no secret belongs there.
		check := func(vals map[string]cty.Value, attrs hcl.Attributes, prefix string) {
			for _, name := range sortedKeys(vals) {
				if vars := sensitiveVars(vals[name]); vars != nil {
					diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Sensitive value in sovos." + prefix + name,
						Detail: fmt.Sprintf("sovos.%s%s derives from the sensitive variable %s, and it is printed in messages and plans; use a value that is not sensitive (registry credentials come from the Docker config, never from the configuration).",
							prefix, name, strings.Join(vars, ", ")),
						Subject: attrs[name].Expr.Range().Ptr()})
					delete(vals, name)
				}
			}
		}
		check(vals, d.body.attrs, "")
		for _, b := range blocks {
			check(b.vals, b.attrs, b.Type+".")
		}
		s.RequiredVersion = str(vals["required_version"])
		s.InsecureRegistries = strs(vals["insecure_registries"])
		e.noteUnset("sovos.insecure_registries", vals["insecure_registries"])
		for _, b := range blocks {
			if b.Type == "signing" {
				s.Signing, ds = e.signing(b)
				diags = append(diags, ds...)
			}
			if b.Type == "state" {
				s.State.Registry = str(b.vals["registry"])
				s.State.Path = str(b.vals["path"])
				ws = str(b.vals["workspace"])
				e.noteUnset("sovos.state.registry", b.vals["registry"])
				e.noteUnset("sovos.state.path", b.vals["path"])
				if e.opts.Workspace == "" && env(e.opts.Environ, "SOVOS_WORKSPACE") == "" {
					e.noteUnset("sovos.state.workspace", b.vals["workspace"])
				}
				if a, ok := b.attrs["workspace"]; ok {
					wsRange = a.Expr.Range().Ptr()
				}
				if s.State.Registry != "" && s.State.Path != "" {
					diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Conflicting state settings",
						Detail: "sovos.state sets both registry and path; keep exactly one of them.", Subject: b.DefRange.Ptr()})
				}
			}
		}
	}
	if s.State.Registry == "" {
		if s.State.Path == "" {
			s.State.Path = DefaultStatePath
		}
		s.State.Path = e.abs(s.State.Path)
	} else {
		s.State.Path = ""
	}
	resolved, err := ResolveWorkspace(e.opts.Workspace, e.opts.Environ, ws)
	if err != nil {
		d := &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid workspace name", Detail: err.Error() + "."}
		if e.opts.Workspace == "" && env(e.opts.Environ, "SOVOS_WORKSPACE") == "" {
			d.Subject = wsRange
		}
		diags = append(diags, d)
	}
	s.State.Workspace = resolved
	return diags
}

// signing decodes sovos.signing: a key pair or keyless, not both, and keyless options
// only with keyless.
func (e *evaluator) signing(b *evaluatedBlock) (*SigningSettings, hcl.Diagnostics) {
	var diags hcl.Diagnostics
	s := &SigningSettings{
		Key: str(b.vals["key"]), PublicKey: str(b.vals["public_key"]), Keyless: boolean(b.vals["keyless"]),
		Identity: str(b.vals["identity"]), Issuer: str(b.vals["issuer"]),
		FulcioURL: str(b.vals["fulcio_url"]), RekorURL: str(b.vals["rekor_url"]), TrustedRoot: str(b.vals["trusted_root"]),
		DeclRange: b.DefRange,
	}
	fail := func(attr, summary, detail string) {
		rng := b.DefRange
		if a, ok := b.attrs[attr]; ok {
			rng = a.Expr.Range()
		}
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: summary, Detail: detail, Subject: rng.Ptr()})
	}
	switch {
	case s.Key != "" && s.Keyless:
		fail("keyless", "Conflicting signing settings", `sovos.signing sets both key and keyless = true: sign with a cosign key pair (key = "cosign.key") or keyless through Sigstore (keyless = true), not both.`)
	case s.Key == "" && !s.Keyless && known(b.vals["key"]) && known(b.vals["keyless"]):
		fail("", "Incomplete signing settings", `sovos.signing needs key = "cosign.key" (a cosign key pair's private key; its password comes from COSIGN_PASSWORD) or keyless = true (Sigstore keyless signing with the CI's OIDC identity).`)
	}
	if !s.Keyless {
		for _, attr := range []string{"identity", "issuer", "fulcio_url", "rekor_url", "trusted_root"} {
			if _, ok := b.vals[attr]; ok && s.Key != "" {
				fail(attr, "Keyless setting without keyless", fmt.Sprintf("sovos.signing.%s applies to keyless signing only; remove it, or sign keyless (keyless = true) instead of with key.", attr))
			}
		}
	} else if _, ok := b.vals["public_key"]; ok {
		fail("public_key", "Key setting with keyless", "sovos.signing.public_key applies to signing with a key pair; keyless signatures are checked against Sigstore's certificate authority and the identity.")
	}
	if s.Identity != "" {
		if _, err := regexp.Compile(s.Identity); err != nil {
			fail("identity", "Invalid signing identity", fmt.Sprintf("sovos.signing.identity is a regular expression over the certificate's subject alternative name: %v.", err))
		}
	}
	s.Key, s.PublicKey, s.TrustedRoot = e.abs(s.Key), e.abs(s.PublicKey), e.abs(s.TrustedRoot)
	return s, diags
}

// known reports whether an attribute's value is known (absent counts as known).
func known(v cty.Value) bool { return v == cty.NilVal || v.IsWhollyKnown() }

// noteUnset records in Settings.Unset that setting derives from required variables
// without a value.
func (e *evaluator) noteUnset(setting string, v cty.Value) {
	if v == cty.NilVal {
		return
	}
	if vars := unsetVars(v); vars != nil {
		s := &e.cfg.Settings
		if s.Unset == nil {
			s.Unset = map[string][]string{}
		}
		s.Unset[setting] = vars
	}
}

func (e *evaluator) abs(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(e.m.AbsDir, p)
}

func env(environ []string, name string) string {
	for i := len(environ) - 1; i >= 0; i-- {
		if k, v, ok := strings.Cut(environ[i], "="); ok && k == name {
			return v
		}
	}
	return ""
}

// evaluatedBody is a block body after evaluation.
type evaluatedBody struct {
	// vals holds the attributes' values; an attribute that failed to evaluate, or whose
	// value derives from a declaration that failed, is absent.
	vals map[string]cty.Value
	// flows holds, for attributes with a prunable conditional, the value whose marks say
	// what the attribute consumes (flow.go); the others' marks are in vals.
	flows  map[string]cty.Value
	blocks []*evaluatedBlock
	// refs holds the address of every resource instance whose mark reaches one of the
	// body's attributes or those of its nested blocks: for a resource's body, what it
	// consumes.
	refs map[string]bool
	// failed is set when an attribute derives from a declaration that failed: its
	// diagnostic is reported already, and this body must not add another.
	failed bool
	// sensitive is set when an attribute (of the body or a nested block) derives from a
	// sensitive value: only then has checkSensitive anything to look at.
	sensitive bool
}

// scanMarks records the resource marks of v and whether it is sensitive, and reports
// whether v derives from a declaration that failed: one walk over v's marks.
func (b *evaluatedBody) scanMarks(v cty.Value) (failed bool) {
	walkMarks(v, func(m any) bool {
		switch m := m.(type) {
		case refMark:
			b.addRef(m.Addr)
		case failedMark:
			failed = true
		case string:
			b.sensitive = b.sensitive || m == MarkSensitive
		}
		return true
	})
	return failed
}

func (b *evaluatedBody) addRef(addr string) {
	if b.refs == nil {
		b.refs = map[string]bool{}
	}
	b.refs[addr] = true
}

// flow returns the value of attribute name whose marks say what it consumes.
func (b *evaluatedBody) flow(name string) (cty.Value, bool) {
	if v, ok := b.flows[name]; ok {
		return v, true
	}
	v, ok := b.vals[name]
	return v, ok
}

// evaluatedBlock is a nested block after evaluation.
type evaluatedBlock struct {
	evaluatedBody
	Type     string
	Labels   []string
	DefRange hcl.Range
	attrs    hcl.Attributes // as written, even those that failed to evaluate
	missing  hcl.Range
}

// evalBody evaluates every non-static attribute of b (and its nested blocks) and
// converts it to the type its schema declares. Null values count as absent. d, when
// set, is the declaration b belongs to: its conditionals are pruned for the marks.
func evalBody(d *decl, b *body, hctx *hcl.EvalContext) (*evaluatedBody, hcl.Diagnostics) {
	var diags hcl.Diagnostics
	out := &evaluatedBody{vals: make(map[string]cty.Value, len(b.attrs))}
	for _, a := range b.evaluated {
		s := a.schema
		v, ds := a.Expr.Value(hctx)
		diags = append(diags, ds...)
		if ds.HasErrors() {
			continue
		}
		var fv cty.Value
		pruned := false
		if d != nil {
			fv, pruned = consumedValue(d.flowOf(a.Expr), hctx)
		}
		mv := v
		if pruned {
			mv = fv
		}
		if out.scanMarks(mv) {
			out.failed = true
			continue
		}
		if pruned {
			// The pruned value's marks are what is consumed; v keeps those of both
			// branches, and a secret in either is refused (checkSensitive).
			out.sensitive = out.sensitive || IsSensitive(v)
		}
		if v.IsNull() {
			continue
		}
		if s.Type != anyType {
			cv, err := convert.Convert(v, s.Type)
			if err != nil {
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Incorrect attribute value type",
					Detail: fmt.Sprintf("Inappropriate value for attribute %q: %s.", a.Name, err), Subject: a.Expr.Range().Ptr(), Expression: a.Expr, EvalContext: hctx})
				continue
			}
			v = cv
			if pruned {
				fv, _ = convert.Convert(fv, s.Type)
			}
		}
		out.vals[a.Name] = v
		if pruned {
			if out.flows == nil {
				out.flows = map[string]cty.Value{}
			}
			out.flows[a.Name] = fv
		}
	}
	for _, nb := range b.blocks {
		eb, ds := evalBody(d, nb.body, hctx)
		diags = append(diags, ds...)
		// A nested block's attributes (stage, overlay, output, signing_cert, cache) are
		// evaluated attributes of the resource (SPEC §2): what they name is consumed.
		out.failed = out.failed || eb.failed
		out.sensitive = out.sensitive || eb.sensitive
		for r := range eb.refs {
			out.addRef(r)
		}
		out.blocks = append(out.blocks, &evaluatedBlock{evaluatedBody: *eb, Type: nb.Type, Labels: nb.Labels, DefRange: nb.DefRange, attrs: nb.body.attrs, missing: nb.body.missing})
	}
	return out, diags
}

func (e *evaluator) evalOutput(n *node) hcl.Diagnostics {
	eb, diags := evalBody(nil, n.d.body, e.hclCtx(n))
	v, ok := eb.vals["value"]
	if !ok {
		v = cty.NullVal(cty.DynamicPseudoType)
	}
	sens := false
	if s, ok := eb.vals["sensitive"]; ok && s.IsKnown() {
		s, _ = s.Unmark()
		sens = s.True()
	}
	if vars := sensitiveVars(v); vars != nil && !sens {
		// As Terraform: an output is printed and stored in the state, so exporting a
		// secret must be said.
		rng := n.d.DeclRange
		if a, ok := n.d.body.attrs["value"]; ok {
			rng = a.Expr.Range()
		}
		return append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Output refers to sensitive values",
			Detail: fmt.Sprintf("output.%s derives from the sensitive variable %s; outputs are printed after apply and by `sovos output`, so declare it sensitive = true to show it as %s, or leave the secret out of it.",
				n.d.Name, strings.Join(vars, ", "), Redacted),
			Subject: rng.Ptr()})
	}
	e.cfg.Outputs = append(e.cfg.Outputs, &Output{Name: n.d.Name, Value: stripRefMarks(v), Sensitive: sens})
	return diags
}

// MaxInstances bounds the instances of one block (count, for_each): ten times the
// scale sovos is built for (SPEC §4, 10,000 instances), so that count = 1e9 is an error
// rather than minutes of work and gigabytes.
const MaxInstances = 100000

// instance is one instance of a resource block: its key and its each/count values.
type instance struct {
	key   any
	each  cty.Value // object{key, value}, or NilVal
	count cty.Value // object{index}, or NilVal
	// unknown is the one instance validate checks when for_each or count depends on a
	// variable without a value: its key is unknown, and unset names those variables.
	unknown bool
	unset   []string
}

var (
	unknownEach  = cty.ObjectVal(map[string]cty.Value{"key": cty.UnknownVal(cty.String), "value": cty.DynamicVal})
	unknownCount = cty.ObjectVal(map[string]cty.Value{"index": cty.UnknownVal(cty.Number)})
)

// expand expands for_each / count into instances. failed reports a for_each or count
// that derives from a declaration that failed (whose error is reported already).
func (e *evaluator) expand(n *node, hctx *hcl.EvalContext) (insts []instance, failed bool, diags hcl.Diagnostics) {
	fe, hasFE := n.d.body.attrs["for_each"]
	cnt, hasCount := n.d.body.attrs["count"]
	if hasFE && hasCount {
		return nil, false, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Both for_each and count",
			Detail: "A resource can use for_each or count, not both; remove one of them.", Subject: cnt.NameRange.Ptr()}}
	}
	switch {
	case hasFE:
		v, diags := fe.Expr.Value(hctx)
		if diags.HasErrors() {
			return nil, false, diags
		}
		if e.errored && hasFailed(v) {
			return nil, true, diags
		}
		if vars := sensitiveKeys(v); vars != nil {
			return nil, false, append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid for_each argument",
				Detail:  fmt.Sprintf("The for_each keys derive from the sensitive variable %s, and instance keys are printed in every address; use keys that are not sensitive (the values of a map may be).", strings.Join(vars, ", ")),
				Subject: fe.Expr.Range().Ptr()})
		}
		if e.opts.Validate && !v.IsWhollyKnown() && hasUnset(v) {
			// each.key and each.value are unknown, and say which variables they wait for.
			return []instance{{each: withUnsetMarks(unknownEach, v), unknown: true, unset: unsetVars(v)}}, false, diags
		}
		// each.value keeps the marks of what it came from (data flow); the keys are
		// addresses and carry none.
		v, top := v.Unmark()
		bad := func(why string) hcl.Diagnostics {
			return append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid for_each argument",
				Detail: why, Subject: fe.Expr.Range().Ptr()})
		}
		if !v.IsWhollyKnown() {
			return nil, false, bad("The for_each value depends on values known only after hashing (a .hash, .tag or .ref); use variables, locals or literals instead.")
		}
		if v.IsNull() {
			return nil, false, bad("for_each is null; give a map or a set of strings.")
		}
		ty := v.Type()
		if n := v.LengthInt(); n > MaxInstances {
			return nil, false, bad(fmt.Sprintf("for_each has %d elements; a block has at most %d instances.", n, MaxInstances))
		}
		var out []instance
		switch {
		case ty.IsMapType() || ty.IsObjectType():
			// cty iterates a map's keys and an object's attributes in sorted order.
			out = make([]instance, 0, v.LengthInt())
			for it := v.ElementIterator(); it.Next(); {
				k, ev := it.Element()
				out = append(out, instance{key: k.AsString(), each: cty.ObjectVal(map[string]cty.Value{"key": k, "value": ev.WithMarks(top)})})
			}
		case ty.IsSetType() || ty.IsListType() || ty.IsTupleType():
			if !ty.IsSetType() {
				return nil, false, bad("for_each takes a map or a set of strings, not a list; wrap the list in toset(...).")
			}
			for it := v.ElementIterator(); it.Next(); {
				_, ev := it.Element()
				sv, err := convert.Convert(ev, cty.String)
				if err != nil || sv.IsNull() {
					return nil, false, bad("A set given to for_each must contain strings; convert the elements or use a map.")
				}
				sv, _ = sv.Unmark()
				k := sv.AsString()
				out = append(out, instance{key: k, each: cty.ObjectVal(map[string]cty.Value{"key": sv, "value": sv.WithMarks(top)})})
			}
			sort.Slice(out, func(i, j int) bool { return out[i].key.(string) < out[j].key.(string) })
		default:
			return nil, false, bad(fmt.Sprintf("for_each takes a map or a set of strings, not %s.", A(ty.FriendlyName())))
		}
		return out, false, diags
	case hasCount:
		v, diags := cnt.Expr.Value(hctx)
		if diags.HasErrors() {
			return nil, false, diags
		}
		if e.errored && hasFailed(v) {
			return nil, true, diags
		}
		if vars := sensitiveVars(v); vars != nil {
			return nil, false, append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid count argument",
				Detail:  fmt.Sprintf("count derives from the sensitive variable %s, and the number of instances shows in their addresses; use a value that is not sensitive.", strings.Join(vars, ", ")),
				Subject: cnt.Expr.Range().Ptr()})
		}
		if e.opts.Validate && !v.IsWhollyKnown() && hasUnset(v) {
			return []instance{{count: withUnsetMarks(unknownCount, v), unknown: true, unset: unsetVars(v)}}, false, diags
		}
		v, _ = v.UnmarkDeep()
		cv, err := convert.Convert(v, cty.Number)
		if err != nil || cv.IsNull() || !cv.IsKnown() {
			return nil, false, append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid count argument",
				Detail: "count must be a whole number known before hashing; use a literal, a variable or a local.", Subject: cnt.Expr.Range().Ptr()})
		}
		c, acc := cv.AsBigFloat().Int64()
		if acc != 0 || c < 0 {
			return nil, false, append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid count argument",
				Detail: "count must be a non-negative whole number.", Subject: cnt.Expr.Range().Ptr()})
		}
		if c > MaxInstances {
			return nil, false, append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid count argument",
				Detail: fmt.Sprintf("count is %d; a block has at most %d instances.", c, MaxInstances), Subject: cnt.Expr.Range().Ptr()})
		}
		out := make([]instance, c)
		for i := range out {
			out[i] = instance{key: i, count: cty.ObjectVal(map[string]cty.Value{"index": cty.NumberIntVal(int64(i))})}
		}
		return out, false, diags
	}
	return []instance{{}}, false, nil
}

func (e *evaluator) evalResource(n *node) hcl.Diagnostics {
	hctx := e.hclCtx(n)
	bi := &blockInstances{}
	e.blocks[n.d.key()] = bi
	insts, failed, diags := e.expand(n, hctx)
	if failed || diags.HasErrors() {
		e.values[n.d.key()] = failedVal
		return diags
	}
	deps := e.depsOf(n)
	_, hasFE := n.d.body.attrs["for_each"]
	_, hasCount := n.d.body.attrs["count"]
	bi.list = make([]*Resource, 0, len(insts))
	if hasFE || hasCount {
		bi.byKey = make(map[any]*Resource, len(insts))
	}
	var elems map[string]cty.Value
	var tuple []cty.Value
	switch {
	case hasFE:
		elems = make(map[string]cty.Value, len(insts))
	case hasCount:
		tuple = make([]cty.Value, 0, len(insts))
	}
	// No instance refers to another of its block, so they are evaluated concurrently
	// (parallel.go); they are registered here in their order, so that nothing depends
	// on the number of workers.
	done := make([]evaluatedInstance, len(insts))
	forEach(len(insts), instanceWorkers(n.d), func(i int) {
		done[i] = e.evalOne(n, hctx, insts[i], deps)
	})
	var single cty.Value
	for i, in := range insts {
		r, val := done[i].r, done[i].val
		diags = append(diags, done[i].diags...)
		e.instances[r.addr] = r
		bi.add(r)
		e.cfg.Resources = append(e.cfg.Resources, r)
		switch k := in.key.(type) {
		case string:
			elems[k] = val
		case int:
			tuple = append(tuple, val)
		default:
			single = val
		}
	}
	switch {
	case len(insts) == 1 && insts[0].unknown:
		e.values[n.d.key()] = cty.DynamicVal
	case hasFE:
		e.values[n.d.key()] = cty.ObjectVal(elems)
	case hasCount:
		e.values[n.d.key()] = cty.TupleVal(tuple)
	default:
		e.values[n.d.key()] = single
	}
	return diags
}

// evaluatedInstance is one instance evaluated, not yet registered.
type evaluatedInstance struct {
	r     *Resource
	val   cty.Value
	diags hcl.Diagnostics
}

// evalOne evaluates one instance of n in the block's context hctx. It writes nothing the
// evaluator shares (instances of one block are evaluated concurrently): evalResource
// registers the result.
func (e *evaluator) evalOne(n *node, hctx *hcl.EvalContext, in instance, deps *blockDeps) evaluatedInstance {
	ictx := hctx
	if in.each != cty.NilVal || in.count != cty.NilVal {
		ictx = hctx.NewChild()
		ictx.Variables = make(map[string]cty.Value, 1)
		if in.each != cty.NilVal {
			ictx.Variables["each"] = in.each
		}
		if in.count != cty.NilVal {
			ictx.Variables["count"] = in.count
		}
	}
	addr := Address{Type: n.d.Kind, Name: n.d.Name, Key: in.key}
	r := &Resource{Addr: addr, DeclRange: n.d.DeclRange, addr: addr.String()}
	r.deps, r.DependsOn = deps.forInstance(ictx)
	val, diags := e.evalInstance(n, r, in, ictx, deps)
	return evaluatedInstance{r: r, val: val, diags: diags}
}
