package config

import (
	"path/filepath"
	"strings"
	"testing"
)

// sovos.signing: a key pair (paths relative to the configuration) or keyless with its
// options, never both; an empty block says what to write.
func TestSigningSettings(t *testing.T) {
	dir := writeConfig(t, map[string]string{"main.sovos.hcl": `
sovos {
  signing {
    key        = "keys/cosign.key"
    public_key = "cosign.pub"
  }
}
`})
	cfg := mustLoad(t, dir, EvalOptions{})
	s := cfg.Settings.Signing
	if s == nil || s.Key != filepath.Join(dir, "keys", "cosign.key") || s.PublicKey != filepath.Join(dir, "cosign.pub") || s.Keyless {
		t.Errorf("key pair: %+v", s)
	}

	dir = writeConfig(t, map[string]string{"main.sovos.hcl": `
sovos {
  signing {
    keyless  = true
    identity = "^https://github\\.com/urmanac/"
  }
}
`})
	s = mustLoad(t, dir, EvalOptions{}).Settings.Signing
	if s == nil || !s.Keyless || s.Key != "" || s.Identity != `^https://github\.com/urmanac/` {
		t.Errorf("keyless: %+v", s)
	}

	if s := mustLoad(t, writeConfig(t, map[string]string{"main.sovos.hcl": base}), EvalOptions{}).Settings.Signing; s != nil {
		t.Errorf("no signing block: %+v", s)
	}

	for _, tt := range []struct{ body, summary string }{
		{`key = "cosign.key"
    keyless = true`, "Conflicting signing settings"},
		{``, "Incomplete signing settings"},
		{`key = "cosign.key"
    identity = "x"`, "Keyless setting without keyless"},
		{`keyless = true
    public_key = "cosign.pub"`, "Key setting with keyless"},
		{`keyless = true
    identity = "("`, "Invalid signing identity"},
	} {
		dir := writeConfig(t, map[string]string{"main.sovos.hcl": "sovos {\n  signing {\n    " + tt.body + "\n  }\n}\n"})
		_, diags := Load(t.Context(), dir, EvalOptions{})
		if len(diags) != 1 || diags[0].Summary != tt.summary || diags[0].Subject == nil {
			t.Errorf("%q: want one %q error with a range, got %v", tt.body, tt.summary, diags)
		} else if !strings.Contains(diags[0].Subject.Filename, "main.sovos.hcl") {
			t.Errorf("%q: range %v", tt.body, diags[0].Subject)
		}
	}
}
