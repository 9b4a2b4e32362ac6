package config

import (
	"path/filepath"
	"testing"

	"github.com/zclconf/go-cty/cty"
)

func TestFileSafe(t *testing.T) {
	for addr, want := range map[string]string{
		"profile.cm5-hailo10h":          "profile.cm5-hailo10h",
		`profile.talos["cm5-hailo10h"]`: "profile.talos__cm5-hailo10h__",
		`profile.p[0]`:                  "profile.p_0_",
		`profile.p["a/b c"]`:            "profile.p__a_b_c__",
		`profile.p["ü"]`:                "profile.p_____", // one "_" per character, not per byte
	} {
		if got := FileSafe(addr); got != want {
			t.Errorf("FileSafe(%s) = %q, want %q", addr, got, want)
		}
	}
	if got := ProfileFileName(`profile.talos["cm5"]`); got != "profile.talos__cm5__.yaml" {
		t.Errorf("ProfileFileName = %q", got)
	}
}

// Secure Boot keys are known by where their values come from; only their names are
// hashed, never a path or a variable's name (moving a key file rebuilds nothing).
func TestSecurebootKeys(t *testing.T) {
	dir := writeConfig(t, map[string]string{"main.sovos.hcl": `
profile "p" {
  arch       = "amd64"
  version    = "v1.13.3"
  secureboot = true
  imager     = "ghcr.io/siderolabs/imager:v1.13.3"
  secureboot_keys = {
    "uki-signing-key.pem"  = { file = "keys/uki.key" }
    "uki-signing-cert.pem" = { file = "keys/uki.crt" }
    "pcr-signing-key.pem"  = { env = "PCR_KEY" }
  }
  output { kind = "uki" }
}
`, "keys/uki.key": "key\n", "keys/uki.crt": "cert\n"})
	cfg := mustLoad(t, dir, EvalOptions{})
	p := cfg.Resource("profile.p")
	keys := p.Profile.SecurebootKeys
	if len(keys) != 3 || keys["uki-signing-key.pem"].File != filepath.Join(dir, "keys/uki.key") || keys["pcr-signing-key.pem"].Env != "PCR_KEY" {
		t.Fatalf("SecurebootKeys = %+v", keys)
	}
	want := cty.ListVal([]cty.Value{cty.StringVal("pcr-signing-key.pem"), cty.StringVal("uki-signing-cert.pem"), cty.StringVal("uki-signing-key.pem")})
	if got := p.HashedAttrs["secureboot_keys"]; !got.RawEquals(want) {
		t.Errorf("hashed secureboot_keys = %#v, want the names only", got)
	}
}
