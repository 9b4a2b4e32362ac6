package config

import (
	"fmt"
	"slices"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

// Sensitive values (SPEC §2). A sensitive variable's value carries MarkSensitive and a
// sensitiveVar mark naming it; cty carries both through every operation, so what is
// computed from a secret says which secret, and an error can name the variable without
// printing the value.

// sensitiveVar marks the value of the sensitive variable Name and everything computed
// from it, beside MarkSensitive.
type sensitiveVar struct{ Name string }

// Redacted is what is shown instead of a sensitive value.
const Redacted = "(sensitive value)"

// markSensitive marks the value of the sensitive variable name.
func markSensitive(v cty.Value, name string) cty.Value {
	return v.WithMarks(cty.NewValueMarks(MarkSensitive, sensitiveVar{name}))
}

// IsSensitive reports whether v, or any part of it, derives from a sensitive value.
func IsSensitive(v cty.Value) bool {
	found := false
	walkMarks(v, func(m any) bool {
		found = m == MarkSensitive
		return !found
	})
	return found
}

// sensitiveVars returns "var.NAME" for every sensitive variable v derives from, sorted;
// nil when v is not sensitive.
func sensitiveVars(v cty.Value) []string {
	var out []string
	sensitive := false
	walkMarks(v, func(m any) bool {
		switch m := m.(type) {
		case sensitiveVar:
			if n := "var." + m.Name; !slices.Contains(out, n) {
				out = append(out, n)
			}
		case string:
			sensitive = sensitive || m == MarkSensitive
		}
		return true
	})
	if !sensitive {
		return nil
	}
	if len(out) == 0 {
		out = []string{"a sensitive value"}
	}
	slices.Sort(out)
	return out
}

// publishedAttrs are printed and published by nature (SPEC §2): refused when sensitive
// even where they are not hashed.
var publishedAttrs = map[string]bool{"image": true, "tags": true, "platform": true, "path": true, "dest": true}

// secretAttrs name where secrets go: only their keys (the secret ids, which are hashed)
// may not be sensitive.
var secretAttrs = map[string]bool{"secrets": true, "secureboot_keys": true}

// checkSensitive refuses a resource instance whose attributes hold a sensitive value:
// every attribute is hashed (and the hash is published as the content tag and the
// dev.sovos.hash annotation, so a low-entropy secret could be recovered from it) or
// printed and published (image, tags, platform, path, dest), except descriptions and
// the values of secrets. An attribute found sensitive is replaced by an unknown value,
// so that no later check prints it ("... is not a valid repository").
func checkSensitive(r *Resource, ib *instanceBody) hcl.Diagnostics {
	if !ib.sensitive {
		return nil
	}
	var diags hcl.Diagnostics
	check := func(vals map[string]cty.Value, attrs hcl.Attributes, prefix string, fallback hcl.Range) {
		for _, name := range sortedKeys(vals) {
			v := vals[name]
			if name == "description" {
				continue
			}
			if secretAttrs[name] {
				// Only the ids, the map's keys, are hashed; a key is sensitive when the
				// whole map is.
				top := v.Marks()
				v = cty.UnknownVal(cty.DynamicPseudoType).WithMarks(top)
			}
			vars := sensitiveVars(v)
			if vars == nil {
				continue
			}
			rng := fallback
			if a, ok := attrs[name]; ok {
				rng = a.Expr.Range()
			}
			d := sensitiveDiag(r.Addr.String(), prefix+name, vars, rng)
			if prefix == "" && name == "args" && str(ib.vals["provenance"]) == ProvenanceMax {
				// SPEC §9: max provenance records every build arg in what is pushed.
				d.Detail += ` And provenance = "max" would record every build arg in the provenance pushed with the image: keep provenance at "min" for a build that needs a secret.`
			}
			diags = append(diags, d)
			vals[name] = cty.UnknownVal(vals[name].Type())
		}
	}
	check(ib.vals, ib.d.body.attrs, "", r.DeclRange)
	for _, b := range ib.blocks {
		check(b.vals, b.attrs, b.Type+".", b.DefRange)
	}
	return diags
}

func sensitiveDiag(addr, attr string, vars []string, rng hcl.Range) *hcl.Diagnostic {
	why := "is hashed, and the hash is published (as the content tag and the dev.sovos.hash annotation), so a short secret could be recovered from it"
	if publishedAttrs[attr] || strings.HasSuffix(attr, ".image") {
		why = "is printed and published by nature"
	}
	instead := "Pass the secret to the build as a build secret instead (secrets = { ID = { env = \"VAR\" } }, read with RUN --mount=type=secret,id=ID), or use a value that is not sensitive."
	if attr == "git" {
		why = "is printed and passed to git by nature"
		instead = "Give git its credentials the way git takes them (a credential helper, an SSH key), never in the URL."
	}
	return &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Sensitive value in " + attr,
		Detail: fmt.Sprintf("%s: %s derives from the sensitive variable %s, and %s %s. %s",
			addr, attr, strings.Join(vars, ", "), attr, why, instead),
		Subject: rng.Ptr()}
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// redactDiags hides sensitive values that an evaluation's diagnostics would print: a
// function's error quotes its arguments (tonumber(var.pw): cannot convert "..." to
// number), so when an argument derives from a sensitive value the error is replaced by
// one that names the variable and shows (sensitive value). HCL's other expression
// errors name types and attributes, never values, and its writer skips marked values.
func redactDiags(diags hcl.Diagnostics) {
	for _, d := range diags {
		fc, ok := hcl.DiagnosticExtra[hclsyntax.FunctionCallDiagExtra](d)
		if !ok || d.Expression == nil || d.EvalContext == nil {
			continue
		}
		var vars []string
		for _, t := range d.Expression.Variables() {
			v, ds := t.TraverseAbs(d.EvalContext)
			if ds.HasErrors() {
				continue
			}
			for _, n := range sensitiveVars(v) {
				if !slices.Contains(vars, n) {
					vars = append(vars, n)
				}
			}
		}
		if len(vars) == 0 {
			continue
		}
		slices.Sort(vars)
		d.Detail = fmt.Sprintf("The call to %s() failed on %s: its argument derives from the sensitive variable %s, so the error, which could quote it, is not shown.",
			fc.CalledFunctionName(), Redacted, strings.Join(vars, ", "))
	}
}

// sensitiveKeys returns the sensitive variables a for_each value's keys derive from: a
// map's when the whole map is sensitive, a set's when any element is.
func sensitiveKeys(v cty.Value) []string {
	if vars := sensitiveVars(cty.UnknownVal(cty.DynamicPseudoType).WithMarks(v.Marks())); vars != nil {
		return vars
	}
	if uv, _ := v.Unmark(); uv.Type().IsSetType() {
		return sensitiveVars(uv)
	}
	return nil
}
