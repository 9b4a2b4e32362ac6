package config

import (
	"errors"
	"strings"
	"testing"
)

// TestUnsetNamed: evaluated as validate and the read-only commands do, what derives from
// a required variable without a value is known to do so, by attribute and by setting, so
// that a command needing it can name the variable.
func TestUnsetNamed(t *testing.T) {
	dir := writeConfig(t, map[string]string{"main.sovos.hcl": `
variable "talos" { type = string }
variable "boards" { type = map(string) }
variable "repo" { type = string }
variable "fixed" {
  type    = string
  default = "x"
}
sovos {
  insecure_registries = [var.repo]
  state {
    registry  = "${var.repo}/state"
    workspace = var.fixed
  }
}
image "up" {
  ref    = "ghcr.io/x/up:v1"
  digest = "sha256:1111111111111111111111111111111111111111111111111111111111111111"
}
profile "p" {
  arch      = "arm64"
  version   = var.talos
  installer = image.up.ref
  dest      = "out/${var.fixed}"
  overlay {
    name  = "o"
    image = "ghcr.io/x/o:${var.repo}"
  }
  output {
    kind = "installer"
  }
}
profile "m" {
  for_each  = var.boards
  arch      = "arm64"
  version   = each.value
  installer = image.up.ref
  output {
    kind = "installer"
  }
}
`})
	cfg := mustLoad(t, dir, EvalOptions{Validate: true})
	p := cfg.Resource("profile.p")
	var ue *UnsetError
	if err := p.Needs("dest", "installer"); err != nil {
		t.Errorf("dest and installer wait for no variable: %v", err)
	}
	if err := p.Needs("dest", "version"); !errors.As(err, &ue) || !strings.HasPrefix(err.Error(), "profile.p: version derives from var.talos, which has no value") ||
		!strings.Contains(err.Error(), "-var 'talos=...'") {
		t.Errorf("Needs(version) = %v", err)
	}
	if err := p.Needs("overlay.image"); err == nil || !strings.Contains(err.Error(), "var.repo") {
		t.Errorf("Needs(overlay.image) = %v", err)
	}
	m := cfg.Resource("profile.m")
	if m == nil {
		t.Fatalf("the one instance of profile.m with an unknown key is missing: %v", addrStrings(resourceAddrs(cfg)))
	}
	if err := m.Needs("for_each"); err == nil || !strings.Contains(err.Error(), "var.boards") {
		t.Errorf("Needs(for_each) = %v", err)
	}
	if err := m.Needs("version"); err == nil || !strings.Contains(err.Error(), "profile.m: version derives from var.boards") {
		t.Errorf("a value of each.value: Needs(version) = %v", err)
	}
	s := cfg.Settings
	for setting, want := range map[string]string{"sovos.state.registry": "var.repo", "sovos.insecure_registries": "var.repo"} {
		if err := s.Needs(setting); err == nil || !strings.HasPrefix(err.Error(), setting+" derives from "+want) {
			t.Errorf("Settings.Needs(%s) = %v", setting, err)
		}
	}
	for _, setting := range []string{"sovos.state.workspace", "sovos.state.path"} {
		if err := s.Needs(setting); err != nil {
			t.Errorf("Settings.Needs(%s) = %v", setting, err)
		}
	}

	// With values, nothing waits.
	cfg = mustLoad(t, dir, EvalOptions{Vars: []string{"talos=v1.13.3", "repo=r.example", `boards={a="v1.13.3"}`}})
	if err := cfg.Resource("profile.p").Needs("version", "overlay.image"); err != nil || cfg.Settings.Unset != nil {
		t.Errorf("with values: %v, %v", err, cfg.Settings.Unset)
	}
}

func resourceAddrs(cfg *Config) []Address {
	var out []Address
	for _, r := range cfg.Resources {
		out = append(out, r.Addr)
	}
	return out
}
