package config

import (
	"context"
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"
)

// A saved plan's values stand in for a variable nothing else sets (apply FILE needs no
// -var again), before its default; whatever sets it explicitly still wins, so apply
// FILE can see that a value changed.
func TestSavedVariableValues(t *testing.T) {
	dir := writeConfig(t, map[string]string{"main.sovos.hcl": `
variable "registry" { default = "ghcr.io/default" }
variable "required" { type = list(string) }
variable "untouched" { default = "d" }
`})
	saved := map[string]cty.Value{
		"registry": cty.StringVal("ghcr.io/saved"),
		"required": cty.TupleVal([]cty.Value{cty.StringVal("a")}),
	}
	values := func(cfg *Config) map[string]string {
		out := map[string]string{}
		for _, v := range cfg.Variables {
			out[v.Name] = v.Value.GoString()
		}
		return out
	}
	got := values(mustLoad(t, dir, EvalOptions{Saved: saved}))
	want := map[string]string{
		"registry":  `cty.StringVal("ghcr.io/saved")`,
		"required":  `cty.ListVal([]cty.Value{cty.StringVal("a")})`,
		"untouched": `cty.StringVal("d")`,
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("var.%s = %s, want %s", k, got[k], w)
		}
	}
	got = values(mustLoad(t, dir, EvalOptions{Saved: saved, Vars: []string{"registry=ghcr.io/flag"}}))
	if got["registry"] != `cty.StringVal("ghcr.io/flag")` {
		t.Errorf("-var did not win over the saved value: %s", got["registry"])
	}
	got = values(mustLoad(t, dir, EvalOptions{Saved: saved, Environ: []string{"SOVOS_VAR_registry=ghcr.io/env"}}))
	if got["registry"] != `cty.StringVal("ghcr.io/env")` {
		t.Errorf("SOVOS_VAR_ did not win over the saved value: %s", got["registry"])
	}

	_, diags := Load(context.Background(), dir, EvalOptions{Saved: map[string]cty.Value{"required": cty.StringVal("x")}})
	if !diags.HasErrors() || !strings.Contains(diags.Error(), "saved plan's value of var.required is not a list of string") {
		t.Errorf("a saved value of the wrong type: %v", diags)
	}
}
