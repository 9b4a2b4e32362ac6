package main

import (
	"strings"
	"testing"
)

// TestNestedBlockBuiltFrom: what a profile's overlay block names is consumed (SPEC §2),
// so apply records it in built_from and `state show` prints it, and the plan shows the
// dependency. No builder is needed: the profile has no imager.
func TestNestedBlockBuiltFrom(t *testing.T) {
	dir := writeFiles(t, map[string]string{"main.sovos.hcl": `
image "sbc" {
  ref    = "ghcr.io/siderolabs/sbc-raspberrypi:v0.1.6"
  digest = "sha256:f850dff80c7e96691862155d5fddbf32835aacf6480055fc16d067bae8057f43"
}

profile "rpi" {
  arch      = "arm64"
  version   = "v1.13.3"
  installer = "ghcr.io/siderolabs/installer:v1.13.3@sha256:1111111111111111111111111111111111111111111111111111111111111111"
  overlay {
    name  = "rpi_generic"
    image = image.sbc.ref
  }
  output {
    kind = "installer"
  }
}
`})
	run := func(args ...string) (string, string, int) {
		return runApp(t, append([]string{"-chdir=" + dir}, args...)...)
	}
	if out, errOut, code := run("apply", "-auto-approve", "-refresh=false"); code != 0 {
		t.Fatalf("apply: exit %d\n%s\n%s", code, out, errOut)
	}
	out, errOut, code := run("state", "show", "profile.rpi")
	if code != 0 {
		t.Fatalf("state show: exit %d, %s", code, errOut)
	}
	if !strings.Contains(out, "built_from") || !strings.Contains(out, "image.sbc") ||
		!strings.Contains(out, "sha256:f850dff80c7e96691862155d5fddbf32835aacf6480055fc16d067bae8057f43") {
		t.Errorf("state show profile.rpi lacks built_from image.sbc:\n%s", out)
	}
}
