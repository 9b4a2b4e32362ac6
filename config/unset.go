package config

import (
	"fmt"
	"slices"
	"strings"

	"github.com/zclconf/go-cty/cty"
)

// Required variables without a value. `sovos validate` and the commands that read but do
// not plan (SPEC §11: only plan and apply need those values) evaluate with
// EvalOptions.Validate: such a variable is unknown, marked with an unsetMark naming it,
// and so is everything computed from it. What a command truly needs from one (where the
// state is, which registries speak plain HTTP, a ref to pin) is then an *UnsetError
// naming the variables, from Settings.Unset or Resource.Needs, instead of an empty
// value quietly standing in for it.

// unsetMark marks the unknown value validate gives the required variable Name, which
// has none, and whatever is computed from it.
type unsetMark struct{ Name string }

// hasUnset reports whether v derives from a variable validate left unknown.
func hasUnset(v cty.Value) bool {
	found := false
	walkMarks(v, func(m any) bool {
		_, found = m.(unsetMark)
		return !found
	})
	return found
}

// unsetVars returns the names of the variables without a value that v derives from,
// sorted; nil when there are none.
func unsetVars(v cty.Value) []string {
	var out []string
	walkMarks(v, func(m any) bool {
		if u, ok := m.(unsetMark); ok && !slices.Contains(out, u.Name) {
			out = append(out, u.Name)
		}
		return true
	})
	slices.Sort(out)
	return out
}

// withUnsetMarks gives v the unset marks of from.
func withUnsetMarks(v, from cty.Value) cty.Value {
	for _, name := range unsetVars(from) {
		v = v.Mark(unsetMark{Name: name})
	}
	return v
}

// UnsetError says that What derives from required variables that have no value (Vars),
// and how to give them one.
type UnsetError struct {
	What string
	Vars []string
	// Hint, when set, is another way out, said after the variables' ("or pass
	// -state-path").
	Hint string
}

func (e *UnsetError) Error() string {
	names := make([]string, len(e.Vars))
	for i, v := range e.Vars {
		names[i] = "var." + v
	}
	which, has := "which has no value", "it"
	if len(names) > 1 {
		which, has = "which have no value", "them"
	}
	v := e.Vars[0]
	msg := fmt.Sprintf("%s derives from %s, %s, and this command needs it: give %s a value with -var '%s=...', a -var-file, or SOVOS_VAR_%s",
		e.What, strings.Join(names, ", "), which, has, v, v)
	if e.Hint != "" {
		msg += ", " + e.Hint
	}
	return msg
}

// Needs returns an *UnsetError when one of r's attributes named (a nested block's as
// "block.attr"; "for_each" or "count" for what decides its key) derives from a required
// variable without a value; nil otherwise, and always after an evaluation without
// EvalOptions.Validate. A value computed from each.value of such a for_each names the
// for_each's variables.
func (r *Resource) Needs(attrs ...string) error {
	for _, a := range attrs {
		if vars := r.Unset[a]; len(vars) > 0 {
			return &UnsetError{What: r.Addr.String() + ": " + a, Vars: vars}
		}
	}
	return nil
}

// unsetAttrs maps each attribute of an instance whose value derives from a variable
// without a value to those variables' names; nil when none does.
func unsetAttrs(ib *instanceBody, in instance) map[string][]string {
	var out map[string][]string
	note := func(name string, v cty.Value) {
		if vars := unsetVars(v); vars != nil {
			if out == nil {
				out = map[string][]string{}
			}
			out[name] = vars
		}
	}
	for name, v := range ib.vals {
		note(name, v)
	}
	for _, b := range ib.blocks {
		for name, v := range b.vals {
			note(b.Type+"."+name, v)
		}
	}
	if in.unknown {
		name := "for_each"
		if in.count != cty.NilVal {
			name = "count"
		}
		if out == nil {
			out = map[string][]string{}
		}
		out[name] = in.unset
	}
	return out
}
