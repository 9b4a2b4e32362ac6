package e2e

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCLISavedPlanVariables: `apply FILE` needs no -var for what the plan was made with,
// takes the sensitive ones again, refuses a changed value, and the plan file holds
// nothing of the sensitive value (SPEC §4 "Saved plans").
func TestCLISavedPlanVariables(t *testing.T) {
	c := setup(t)
	// The variables are given as flags to plan only, not in the environment.
	var flags, env []string
	for _, kv := range c.Env {
		if name, val, ok := strings.Cut(kv, "="); ok && strings.HasPrefix(name, "SOVOS_VAR_") {
			flags = append(flags, "-var", strings.TrimPrefix(name, "SOVOS_VAR_")+"="+val)
			continue
		}
		env = append(env, kv)
	}
	c.Env = env
	const pin = "4821"
	secret := `
variable "pin" {
  type      = string
  sensitive = true
}

output "pin" {
  value     = var.pin
  sensitive = true
}
`
	if err := os.WriteFile(filepath.Join(c.Dir, "secret.sovos.hcl"), []byte(secret), 0o644); err != nil {
		t.Fatal(err)
	}

	withPIN := c.With("SOVOS_VAR_pin=" + pin)
	withPIN.OK(append([]string{"plan", "-out=saved.plan", "-target=kernel.k"}, flags...)...)
	data, err := os.ReadFile(filepath.Join(c.Dir, "saved.plan"))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(pin))
	for _, needle := range []string{pin, hex.EncodeToString(sum[:]), "hmac", "salt"} {
		if strings.Contains(string(data), needle) {
			t.Errorf("the plan file holds %q", needle)
		}
	}

	// The sensitive value is not in the file: apply FILE asks for it again.
	if _, errOut, code := c.Run("apply", "saved.plan"); code != 1 || !strings.Contains(errOut, "var.pin has no default and no value was given") {
		t.Errorf("apply FILE without the sensitive value: exit %d\n%s", code, errOut)
	}
	// A non-sensitive value given again differently: refused, nothing built.
	_, errOut, code := withPIN.Run("apply", "saved.plan", "-var", "registry=elsewhere.example/factory")
	if code != 1 || !strings.Contains(errOut, `var.registry is "elsewhere.example/factory" now, but the plan saved.plan was made with`) {
		t.Errorf("apply FILE with a changed variable: exit %d\n%s", code, errOut)
	}

	// No -var at all: the saved values build the plan.
	out := withPIN.OK("apply", "saved.plan", "-progress=quiet")
	if !strings.Contains(out, "kernel.k: built") || !strings.Contains(out, "Apply complete! 1 built") {
		t.Errorf("apply FILE without -var:\n%s", out)
	}
	if _, errOut, code := withPIN.Run("apply", "saved.plan"); code != 1 || !strings.Contains(errOut, "stale plan") {
		t.Errorf("re-applying the saved plan: exit %d\n%s", code, errOut)
	}
}
