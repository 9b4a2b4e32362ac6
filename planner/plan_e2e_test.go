package planner

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/urmanac/sovos/config"
	"github.com/urmanac/sovos/hashing"
	"github.com/urmanac/sovos/internal/oci"
	"github.com/urmanac/sovos/internal/testenv"
	"github.com/urmanac/sovos/state"
)

// The planner on a real configuration, evaluated by the config package with the real
// Hasher: a plan's reasons must hold for what users write, not only for hand-built
// fixtures.
const e2eConfig = `
variable "v" {
  type    = string
  default = "1"
}

source "kern" { path = "./kern" }
source "ext"  { path = "./ext" }
source "talos" { path = "./talos" }

kernel "k" {
  source   = source.kern
  platform = "linux/arm64"
  image    = "registry.example.com/kernel"
  tags     = ["stable"]
}

extension "e" {
  source   = source.ext
  kernel   = kernel.k
  platform = "linux/arm64"
  image    = "registry.example.com/ext"
  args     = { V = var.v }
}

installer "i" {
  source   = source.talos
  kernel   = kernel.k
  platform = "linux/arm64"
  image    = "registry.example.com/installer"
}
`

func writeE2E(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		"main.sovos.hcl":      e2eConfig,
		"kern/Dockerfile":     "FROM scratch\n",
		"ext/Dockerfile":      "FROM scratch\n",
		"ext/hailo.c":         "int main() { return 0; }\n",
		"talos/Dockerfile":    "FROM scratch\n",
		"talos/.dockerignore": "",
	}
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func loadE2E(t *testing.T, dir string, vars ...string) *config.Config {
	t.Helper()
	h := hashing.NewHasher(hashing.HasherOptions{CacheDir: filepath.Join(dir, ".sovos", "cache")})
	cfg, diags := config.Load(context.Background(), dir, config.EvalOptions{Hooks: h, Vars: vars})
	if diags.HasErrors() {
		t.Fatalf("config: %s", diags.Error())
	}
	return cfg
}

func TestPlanOnEvaluatedConfiguration(t *testing.T) {
	dir := writeE2E(t)
	cfg := loadE2E(t, dir)
	p := mustPlan(t, cfg, nil, Options{})
	if p.Summary != (Summary{Create: 3}) {
		t.Fatalf("first plan: %v", actions(p))
	}

	prior := applied(t, cfg, false)
	if p := mustPlan(t, loadE2E(t, dir), prior, Options{}); p.HasChanges() {
		t.Fatalf("after apply: %v", actions(p))
	}

	// One file of the extension's path source: the extension alone is rebuilt.
	if err := os.WriteFile(filepath.Join(dir, "ext", "hailo.c"), []byte("int main() { return 1; }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	got := actions(mustPlan(t, loadE2E(t, dir), prior, Options{}))
	if !strings.HasPrefix(got["extension.e"], "rebuild: source.ext: content changed (") || strings.Contains(got["extension.e"], ";") {
		t.Errorf("extension after a source edit: %q", got["extension.e"])
	}
	if got["kernel.k"] != "no-op: " || got["installer.i"] != "no-op: " {
		t.Errorf("unrelated resources changed: %v", got)
	}

	// One file of the kernel's source: the kernel and everything built on it.
	if err := os.WriteFile(filepath.Join(dir, "kern", "config-arm64"), []byte("CONFIG_HAILO=m\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	kp := mustPlan(t, loadE2E(t, dir), prior, Options{})
	got = actions(kp)
	t.Logf("plan after editing kern/: %v", got)
	want := map[string]string{
		"kernel.k":    "",
		"extension.e": "",
		"installer.i": "rebuild: dependency kernel.k will be rebuilt",
	}
	if !strings.HasPrefix(got["kernel.k"], "rebuild: source.kern: content changed") {
		t.Errorf("kernel: %q", got["kernel.k"])
	}
	if !strings.Contains(got["extension.e"], "dependency kernel.k will be rebuilt") {
		t.Errorf("extension: %q", got["extension.e"])
	}
	got["kernel.k"], got["extension.e"] = "", ""
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}

	// A variable: the attribute that uses it, old -> new.
	dir2 := writeE2E(t)
	prior2 := applied(t, loadE2E(t, dir2), false)
	got = actions(mustPlan(t, loadE2E(t, dir2, "v=2"), prior2, Options{}))
	if got["extension.e"] != `rebuild: args["V"]: "1" -> "2"` {
		t.Errorf("extension after -var v=2: %q", got["extension.e"])
	}
}

// Against the real CNCF registry: the state is read from it, a plan with nothing to do
// costs the state read plus one tags/list per repository, and deleting a recorded image
// makes -refresh plan its rebuild.
func TestPlanAgainstCNCFRegistry(t *testing.T) {
	host := testenv.StartRegistry(t)
	ctx := context.Background()
	cfg := standard(host+"/urmanac", defaultParams())
	digests := push(t, cfg, nil, nil)
	prior := appliedWith(t, cfg, false, digests)
	tr := &countingTransport{inner: http.DefaultTransport}
	backend, err := state.NewRegistry(host+"/urmanac/sovos-state", "main",
		state.WithClient(oci.New(oci.WithInsecure(host), oci.WithTransport(tr), oci.WithKeychain(authn.NewMultiKeychain()))))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := backend.Write(ctx, prior); err != nil {
		t.Fatal(err)
	}

	tr.reqs = nil
	read, digest, err := backend.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	stateReqs := tr.total()
	p := mustPlanDigest(t, cfg, read, digest, refreshOpts(host, tr))
	if p.HasChanges() {
		t.Fatalf("changes: %v", actions(p))
	}
	t.Logf("plan with nothing to do against the CNCF registry: %d requests for the state read, %d for the existence check (%d tags/list for 4 repositories, %d manifest requests): %v",
		stateReqs, tr.total()-stateReqs, tr.count("/tags/list"), tr.count("/manifests/")-tr.count("/sovos-state/manifests/"), tr.reqs)
	if got := tr.count("/tags/list"); got != 4 {
		t.Errorf("%d tags/list, want 4", got)
	}

	ref, err := name.NewDigest(host+"/urmanac/kernel-sovereign@"+digests["kernel.sovereign"], name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Delete(ref); err != nil {
		t.Fatal(err)
	}
	got := actions(mustPlanDigest(t, cfg, read, digest, refreshOpts(host, nil)))
	if want := "rebuild: " + host + "/urmanac/kernel-sovereign:" + cfg.Resource("kernel.sovereign").Tag + " is missing from the registry"; got["kernel.sovereign"] != want {
		t.Errorf("kernel: %q, want %q", got["kernel.sovereign"], want)
	}
	if got["extension.hailort"] != "rebuild: dependency kernel.sovereign will be rebuilt" {
		t.Errorf("extension: %q", got["extension.hailort"])
	}
}

func mustPlanDigest(t *testing.T, cfg *config.Config, prior *state.State, digest string, opts Options) *Plan {
	t.Helper()
	p, err := MakePlan(context.Background(), cfg, prior, digest, opts)
	if err != nil {
		t.Fatal(err)
	}
	return p
}
