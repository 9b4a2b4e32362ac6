package config

import (
	"strings"
	"testing"
)

// TestProvenance: a build's provenance mode is min unless it says max; it is not hashed
// (so adding it rebuilds nothing), another mode is an error naming the line, and max is
// refused with a sensitive build arg, in the one diagnostic about that arg.
func TestProvenance(t *testing.T) {
	for _, tt := range []struct{ attr, want string }{
		{"", ProvenanceMin},
		{`provenance = "min"`, ProvenanceMin},
		{`provenance = "max"`, ProvenanceMax},
	} {
		dir := writeConfig(t, map[string]string{"main.sovos.hcl": base + `
kernel "k" {
  source = source.pkgs
  image  = "r/k"
  ` + tt.attr + `
}
`})
		k := mustLoad(t, dir, EvalOptions{}).Resource("kernel.k")
		if k.Build.Provenance != tt.want {
			t.Errorf("%q: provenance %q, want %q", tt.attr, k.Build.Provenance, tt.want)
		}
		if _, ok := k.HashedAttrs["provenance"]; ok {
			t.Errorf("%q: provenance is hashed", tt.attr)
		}
	}

	dir := writeConfig(t, map[string]string{"main.sovos.hcl": base + `
kernel "k" {
  source     = source.pkgs
  image      = "r/k"
  provenance = "full"
}
`})
	_, diags := Load(t.Context(), dir, EvalOptions{})
	if len(diags) != 1 || diags[0].Summary != "Invalid provenance mode" || diags[0].Subject == nil || diags[0].Subject.Start.Line != 10 {
		t.Errorf("want one error on line 10 about the mode, got %v", diags)
	}

	dir = writeConfig(t, map[string]string{"main.sovos.hcl": base + `
variable "token" {
  type      = string
  sensitive = true
}
extension "e" {
  source     = source.pkgs
  kernel     = kernel.k
  image      = "r/e"
  provenance = "max"
  args       = { TOKEN = var.token }
}
kernel "k" {
  source = source.pkgs
  image  = "r/k"
}
`})
	_, diags = Load(t.Context(), dir, EvalOptions{Vars: []string{"token=s3cret"}})
	if len(diags) != 1 || diags[0].Summary != "Sensitive value in args" || !strings.Contains(diags[0].Detail, `provenance = "max" would record every build arg`) {
		t.Errorf("want one error about args and max provenance, got %v", diags)
	}
	if strings.Contains(diags.Error(), "s3cret") {
		t.Errorf("the error shows the secret: %v", diags)
	}
}
