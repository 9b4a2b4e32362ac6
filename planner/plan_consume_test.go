package planner

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// consumeConfig: kernel.k reaches two extensions only through functions of its tag (no
// evaluated string contains it), the installer through its kernel, and the profile
// matrix through a conditional that only the custom board takes; profile.overlaid names
// kernel.k only in its overlay block, which is one of its evaluated attributes (SPEC §2).
const consumeConfig = `
locals {
  boards = {
    cm4 = { custom = false }
    cm5 = { custom = true }
  }
}
source "kern" { path = "./kern" }
image "upstream_installer" {
  ref    = "registry.example.com/siderolabs/installer:v1.13.3"
  digest = "sha256:1111111111111111111111111111111111111111111111111111111111111111"
}
kernel "k" {
  source = source.kern
  image  = "registry.example.com/kernel"
}
kernel "other" {
  source = source.kern
  image  = "registry.example.com/other"
  args   = { FLAVOUR = "other" }
}
extension "sha" {
  source = source.kern
  kernel = kernel.other
  image  = "registry.example.com/sha"
  args   = { K = sha256(kernel.k.tag) }
}
extension "substr" {
  source = source.kern
  kernel = kernel.other
  image  = "registry.example.com/substr"
  args   = { K = substr(kernel.k.tag, 0, 8) }
}
extension "plain" {
  source = source.kern
  kernel = kernel.other
  image  = "registry.example.com/plain"
}
installer "sovereign" {
  source = source.kern
  kernel = kernel.k
  image  = "registry.example.com/installer"
}
profile "talos" {
  for_each  = local.boards
  arch      = "arm64"
  version   = "v1.13.3"
  installer = each.value.custom ? installer.sovereign.ref : image.upstream_installer.ref
  output {
    kind = "installer"
  }
}
profile "overlaid" {
  arch      = "arm64"
  version   = "v1.13.3"
  installer = image.upstream_installer.ref
  overlay {
    name  = "custom"
    image = kernel.k.ref
  }
  output {
    kind = "installer"
  }
}
`

// -replace=kernel.k rebuilds exactly what consumes it, saying why, on a configuration
// evaluated by the config package with the real hasher: the cm4 profile, whose
// conditional names the sovereign installer only in the branch it does not take, stays
// a no-op.
func TestReplaceRebuildsWhatConsumes(t *testing.T) {
	dir := t.TempDir()
	for name, content := range map[string]string{"main.sovos.hcl": consumeConfig, "kern/Dockerfile": "FROM scratch\n"} {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cfg := loadE2E(t, dir)
	prior := applied(t, cfg, false)
	if p := mustPlan(t, cfg, prior, Options{}); p.HasChanges() {
		t.Fatalf("after apply: %v", actions(p))
	}
	got := actions(mustPlan(t, loadE2E(t, dir), prior, Options{Replace: []string{"kernel.k"}}))
	want := map[string]string{
		"kernel.k":             "rebuild: replacement requested with -replace=kernel.k",
		"kernel.other":         "no-op: ",
		"extension.sha":        "rebuild: dependency kernel.k will be rebuilt",
		"extension.substr":     "rebuild: dependency kernel.k will be rebuilt",
		"extension.plain":      "no-op: ",
		"installer.sovereign":  "rebuild: dependency kernel.k will be rebuilt",
		`profile.talos["cm4"]`: "no-op: ",
		`profile.talos["cm5"]`: "rebuild: dependency installer.sovereign will be rebuilt",
		"profile.overlaid":     "rebuild: dependency kernel.k will be rebuilt",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("plan -replace=kernel.k (-want +got):\n%s", diff)
	}
}
