package pin

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/urmanac/sovos/config"
)

const (
	attrCommit = "commit"
	attrDigest = "digest"
)

// target is one block's pin: where it is (or would go) and what it should become.
type target struct {
	addr string // block address
	attr string // attrCommit or attrDigest
	url  string // git repository (sources)
	ref  string // the evaluated ref: a git ref, or an image reference

	file    *hcl.File
	json    bool
	block   *hcl.Block
	refAttr *hcl.Attribute
	pin     *literalPin // nil when the block has no pin yet
	// noRoom says why a missing pin cannot be inserted (ref shares its line, as in a
	// one-line block): -check still lists it, a write leaves it with a warning.
	noRoom error

	resolved string
	changed  bool
}

// literalPin is a pin written as a quoted string, the only form sovos rewrites.
type literalPin struct {
	attr  *hcl.Attribute
	value string
}

func (t *target) remoteKind() string {
	if t.attr == attrCommit {
		return "repository"
	}
	return "registry"
}

// selectTargets finds the pins of the blocks addrs names (every block when empty) in the
// syntax of the files that hold them. Pins written as expressions are reported as
// warnings and left out.
func selectTargets(cfg *config.Config, addrs []string) ([]*target, hcl.Diagnostics) {
	var diags hcl.Diagnostics
	want := map[string]bool{}
	for _, s := range addrs {
		a, err := config.ParseAddress(s)
		if err != nil {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid address",
				Detail: fmt.Sprintf("%s; sovos pin takes the addresses of source and image blocks, e.g. source.pkgs.", err)})
			continue
		}
		want[a.Base()] = true
	}

	// Instances of one block (for_each, count) share its pin.
	var order []string
	groups := map[string][]*config.Resource{}
	found := map[string]bool{}
	for _, r := range cfg.Resources {
		b := r.Addr.Base()
		if len(want) > 0 && !want[b] {
			continue
		}
		if r.Source == nil && r.Image == nil {
			if !found[b] && len(want) > 0 {
				diags = append(diags, notPinnable(b, "it is built by sovos and has no pin; pins belong to source and image blocks", r.DeclRange))
			}
			found[b] = true
			continue
		}
		found[b] = true
		if groups[b] == nil {
			order = append(order, b)
		}
		groups[b] = append(groups[b], r)
	}
	for _, s := range addrs {
		if a, err := config.ParseAddress(s); err == nil && !found[a.Base()] {
			found[a.Base()] = true // reported once
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "No such block",
				Detail: fmt.Sprintf("%s is not declared in this configuration (or has no instances); sovos pin takes the addresses of source and image blocks.", a.Base())})
		}
	}

	// An instance address names its block's pin, but only an instance that exists:
	// source.a["x"] of a block without for_each, or with no such key, is a mistake.
	for _, s := range addrs {
		a, err := config.ParseAddress(s)
		if err != nil || a.Key == nil || cfg.Resource(a.String()) != nil || len(groups[a.Base()]) == 0 {
			continue
		}
		diags = append(diags, noInstance(a, groups[a.Base()]))
	}

	var targets []*target
	for _, b := range order {
		t, ds := newTarget(cfg, b, groups[b], len(want) > 0)
		diags = append(diags, ds...)
		if t != nil {
			targets = append(targets, t)
		}
	}
	return targets, diags
}

// noInstance is the error of an instance address a that names none of insts, the
// instances of its block.
func noInstance(a config.Address, insts []*config.Resource) *hcl.Diagnostic {
	d := &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "No such instance", Subject: insts[0].DeclRange.Ptr()}
	first := insts[0]
	switch err := first.Needs("for_each", "count"); {
	case err != nil:
		d.Summary, d.Detail = "No value for required variable", sentence(err)
	case first.Addr.Key == nil:
		d.Detail = fmt.Sprintf("%s names an instance, but %s has no for_each or count, so it has none; write %s.", a, a.Base(), a.Base())
	default:
		var names []string
		for i, r := range insts {
			if i == 5 {
				names = append(names, fmt.Sprintf("and %d more", len(insts)-i))
				break
			}
			names = append(names, r.Addr.String())
		}
		d.Detail = fmt.Sprintf("%s has no instance %s; its instances are %s (or write %s for all of them).", a.Base(), strings.TrimPrefix(a.String(), a.Base()), strings.Join(names, ", "), a.Base())
	}
	return d
}

func notPinnable(addr, why string, rng hcl.Range) *hcl.Diagnostic {
	return &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Nothing to pin",
		Detail: fmt.Sprintf("%s cannot be pinned: %s.", addr, why), Subject: rng.Ptr()}
}

// newTarget returns the pin of one block, or nil when the block has none to maintain.
func newTarget(cfg *config.Config, addr string, insts []*config.Resource, named bool) (*target, hcl.Diagnostics) {
	r := insts[0]
	t := &target{addr: addr}
	// A ref (or repository) that waits for a variable without a value reads as absent:
	// say so rather than pin nothing.
	if err := r.Needs("git", "ref"); err != nil {
		return nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "No value for required variable",
			Detail: sentence(err), Subject: r.DeclRange.Ptr()}}
	}
	switch {
	case r.Image != nil:
		t.attr, t.ref = attrDigest, r.Image.Ref
	case r.Source.Git == "":
		if named {
			return nil, hcl.Diagnostics{notPinnable(addr, "it is a local path, hashed by its content", r.DeclRange)}
		}
		return nil, nil
	default:
		t.attr, t.url, t.ref = attrCommit, r.Source.Git, r.Source.Ref
	}
	for _, o := range insts[1:] {
		if spec(o) != spec(r) {
			return nil, hcl.Diagnostics{{Severity: hcl.DiagWarning, Summary: "Pin left alone",
				Detail:  fmt.Sprintf("%s: its instances (for_each or count) name different refs, and one literal %s cannot follow them all; left alone. Pin each in a block of its own, or give %s as an expression of each.value.", addr, t.attr, t.attr),
				Subject: r.DeclRange.Ptr()}}
		}
	}

	f := cfg.Files[r.DeclRange.Filename]
	if f == nil {
		return nil, hcl.Diagnostics{notPinnable(addr, "the file that declares it was not parsed", r.DeclRange)}
	}
	t.file = f
	t.json = strings.HasSuffix(r.DeclRange.Filename, ".json")
	t.block = findBlock(f, r.Addr.Type, r.Addr.Name, r.DeclRange)
	if t.block == nil {
		return nil, hcl.Diagnostics{notPinnable(addr, "its block was not found in "+r.DeclRange.Filename, r.DeclRange)}
	}
	content, _, _ := t.block.Body.PartialContent(&hcl.BodySchema{Attributes: []hcl.AttributeSchema{{Name: "ref"}, {Name: t.attr}}})
	t.refAttr = content.Attributes["ref"]
	pinAttr := content.Attributes[t.attr]

	if t.ref == "" || t.refAttr == nil {
		switch {
		case pinAttr != nil || r.Image != nil:
			// A git source pinned by hand without a ref: its commit is the user's to keep.
			// (An image's ref is required; unknown only after an error reported already.)
			return nil, nil
		default:
			return nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Missing ref",
				Detail:  fmt.Sprintf("%s has neither a commit nor a ref to resolve one from; add ref = \"TAG or BRANCH\" and run `sovos pin`, or write commit = \"<40 hex>\".", addr),
				Subject: r.DeclRange.Ptr()}}
		}
	}
	if pinAttr != nil {
		v, ok := literal(f.Bytes, pinAttr.Expr, t.json)
		if !ok {
			rng := pinAttr.Expr.Range()
			return nil, hcl.Diagnostics{{Severity: hcl.DiagWarning, Summary: "Pin left alone",
				Detail:  fmt.Sprintf("%s: %s is not a literal; left alone. sovos pin writes only quoted strings: keep this %s up to date yourself, or replace it with one.", addr, t.attr, t.attr),
				Subject: &rng}}
		}
		t.pin = &literalPin{attr: pinAttr, value: v}
	} else if !t.json {
		_, t.noRoom = nativeInsert(f.Bytes, t, `""`)
	}
	return t, nil
}

// spec is what an instance's pin follows; instances of one block must agree on it.
func spec(r *config.Resource) string {
	if r.Image != nil {
		return r.Image.Ref
	}
	return r.Source.Git + "\x00" + r.Source.Ref
}

// findBlock returns the TYPE "NAME" block declared at def in f.
func findBlock(f *hcl.File, typ, name string, def hcl.Range) *hcl.Block {
	content, _, _ := f.Body.PartialContent(&hcl.BodySchema{Blocks: []hcl.BlockHeaderSchema{{Type: typ, LabelNames: []string{"name"}}}})
	var found *hcl.Block
	for _, b := range content.Blocks {
		if len(b.Labels) == 1 && b.Labels[0] == name {
			if b.DefRange.Start.Byte == def.Start.Byte {
				return b
			}
			found = b
		}
	}
	return found
}

// literal returns the value of a pin written as a quoted string without interpolation.
func literal(src []byte, expr hcl.Expression, isJSON bool) (string, bool) {
	rng := expr.Range()
	if rng.Start.Byte < 0 || rng.End.Byte > len(src) || rng.Start.Byte >= rng.End.Byte {
		return "", false
	}
	raw := src[rng.Start.Byte:rng.End.Byte]
	if isJSON {
		var s string
		if json.Unmarshal(raw, &s) != nil || strings.Contains(s, "${") || strings.Contains(s, "%{") {
			return "", false
		}
		return s, true
	}
	te, ok := expr.(*hclsyntax.TemplateExpr)
	if !ok || !te.IsStringLiteral() || raw[0] != '"' {
		return "", false
	}
	v, diags := te.Value(nil)
	if diags.HasErrors() || !v.IsKnown() || v.IsNull() {
		return "", false
	}
	return v.AsString(), true
}
