package config

import (
	"fmt"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
)

// ref is one resolved reference from a declaration to another.
type ref struct {
	root string // "var", "local", "builder", or a resource type
	name string
	rng  hcl.Range
	// key is a literal instance key that directly follows the name (kernel.a["x"]);
	// cty.NilVal when absent or not literal.
	key cty.Value
	// keyExpr is a key expression that directly follows the name (kernel.a[each.key]),
	// outside any for body; it is evaluated per instance.
	keyExpr hcl.Expression
	// explicit marks a depends_on entry.
	explicit bool
}

func (r ref) nodeKey() string {
	if r.root == "var" {
		return "var." + r.name
	}
	return r.root + "." + r.name
}

// names indexes every declared name by reference root, for resolution and suggestions.
type names map[string]map[string]*decl

func (m *Module) names() names {
	n := names{"var": {}, "local": {}, typeBuilder: {}}
	for t := range resourceTypes {
		n[t] = map[string]*decl{}
	}
	for _, group := range [][]*decl{m.variables, m.locals, m.builders, m.resources} {
		for _, d := range group {
			n[d.Kind][d.Name] = d
		}
	}
	return n
}

// resolve turns a traversal into a reference, or a diagnostic that says what is wrong
// and suggests the closest declared name. Iteration symbols (each, count) and function
// scopes are not references and give ok=false with no diagnostic.
func (ns names) resolve(t hcl.Traversal, d *decl) (ref, *hcl.Diagnostic, bool) {
	root := t.RootName()
	rng := t.SourceRange()
	switch root {
	case "each", "count":
		if d.body == nil || d.body.attrs[map[string]string{"each": "for_each", "count": "count"}[root]] == nil {
			meta := map[string]string{"each": "for_each", "count": "count"}[root]
			return ref{}, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: fmt.Sprintf("Reference to %q in the wrong place", root),
				Detail: fmt.Sprintf("%s.* can only be used in a resource block that sets %s; add %s to this block or remove the reference.", root, meta, meta), Subject: rng.Ptr()}, false
		}
		if root == "each" && len(t) > 1 {
			if a, ok := t[1].(hcl.TraverseAttr); ok && a.Name != "key" && a.Name != "value" {
				return ref{}, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid each attribute",
					Detail: fmt.Sprintf("each has only key and value, not %q; write each.key or each.value.", a.Name), Subject: rng.Ptr()}, false
			}
		}
		if root == "count" && len(t) > 1 {
			if a, ok := t[1].(hcl.TraverseAttr); ok && a.Name != "index" {
				return ref{}, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid count attribute",
					Detail: fmt.Sprintf("count has only index, not %q; write count.index.", a.Name), Subject: rng.Ptr()}, false
			}
		}
		return ref{}, nil, false
	}
	group, ok := ns[root]
	if !ok {
		roots := make([]string, 0, len(ns))
		for k := range ns {
			roots = append(roots, k)
		}
		sort.Strings(roots)
		detail := fmt.Sprintf("There is nothing named %q; references start with var., local., builder. or a resource type (%s).", root, strings.Join(roots, ", "))
		if s := closest(root, roots); s != "" {
			detail = fmt.Sprintf("There is nothing named %q. Did you mean %q?", root, s)
		}
		return ref{}, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Unknown reference", Detail: detail, Subject: rng.Ptr()}, false
	}
	if len(t) < 2 {
		return ref{}, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid reference",
			Detail: fmt.Sprintf("%q alone is not a value; name one, e.g. %s.NAME.", root, root), Subject: rng.Ptr()}, false
	}
	attr, ok := t[1].(hcl.TraverseAttr)
	if !ok {
		return ref{}, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid reference",
			Detail: fmt.Sprintf("A reference to %s needs a name after the dot, e.g. %s.NAME.", A(root), root), Subject: rng.Ptr()}, false
	}
	r := ref{root: root, name: attr.Name, rng: rng}
	if _, ok := group[attr.Name]; !ok {
		return ref{}, ns.unknownName(root, attr.Name, rng), false
	}
	if len(t) > 2 {
		if ix, ok := t[2].(hcl.TraverseIndex); ok && ix.Key.IsKnown() && !ix.Key.IsNull() {
			r.key = ix.Key
		}
	}
	return r, nil, true
}

func (ns names) unknownName(root, name string, rng hcl.Range) *hcl.Diagnostic {
	what := map[string]string{"var": "input variable", "local": "local value", typeBuilder: "builder"}[root]
	if what == "" {
		what = root + " resource"
	}
	cands := make([]string, 0, len(ns[root]))
	for n := range ns[root] {
		cands = append(cands, n)
	}
	sort.Strings(cands)
	detail := fmt.Sprintf("No %s named %q is declared; declare it or fix the name.", what, name)
	if s := closest(name, cands); s != "" {
		detail = fmt.Sprintf("No %s named %q is declared. Did you mean %s.%s?", what, name, root, s)
	} else {
		// Declared under another type? That is the usual slip (image. vs kernel.).
		var types []string
		for t := range resourceTypes {
			types = append(types, t)
		}
		sort.Strings(types)
		for _, t := range types {
			if _, ok := ns[t][name]; ok && t != root {
				detail = fmt.Sprintf("No %s named %q is declared. Did you mean %s.%s?", what, name, t, name)
				break
			}
		}
	}
	return &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Reference to undeclared " + what, Detail: detail, Subject: rng.Ptr()}
}

// closest returns the candidate nearest to s by edit distance, if it is near enough to
// be a plausible typo.
func closest(s string, cands []string) string {
	best, bestD := "", len(s)/2+2
	for _, c := range cands {
		if d := levenshtein(s, c); d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

func levenshtein(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}

// exprs lists every evaluated expression of a declaration, in source order, with
// depends_on excluded (it is static).
func (d *decl) exprs() []hcl.Expression {
	if d.expr != nil {
		return []hcl.Expression{d.expr}
	}
	var out []hcl.Expression
	var walk func(b *body)
	walk = func(b *body) {
		for _, a := range sortedAttrs(b.attrs) {
			if a.Name == "depends_on" {
				continue
			}
			out = append(out, a.Expr)
		}
		for _, nb := range b.blocks {
			walk(nb.body)
		}
	}
	walk(d.body)
	return out
}

// references resolves every reference of d: those in its expressions and those listed
// in depends_on.
func (ns names) references(d *decl) ([]ref, hcl.Diagnostics) {
	var diags hcl.Diagnostics
	var refs []ref
	for _, e := range d.exprs() {
		vars := e.Variables()
		keyed := d.flowFor(e, vars).keyed
		for _, t := range vars {
			r, diag, ok := ns.resolve(t, d)
			if diag != nil {
				diags = append(diags, diag)
			}
			if !ok {
				continue
			}
			if k, ok := keyed[t.SourceRange()]; ok && r.key == cty.NilVal && resourceTypes[r.root] {
				r.keyExpr = k
			}
			refs = append(refs, r)
		}
	}
	if d.body == nil {
		return refs, diags
	}
	if a, ok := d.body.attrs["depends_on"]; ok {
		list, ds := hcl.ExprList(a.Expr)
		diags = append(diags, ds...)
		for _, e := range list {
			t, ds := hcl.AbsTraversalForExpr(e)
			if ds.HasErrors() || !resourceTypes[t.RootName()] {
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid depends_on entry",
					Detail: "depends_on lists resource references such as kernel.NAME; remove quotes and anything that is not a resource.", Subject: e.Range().Ptr()})
				continue
			}
			r, diag, ok := ns.resolve(t, d)
			if diag != nil {
				diags = append(diags, diag)
			}
			if ok {
				r.explicit = true
				refs = append(refs, r)
			}
		}
	}
	return refs, diags
}

// suggestAttributes completes HCL's "Unsupported attribute" and "Invalid index" errors
// (kernel.k.reff, kernel.k.stage["typo"]) with the closest attribute or key the value
// has, or the list of them, as unknownName does for names: HCL itself only says the
// attribute or key is not there.
func suggestAttributes(diags hcl.Diagnostics) {
	for _, d := range diags {
		if (d.Summary != "Unsupported attribute" && d.Summary != "Invalid index") || d.Expression == nil ||
			d.EvalContext == nil || d.Subject == nil || strings.Contains(d.Detail, "Did you mean") {
			continue
		}
		trav, td := hcl.AbsTraversalForExpr(d.Expression)
		if td.HasErrors() {
			continue
		}
		for i := 1; i < len(trav); i++ {
			var name string
			switch step := trav[i].(type) {
			case hcl.TraverseAttr:
				if step.SrcRange != *d.Subject {
					continue
				}
				name = step.Name
			case hcl.TraverseIndex:
				if step.SrcRange != *d.Subject || !step.Key.IsKnown() || step.Key.IsNull() || step.Key.Type() != cty.String {
					continue
				}
				name = step.Key.AsString()
			default:
				continue
			}
			v, vd := trav[:i].TraverseAbs(d.EvalContext)
			if vd.HasErrors() {
				break
			}
			// References carry marks; a sensitive map's keys are not shown.
			v, marks := v.UnmarkDeep()
			_, sensitive := marks[MarkSensitive]
			var keys []string
			switch {
			case v.Type().IsObjectType():
				for n := range v.Type().AttributeTypes() {
					keys = append(keys, n)
				}
			case v.Type().IsMapType() && !sensitive && v.IsKnown() && !v.IsNull():
				for it := v.ElementIterator(); it.Next(); {
					k, _ := it.Element()
					keys = append(keys, k.AsString())
				}
			}
			sort.Strings(keys)
			switch s := closest(name, keys); {
			case s != "":
				d.Detail += fmt.Sprintf(" Did you mean %q?", s)
			case len(keys) > 0:
				d.Detail += fmt.Sprintf(" It has: %s.", strings.Join(keys, ", "))
			}
			break
		}
	}
}
