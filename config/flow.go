package config

import (
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
)

// Data flow. A resource instance consumes a dependency when a value derived from it
// reaches the instance's evaluated attributes (SPEC §2): every resource value carries a
// refMark, cty carries marks through attribute access, indexing, templates and function
// calls, and the marks that arrive are the consumed dependencies. One operation is too
// generous for that: HCL gives a conditional's result the marks of both branches. So an
// expression holding a conditional is evaluated a second time, for its marks only, with
// the branch its known condition did not take replaced by that branch's own value
// without resource marks. The result equals the ordinary value except for the marks of
// the branch not taken. Conditionals inside a for body or a splat are left alone (their
// condition differs per element), and so is one whose condition is unknown: there both
// branches count.

// exprFlow is what the evaluator knows about one expression's syntax beyond its value.
type exprFlow struct {
	// syntax is the expression in native syntax: the expression itself, or the native
	// equivalent of a JSON expression; nil when it cannot be had.
	syntax hclsyntax.Expression
	// conds lists the conditionals that may be pruned, outermost first.
	conds []condSite
	// keyed maps the range of a resource traversal that is indexed by an expression
	// (kernel.k[each.key]) to that key expression, for per-instance dependencies.
	keyed map[hcl.Range]hcl.Expression
}

// condSite is one prunable conditional and where it sits: inside which branch of which
// enclosing prunable conditional (parent -1: none).
type condSite struct {
	c      *hclsyntax.ConditionalExpr
	parent int
	branch bool
}

// flowOf analyses an expression once. It never fails: what it cannot see through is
// simply not pruned (both branches count) and not keyed (every instance is an edge).
func flowOf(expr hcl.Expression) *exprFlow {
	f := &exprFlow{syntax: nativeSyntax(expr)}
	if f.syntax == nil {
		return f
	}
	w := &flowWalker{f: f}
	hclsyntax.Walk(f.syntax, w)
	return f
}

// flowWalker records conditionals and keyed traversals outside for bodies and splats.
type flowWalker struct {
	f     *exprFlow
	stack []flowFrame
}

type flowFrame struct {
	node   hclsyntax.Node
	inBody bool // inside a for body or a splat's per-element expression
	cond   int  // innermost enclosing prunable conditional, -1 for none
	branch bool // which of its branches
	self   int  // this node's index in conds when it is one, else -1
}

func (w *flowWalker) Enter(n hclsyntax.Node) hcl.Diagnostics {
	fr := flowFrame{node: n, cond: -1, self: -1}
	if len(w.stack) > 0 {
		p := w.stack[len(w.stack)-1]
		fr.inBody, fr.cond, fr.branch = p.inBody, p.cond, p.branch
		if _, ok := n.(hclsyntax.ChildScope); ok {
			fr.inBody = true // a for expression's key, value or condition
		}
		if e, ok := n.(hclsyntax.Expression); ok {
			switch pn := p.node.(type) {
			case *hclsyntax.SplatExpr:
				if e == pn.Each {
					fr.inBody = true
				}
			case *hclsyntax.ConditionalExpr:
				if p.self >= 0 {
					switch e {
					case pn.TrueResult:
						fr.cond, fr.branch = p.self, true
					case pn.FalseResult:
						fr.cond, fr.branch = p.self, false
					}
				}
			}
		}
	}
	if !fr.inBody {
		switch x := n.(type) {
		case *hclsyntax.ConditionalExpr:
			fr.self = len(w.f.conds)
			w.f.conds = append(w.f.conds, condSite{c: x, parent: fr.cond, branch: fr.branch})
		case *hclsyntax.IndexExpr:
			if st, ok := x.Collection.(*hclsyntax.ScopeTraversalExpr); ok && len(st.Traversal) == 2 {
				if w.f.keyed == nil {
					w.f.keyed = map[hcl.Range]hcl.Expression{}
				}
				w.f.keyed[st.Traversal.SourceRange()] = x.Key
			}
		}
	}
	w.stack = append(w.stack, fr)
	return nil
}

func (w *flowWalker) Exit(hclsyntax.Node) hcl.Diagnostics {
	w.stack = w.stack[:len(w.stack)-1]
	return nil
}

// nativeSyntax returns expr as a native syntax tree. A JSON expression is rebuilt the way
// HCL's JSON decoder evaluates it: strings are templates (parsed at the same positions,
// so traversal ranges match its Variables), arrays tuples, objects objects with template
// keys.
func nativeSyntax(expr hcl.Expression) hclsyntax.Expression {
	if x, ok := expr.(hclsyntax.Expression); ok {
		return x
	}
	rng := expr.Range()
	v, diags := expr.Value(nil)
	if diags.HasErrors() {
		return nil
	}
	ty := v.Type()
	switch {
	case ty == cty.String && !v.IsNull():
		return jsonTemplate(v.AsString(), rng)
	case ty.IsTupleType():
		list, diags := hcl.ExprList(expr)
		if diags.HasErrors() {
			return nil
		}
		out := &hclsyntax.TupleConsExpr{SrcRange: rng, OpenRange: rng}
		for _, el := range list {
			s := nativeSyntax(el)
			if s == nil {
				return nil
			}
			out.Exprs = append(out.Exprs, s)
		}
		return out
	case ty.IsObjectType():
		pairs, diags := hcl.ExprMap(expr)
		if diags.HasErrors() {
			return nil
		}
		out := &hclsyntax.ObjectConsExpr{SrcRange: rng, OpenRange: rng}
		for _, kv := range pairs {
			k, val := nativeSyntax(kv.Key), nativeSyntax(kv.Value)
			if k == nil || val == nil {
				return nil
			}
			out.Items = append(out.Items, hclsyntax.ObjectConsItem{KeyExpr: k, ValueExpr: val})
		}
		return out
	}
	return &hclsyntax.LiteralValueExpr{Val: v, SrcRange: rng}
}

func jsonTemplate(s string, rng hcl.Range) hclsyntax.Expression {
	start := hcl.Pos{Line: rng.Start.Line, Column: rng.Start.Column + 1, Byte: rng.Start.Byte + 1}
	t, diags := hclsyntax.ParseTemplate([]byte(s), rng.Filename, start)
	if diags.HasErrors() {
		return nil
	}
	return t
}

// flowFor analyses one of d's expressions, given its variables, and caches the result.
// Only a value derived from a resource (directly or through a local) carries marks worth
// pruning or keys worth evaluating: any other expression, such as a large literal map of
// boards, is not walked at all.
func (d *decl) flowFor(expr hcl.Expression, vars []hcl.Traversal) *exprFlow {
	for _, t := range vars {
		if root := t.RootName(); root == "local" || resourceTypes[root] {
			return d.flowOf(expr)
		}
	}
	if d.flows == nil {
		d.flows = map[hcl.Expression]*exprFlow{}
	}
	f := &exprFlow{}
	d.flows[expr] = f
	return f
}

// flowOf returns the (cached) analysis of one of d's expressions.
func (d *decl) flowOf(expr hcl.Expression) *exprFlow {
	if f, ok := d.flows[expr]; ok {
		return f
	}
	if d.flows == nil {
		d.flows = map[hcl.Expression]*exprFlow{}
	}
	f := flowOf(expr)
	d.flows[expr] = f
	return f
}

// prunes reports whether one of the attributes d's instances evaluate holds a
// conditional that consumedValue prunes. It analyses each of them (flowOf), so that
// evaluating the instances afterwards only reads d.flows.
func (d *decl) prunes() bool {
	found := false
	var walk func(b *body)
	walk = func(b *body) {
		for _, a := range b.evaluated {
			if len(d.flowOf(a.Expr).conds) > 0 {
				found = true
			}
		}
		for _, nb := range b.blocks {
			walk(nb.body)
		}
	}
	walk(d.body)
	return found
}

// consumedValue evaluates an expression again for its marks, with the branches its
// known conditions did not take pruned. ok is false when there is nothing to prune (the
// ordinary value's marks are exact) or the evaluation failed.
func consumedValue(f *exprFlow, ctx *hcl.EvalContext) (v cty.Value, ok bool) {
	if f == nil || len(f.conds) == 0 {
		return cty.NilVal, false
	}
	// The branches are put back whatever happens: the trees are the module's.
	type saved struct{ t, f hclsyntax.Expression }
	restore := make([]saved, len(f.conds))
	for i, s := range f.conds {
		restore[i] = saved{s.c.TrueResult, s.c.FalseResult}
	}
	defer func() {
		for i, s := range f.conds {
			s.c.TrueResult, s.c.FalseResult = restore[i].t, restore[i].f
		}
	}()
	// taken[i]: 0 both branches (unknown or skipped), 1 true, 2 false.
	taken := make([]uint8, len(f.conds))
	skip := make([]bool, len(f.conds))
	replaced := 0
	for i, s := range f.conds {
		if p := s.parent; p >= 0 && (skip[p] || taken[p] == 1 && !s.branch || taken[p] == 2 && s.branch) {
			skip[i] = true // in a branch that is not evaluated
			continue
		}
		cv, diags := s.c.Condition.Value(ctx)
		if diags.HasErrors() {
			continue
		}
		cv, _ = cv.Unmark()
		if !cv.IsKnown() || cv.IsNull() {
			continue
		}
		cv, err := convert.Convert(cv, cty.Bool)
		if err != nil || !cv.IsKnown() || cv.IsNull() {
			continue
		}
		untaken := &s.c.FalseResult
		taken[i] = 1
		if cv.False() {
			untaken, taken[i] = &s.c.TrueResult, 2
		}
		uv, _ := (*untaken).Value(ctx)
		*untaken = &hclsyntax.LiteralValueExpr{Val: stripRefMarks(uv), SrcRange: (*untaken).Range()}
		replaced++
	}
	if replaced == 0 {
		return cty.NilVal, false
	}
	pv, diags := f.syntax.Value(ctx)
	if diags.HasErrors() {
		return cty.NilVal, false
	}
	return pv, true
}

// failedMark marks the value of a declaration that failed to evaluate (its diagnostic is
// reported), and so everything computed from it: a dependent then stays quiet instead of
// adding a second, misleading error ("known only after hashing", "not known at plan
// time") to the one that explains it.
type failedMark struct{}

// failedVal is the value of a declaration that failed.
var failedVal = cty.DynamicVal.Mark(failedMark{})

// hasFailed reports whether v derives from a failed declaration.
func hasFailed(v cty.Value) bool {
	found := false
	walkMarks(v, func(m any) bool {
		_, found = m.(failedMark)
		return !found
	})
	return found
}

// walkMarks calls fn with every mark in v (on v itself and on its elements) until fn
// returns false. Unlike UnmarkDeepWithPaths and ElementIterator it allocates nothing
// for objects, which most values here are.
func walkMarks(v cty.Value, fn func(any) bool) bool {
	if v == cty.NilVal {
		return true
	}
	if v.IsMarked() {
		var ms cty.ValueMarks
		v, ms = v.Unmark()
		for m := range ms {
			if !fn(m) {
				return false
			}
		}
	}
	if !v.IsKnown() || v.IsNull() {
		return true
	}
	ty := v.Type()
	switch {
	case ty.IsObjectType():
		for name := range ty.AttributeTypes() {
			if !walkMarks(v.GetAttr(name), fn) {
				return false
			}
		}
	case ty.IsCollectionType() || ty.IsTupleType():
		if v.LengthInt() == 0 {
			return true
		}
		for it := v.ElementIterator(); it.Next(); {
			_, ev := it.Element()
			if !walkMarks(ev, fn) {
				return false
			}
		}
	}
	return true
}
