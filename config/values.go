package config

import (
	"encoding/json"
	"math/big"
	"slices"
	"strings"

	"github.com/zclconf/go-cty/cty"
	ctyjson "github.com/zclconf/go-cty/cty/json"
)

// refMark marks every value that came from a resource or builder, so that after
// evaluation sovos knows which resource an attribute names (source = source.pkgs,
// installer = installer.x.ref) however the expression was written. Marks propagate
// through attribute access, templates and function calls.
type refMark struct {
	Type string
	Addr string // instance address, e.g. extension.hailort or profile.p["a"]
}

// refsOf returns the resource marks anywhere in v, in a stable order.
func refsOf(v cty.Value) []refMark {
	var out []refMark
	walkMarks(v, func(m any) bool {
		if rm, ok := m.(refMark); ok && !slices.Contains(out, rm) {
			out = append(out, rm)
		}
		return true
	})
	slices.SortFunc(out, func(a, b refMark) int { return strings.Compare(a.Addr, b.Addr) })
	return out
}

// topRefs returns the resource marks on v itself (not on its elements).
func topRefs(v cty.Value) []refMark {
	var out []refMark
	for m := range v.Marks() {
		if rm, ok := m.(refMark); ok {
			out = append(out, rm)
		}
	}
	return out
}

// stripRefMarks removes the evaluator's own marks (resource, failed) but keeps every
// other mark (sensitive).
func stripRefMarks(v cty.Value) cty.Value {
	if walkMarks(v, func(any) bool { return false }) {
		return v // no mark at all (walkMarks allocates nothing, unlike ContainsMarked)
	}
	uv, pvm := v.UnmarkDeepWithPaths()
	var keep []cty.PathValueMarks
	for _, pm := range pvm {
		ms := make(cty.ValueMarks)
		for m := range pm.Marks {
			switch m.(type) {
			case refMark, failedMark:
			default:
				ms[m] = struct{}{}
			}
		}
		if len(ms) > 0 {
			keep = append(keep, cty.PathValueMarks{Path: pm.Path, Marks: ms})
		}
	}
	return uv.MarkWithPaths(keep)
}

func unknownStr() cty.Value { return cty.UnknownVal(cty.String) }

// str returns a string attribute's value, or "" when absent, null or unknown.
func str(v cty.Value) string {
	if v == cty.NilVal {
		return ""
	}
	v, _ = v.Unmark() // a string's marks are on itself
	if v.IsNull() || !v.IsKnown() || v.Type() != cty.String {
		return ""
	}
	return v.AsString()
}

func boolean(v cty.Value) bool {
	if v == cty.NilVal {
		return false
	}
	v, _ = v.Unmark()
	return v.Type() == cty.Bool && v.IsKnown() && !v.IsNull() && v.True()
}

func integer(v cty.Value) int64 {
	if v == cty.NilVal {
		return 0
	}
	v, _ = v.Unmark()
	if v.Type() != cty.Number || !v.IsKnown() || v.IsNull() {
		return 0
	}
	i, _ := v.AsBigFloat().Int(new(big.Int))
	return i.Int64()
}

func strs(v cty.Value) []string {
	if v == cty.NilVal {
		return nil
	}
	v, _ = v.Unmark() // str unmarks each element
	if v.IsNull() || !v.IsKnown() || !v.CanIterateElements() {
		return nil
	}
	var out []string
	for it := v.ElementIterator(); it.Next(); {
		_, e := it.Element()
		out = append(out, str(e))
	}
	return out
}

func strMapOf(v cty.Value) map[string]string {
	if v == cty.NilVal {
		return nil
	}
	v, _ = v.Unmark() // str unmarks each element
	if v.IsNull() || !v.IsKnown() || !v.CanIterateElements() {
		return nil
	}
	out := map[string]string{}
	for it := v.ElementIterator(); it.Next(); {
		k, e := it.Element()
		out[k.AsString()] = str(e)
	}
	return out
}

// goValue converts a wholly known value to plain Go (maps, slices, float64, ...).
func goValue(v cty.Value) map[string]any {
	v, _ = v.UnmarkDeep()
	if v == cty.NilVal || v.IsNull() || !v.IsWhollyKnown() {
		return nil
	}
	b, err := ctyjson.Marshal(v, v.Type())
	if err != nil {
		return nil
	}
	var out map[string]any
	if json.Unmarshal(b, &out) != nil {
		return nil
	}
	return out
}

// noStages is the stage attribute of a build without stages (most of them).
var noStages = cty.MapValEmpty(cty.Object(map[string]cty.Type{"image": cty.String, "ref": cty.String}))

// resourceValue is what a reference to a resource instance evaluates to.
func (e *evaluator) resourceValue(r *Resource) cty.Value {
	hash, tag, ref := unknownStr(), unknownStr(), unknownStr()
	if r.hashInput() != "" {
		hash = cty.StringVal(r.hashInput())
	}
	if r.Tag != "" {
		tag = cty.StringVal(r.Tag)
	}
	attrs := map[string]cty.Value{"hash": hash}
	switch {
	case r.Source != nil:
		attrs["tag"] = tag
	case r.Image != nil:
		digest := unknownStr()
		if r.Image.Digest != "" {
			digest = cty.StringVal(r.Image.Digest)
			ref = cty.StringVal(r.Image.Ref + "@" + r.Image.Digest)
		}
		attrs["image"] = cty.StringVal(r.Image.Ref)
		attrs["digest"] = digest
		attrs["ref"] = ref
	default:
		image := ""
		var stages []Stage
		if r.Build != nil {
			image, stages = r.Build.Image, r.Build.Stages
		} else if r.Profile != nil {
			image = r.Profile.Image
		}
		if r.Tag != "" && image != "" {
			ref = cty.StringVal(image + ":" + r.Tag)
		}
		var st map[string]cty.Value
		if len(stages) > 0 {
			st = make(map[string]cty.Value, len(stages))
		}
		for _, s := range stages {
			sref := unknownStr()
			if r.Tag != "" {
				sref = cty.StringVal(s.Image + ":" + r.Tag)
			}
			st[s.Target] = cty.ObjectVal(map[string]cty.Value{"image": cty.StringVal(s.Image), "ref": sref})
		}
		stage := noStages
		if len(st) > 0 {
			stage = cty.MapVal(st)
		}
		attrs["tag"] = tag
		attrs["image"] = cty.StringVal(image)
		attrs["ref"] = ref
		attrs["stage"] = stage
	}
	return cty.ObjectVal(attrs).Mark(refMark{Type: r.Addr.Type, Addr: r.addr})
}

// hashOf is the value a reference to the resource at addr contributes to a hash.
func (e *evaluator) hashOf(addr string) cty.Value {
	if r := e.instances[addr]; r != nil && r.hashInput() != "" {
		return cty.StringVal(r.hashInput())
	}
	return unknownStr()
}
