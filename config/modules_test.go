package config

import (
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"
)

// TestExtensionModules: an extension's `modules` is decoded and hashed when written,
// and absent from the hashed attributes otherwise, so existing configurations keep
// their hashes. It belongs to extensions only.
func TestExtensionModules(t *testing.T) {
	for _, tt := range []struct {
		attr      string
		noModules bool
		hashed    cty.Value // cty.NilVal: not hashed
	}{
		{"", false, cty.NilVal},
		{"modules = false", true, cty.False},
		{"modules = true", false, cty.True},
		{"modules = var.carries", false, cty.True},
		{"modules = null", false, cty.NilVal},
	} {
		dir := writeConfig(t, map[string]string{"main.sovos.hcl": base + `
variable "carries" {
  type    = bool
  default = true
}
kernel "k" {
  source = source.pkgs
  image  = "r/k"
}
extension "e" {
  source = source.pkgs
  kernel = kernel.k
  image  = "r/e"
  ` + tt.attr + `
}
`})
		e := mustLoad(t, dir, EvalOptions{}).Resource("extension.e")
		if e.Build.NoModules != tt.noModules {
			t.Errorf("%q: NoModules = %v", tt.attr, e.Build.NoModules)
		}
		got, ok := e.HashedAttrs["modules"]
		switch {
		case tt.hashed == cty.NilVal && ok:
			t.Errorf("%q: hashed as %#v; an absent attribute must not change the hash", tt.attr, got)
		case tt.hashed != cty.NilVal && (!ok || !got.RawEquals(tt.hashed)):
			t.Errorf("%q: hashed as %#v, want %#v", tt.attr, got, tt.hashed)
		}
	}

	dir := writeConfig(t, map[string]string{"main.sovos.hcl": base + `
kernel "k" {
  source  = source.pkgs
  image   = "r/k"
  modules = false
}
`})
	_, diags := Load(t.Context(), dir, EvalOptions{})
	if !diags.HasErrors() || !strings.Contains(diags.Error(), "modules") {
		t.Errorf("modules on a kernel: %v", diags)
	}
}
