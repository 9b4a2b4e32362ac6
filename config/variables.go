package config

import (
	"fmt"
	"path/filepath"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/ext/typeexpr"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
)

// varDef is a declared variable with its decoded type and default.
type varDef struct {
	decl        *decl
	ty          cty.Type
	defaults    *typeexpr.Defaults
	def         cty.Value // cty.NilVal when there is no default
	hasDefault  bool      // a default is written, even if invalid
	description string
	sensitive   bool
	nullable    bool
}

// rawVar is one value assigned from outside the configuration, before conversion.
type rawVar struct {
	name string
	// Either expr (from a file) or str (from -var or the environment) is set.
	expr hcl.Expression
	str  string
	rng  hcl.Range // for diagnostics; may be empty for -var and env
	from string    // where it came from, for messages
}

func (m *Module) decodeVariables() ([]*varDef, hcl.Diagnostics) {
	var diags hcl.Diagnostics
	defs := make([]*varDef, 0, len(m.variables))
	for _, d := range m.variables {
		v := &varDef{decl: d, ty: cty.DynamicPseudoType, nullable: true}
		a := d.body.attrs
		if at, ok := a["type"]; ok {
			ty, defaults, ds := typeexpr.TypeConstraintWithDefaults(at.Expr)
			diags = append(diags, ds...)
			if !ds.HasErrors() {
				v.ty, v.defaults = ty, defaults
			}
		}
		for _, name := range []string{"description", "sensitive", "nullable"} {
			at, ok := a[name]
			if !ok {
				continue
			}
			val, ds := at.Expr.Value(nil)
			diags = append(diags, ds...)
			if ds.HasErrors() {
				continue
			}
			want := cty.Bool
			if name == "description" {
				want = cty.String
			}
			cv, err := convert.Convert(val, want)
			if err != nil || cv.IsNull() {
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid variable " + name,
					Detail: fmt.Sprintf("The %s of a variable must be a literal %s.", name, want.FriendlyName()), Subject: at.Expr.Range().Ptr()})
				continue
			}
			switch name {
			case "description":
				v.description = cv.AsString()
			case "sensitive":
				v.sensitive = cv.True()
			case "nullable":
				v.nullable = cv.True()
			}
		}
		if at, ok := a["default"]; ok {
			v.hasDefault = true
			val, ds := at.Expr.Value(nil)
			diags = append(diags, ds...)
			if !ds.HasErrors() {
				cv, err := v.convert(val)
				if err != nil {
					diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid default value for variable",
						Detail: fmt.Sprintf("The default of var.%s does not match its type: %s; fix the default or the type.", d.Name, err), Subject: at.Expr.Range().Ptr()})
				} else {
					v.def = cv
				}
			}
		}
		defs = append(defs, v)
	}
	return defs, diags
}

func (v *varDef) convert(val cty.Value) (cty.Value, error) {
	if v.defaults != nil {
		val = v.defaults.Apply(val)
	}
	return convert.Convert(val, v.ty)
}

// collectVarValues gathers assignments in increasing precedence: environment,
// *.auto.sovosvars (lexical order), then -var-file / -var in command-line order
// (EvalOptions.Args; else all -var-file before all -var). Later entries win.
func (m *Module) collectVarValues(opts EvalOptions, declared map[string]*varDef) ([]rawVar, hcl.Diagnostics) {
	var diags hcl.Diagnostics
	var out []rawVar
	for _, kv := range opts.Environ {
		k, val, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(k, "SOVOS_VAR_") {
			continue
		}
		name := strings.TrimPrefix(k, "SOVOS_VAR_")
		if _, ok := declared[name]; !ok {
			continue // like Terraform: stray environment variables are not an error
		}
		out = append(out, rawVar{name: name, str: val, from: "environment variable " + k})
	}
	autos, _ := filepath.Glob(filepath.Join(m.Dir, "*.auto.sovosvars"))
	autoJSON, _ := filepath.Glob(filepath.Join(m.Dir, "*.auto.sovosvars.json"))
	autos = append(autos, autoJSON...)
	sort.Strings(autos)
	for _, f := range autos {
		if IgnoredFile(filepath.Base(f)) {
			continue
		}
		vs, ds := m.readVarFile(f, declared, false)
		diags = append(diags, ds...)
		out = append(out, vs...)
	}
	for _, arg := range opts.varArgs() {
		if arg.File {
			f := arg.Value
			if !filepath.IsAbs(f) {
				f = filepath.Join(m.Dir, f)
			}
			vs, ds := m.readVarFile(f, declared, true)
			diags = append(diags, ds...)
			out = append(out, vs...)
			continue
		}
		kv := arg.Value
		name, val, ok := strings.Cut(kv, "=")
		if !ok || name == "" {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid -var option",
				Detail: fmt.Sprintf("The option -var %q is not of the form NAME=VALUE; write e.g. -var 'registry=ghcr.io/me'.", kv)})
			continue
		}
		name = strings.TrimSpace(name)
		if _, ok := declared[name]; !ok {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Value for undeclared variable",
				Detail: fmt.Sprintf("A value was given for %q with -var, but no variable %q is declared; declare it with a variable block or remove the option.", name, name)})
			continue
		}
		out = append(out, rawVar{name: name, str: val, from: "-var option"})
	}
	return out, diags
}

func (m *Module) readVarFile(path string, declared map[string]*varDef, explicit bool) ([]rawVar, hcl.Diagnostics) {
	f, diags := m.varFile(path, explicit)
	if f == nil {
		return nil, diags
	}
	attrs, ds := f.Body.JustAttributes()
	diags = append(diags, ds...)
	var out []rawVar
	for _, a := range sortedAttrs(attrs) {
		if _, ok := declared[a.Name]; !ok {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagWarning, Summary: "Value for undeclared variable",
				Detail: fmt.Sprintf("The file assigns %q, but no such variable is declared; remove it or declare the variable.", a.Name), Subject: a.NameRange.Ptr()})
			continue
		}
		out = append(out, rawVar{name: a.Name, expr: a.Expr, rng: a.Expr.Range(), from: path})
	}
	return out, diags
}

// varFile reads and parses a variable file, once per module: the module's parser keeps
// the file, and an evaluation after the first (Evaluate after Settings) takes it from
// there. A -var-file that is a FIFO is read once, as its writer writes it once; opening
// it again would wait for a writer that never comes.
func (m *Module) varFile(path string, explicit bool) (*hcl.File, hcl.Diagnostics) {
	if f := m.parser.Files()[path]; f != nil {
		return f, nil
	}
	var src []byte
	var diags hcl.Diagnostics
	if explicit {
		// A -var-file may be a pipe (-var-file=<(vault read ...)): the user named it,
		// so it is read, with the same size cap.
		b, err := readFile(path, true)
		if err != nil {
			return nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Cannot read variable file",
				Detail: fmt.Sprintf("%s; check the -var-file path (relative paths are resolved against the configuration directory).", err)}}
		}
		src, diags = b, CheckSource(b, path)
	} else {
		src, diags = ReadSource(path)
	}
	if src == nil || diags.HasErrors() {
		return nil, diags
	}
	f, ds := m.parse(path, src)
	return f, append(diags, ds...)
}

// resolveVariables computes every variable's final value, marks sensitive ones, and
// runs their validation blocks.
func (m *Module) resolveVariables(opts EvalOptions, ev *evaluator) ([]*Variable, cty.Value, hcl.Diagnostics) {
	defs, diags := m.decodeVariables()
	declared := make(map[string]*varDef, len(defs))
	for _, d := range defs {
		declared[d.decl.Name] = d
	}
	raws, ds := m.collectVarValues(opts, declared)
	diags = append(diags, ds...)
	final := map[string]cty.Value{}
	// failed holds the variables whose given value was refused: their error is out,
	// so they are not also "required variables without a value".
	failed := map[string]bool{}
	for _, r := range raws {
		def := declared[r.name]
		fail := func(ds ...*hcl.Diagnostic) {
			failed[r.name] = true
			for _, d := range ds {
				if def.sensitive && d.Subject != nil {
					// The snippet would show the line that holds the secret.
					d.Detail = fmt.Sprintf("%s (%s:%d)", d.Detail, d.Subject.Filename, d.Subject.Start.Line)
					d.Subject, d.Context, d.Expression, d.EvalContext = nil, nil, nil, nil
				}
				diags = append(diags, d)
			}
		}
		var val cty.Value
		if r.expr != nil {
			v, ds := r.expr.Value(nil)
			if ds.HasErrors() {
				fail(ds...)
				continue
			}
			diags = append(diags, ds...)
			val = v
		} else if def.ty == cty.String || def.ty.IsPrimitiveType() || def.ty == cty.DynamicPseudoType {
			val = cty.StringVal(r.str)
		} else {
			if ds := checkExpression([]byte(r.str), r.from); ds.HasErrors() {
				fail(ds...)
				continue
			}
			expr, ds := hclsyntax.ParseExpression([]byte(r.str), r.from, hcl.InitialPos)
			if ds.HasErrors() {
				fail(&hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid value for variable",
					Detail: fmt.Sprintf("The value of var.%s from %s is not a valid HCL expression for type %s; quote strings and write lists as [\"a\", \"b\"].", r.name, r.from, def.ty.FriendlyName())})
				continue
			}
			v, ds := expr.Value(nil)
			if ds.HasErrors() {
				fail(&hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid value for variable",
					Detail: fmt.Sprintf("The value of var.%s from %s must be a literal; %s.", r.name, r.from, ds[0].Summary)})
				continue
			}
			val = v
		}
		cv, err := def.convert(val)
		if err != nil {
			d := &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid value for variable",
				Detail: fmt.Sprintf("The value of var.%s from %s is not %s: %s; fix the value.", r.name, r.from, A(def.ty.FriendlyName()), err)}
			if r.rng.Filename != "" {
				d.Subject = r.rng.Ptr()
			}
			fail(d)
			continue
		}
		delete(failed, r.name) // a later, valid value wins
		final[r.name] = cv
	}
	vars := make([]*Variable, 0, len(defs))
	obj := make(map[string]cty.Value, len(defs))
	for _, d := range defs {
		val, ok := final[d.decl.Name]
		if sv, saved := opts.Saved[d.decl.Name]; !ok && saved {
			cv, err := d.convert(sv)
			if err != nil {
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid saved value for variable",
					Detail: fmt.Sprintf("The saved plan's value of var.%s is not %s: %s; run `sovos plan` again.", d.decl.Name, A(d.ty.FriendlyName()), err), Subject: d.decl.DeclRange.Ptr()})
				cv = cty.UnknownVal(d.ty)
			}
			val, ok = cv, true
		}
		if !ok {
			switch {
			case d.def != cty.NilVal:
				val = d.def
			case d.hasDefault, failed[d.decl.Name]:
				val = cty.UnknownVal(d.ty) // its diagnostic is already reported
			case opts.Validate:
				val = cty.UnknownVal(d.ty).Mark(unsetMark{Name: d.decl.Name})
			default:
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "No value for required variable",
					Detail: fmt.Sprintf("var.%s has no default and no value was given; pass -var '%s=...', a -var-file, or set SOVOS_VAR_%s.", d.decl.Name, d.decl.Name, d.decl.Name), Subject: d.decl.DeclRange.Ptr()})
				val = cty.UnknownVal(d.ty)
			}
		}
		if val.IsNull() && !d.nullable {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Null value for non-nullable variable",
				Detail: fmt.Sprintf("var.%s is declared nullable = false but its value is null; give it a value.", d.decl.Name), Subject: d.decl.DeclRange.Ptr()})
		}
		if d.sensitive {
			val = markSensitive(val, d.decl.Name)
		}
		obj[d.decl.Name] = val
		vars = append(vars, &Variable{Name: d.decl.Name, Description: d.description, Sensitive: d.sensitive, Value: val, DeclRange: d.decl.DeclRange})
	}
	varObj := cty.ObjectVal(obj)
	if diags.HasErrors() {
		return vars, varObj, diags
	}
	// Validation conditions may refer to any variable (a superset of Terraform's rule).
	hctx := &hcl.EvalContext{Variables: map[string]cty.Value{"var": varObj}, Functions: ev.funcs}
	for _, d := range m.variables {
		for _, vb := range d.body.blocksOf("validation") {
			cond := vb.body.attrs["condition"]
			msg := vb.body.attrs["error_message"]
			if cond == nil || msg == nil {
				continue
			}
			cv, ds := cond.Expr.Value(hctx)
			diags = append(diags, ds...)
			if ds.HasErrors() {
				continue
			}
			cv, _ = cv.Unmark()
			cv, err := convert.Convert(cv, cty.Bool)
			if err != nil || cv.IsNull() {
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid validation condition",
					Detail: "The condition must be true or false; rewrite it as a boolean expression.", Subject: cond.Expr.Range().Ptr()})
				continue
			}
			if !cv.IsKnown() || cv.True() {
				continue
			}
			mv, ds := msg.Expr.Value(hctx)
			text := "(invalid error_message)"
			var secretIn []string
			if !ds.HasErrors() {
				if mv, err := convert.Convert(mv, cty.String); err == nil && mv.IsKnown() && !mv.IsNull() {
					if secretIn = sensitiveVars(mv); secretIn == nil {
						mv, _ = mv.UnmarkDeep()
						text = mv.AsString()
					}
				}
			}
			detail := fmt.Sprintf("%s (var.%s failed the validation rule at %s; give it a value that satisfies it.)", text, d.Name, cond.Expr.Range())
			if secretIn != nil {
				// As Terraform: a message built from a secret is not shown. One sentence
				// says so, rather than a redacted message and two asides.
				detail = fmt.Sprintf("var.%s failed the validation rule at %s, whose error_message is not shown because it refers to the sensitive variable %s; give var.%s a value that satisfies the rule.",
					d.Name, cond.Expr.Range(), strings.Join(secretIn, ", "), d.Name)
			}
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid value for variable",
				Detail: detail, Subject: cond.Expr.Range().Ptr()})
		}
	}
	return vars, varObj, diags
}
