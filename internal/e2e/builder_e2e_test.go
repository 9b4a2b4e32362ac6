package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/urmanac/sovos/internal/testenv"
)

// builderKernel is the smallest kernel there is: FROM scratch and a COPY, no RUN, so it
// builds for any platform without emulation.
var builderKernel = map[string]string{
	"k/Dockerfile": "FROM scratch\nCOPY vmlinuz /boot/vmlinuz\n",
	"k/vmlinuz":    "not really a kernel\n",
}

// builderCLI writes files into a fresh configuration directory and returns a sovos CLI
// there; the environment points BUILDKIT_HOST nowhere, so a build that is not routed to
// a declared builder fails instead of finding a daemon by accident.
func builderCLI(t *testing.T, files map[string]string, env ...string) *testenv.CLI {
	t.Helper()
	c := testenv.SovosCLI(t)
	c.Dir = filepath.Join(t.TempDir(), "cfg")
	for name, content := range files {
		p := filepath.Join(c.Dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	c.Env = append(append(os.Environ(),
		"BUILDKIT_HOST=unix:///nonexistent/buildkitd.sock",
		"DOCKER_CONFIG="+t.TempDir(),
	), env...)
	return c
}

const tlsConfig = `variable "registry" { type = string }
variable "remote" { type = string }
variable "ca" {
  type    = string
  default = "certs/ca.pem"
}
variable "server_name" {
  type    = string
  default = "` + testenv.TLSServerName + `"
}

sovos {
  insecure_registries = [split("/", var.registry)[0]]
}

# Paths relative to this directory; server_name differs from the dialled address.
builder "remote" {
  address   = var.remote
  platforms = ["linux/amd64"]
  tls {
    ca_cert     = var.ca
    cert        = "certs/client.pem"
    key         = "certs/client-key.pem"
    server_name = var.server_name
  }
}

source "k" { path = "./k" }

kernel "k" {
  source = source.k
  image  = "${var.registry}/k"
}
`

// TestBuilderTLS routes a build to a remote builder spoken to over mutual TLS, with the
// configuration's tls paths relative to its directory: the build lands on that daemon.
// A CA that did not sign the daemon's certificate is one clear error naming the builder
// and its address.
func TestBuilderTLS(t *testing.T) {
	host := testenv.StartRegistry(t)
	files := map[string]string{"main.sovos.hcl": tlsConfig}
	for k, v := range builderKernel {
		files[k] = v
	}
	c := builderCLI(t, files)
	pki := testenv.NewTLS(t, filepath.Join(c.Dir, "certs"))
	testenv.NewTLS(t, filepath.Join(c.Dir, "other")) // an unrelated CA
	bk := testenv.StartBuildkitd(t, testenv.WithTLS(pki))
	c.Env = append(c.Env, "SOVOS_VAR_registry="+host+"/tls", "SOVOS_VAR_remote="+bk.Addr)

	// The wrong CA: nothing builds, and the error says which builder and where.
	out, errOut, code := c.With("SOVOS_VAR_ca=other/ca.pem").Run("apply", "-auto-approve", "-progress=quiet")
	if code != 1 || !strings.Contains(errOut, "builder.remote") || !strings.Contains(errOut, bk.Addr) ||
		!strings.Contains(errOut, "certificate signed by unknown authority") || !strings.Contains(errOut, "check the builder's tls block") ||
		strings.Contains(errOut, "goroutine") {
		t.Errorf("apply with the wrong CA: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	t.Logf("wrong CA:\n%s%s", out, errOut)
	// A CA file that is not there: said so, with the resolved path, not "cannot reach".
	out, errOut, code = c.With("SOVOS_VAR_ca=missing/ca.pem").Run("apply", "-auto-approve", "-progress=quiet")
	if code != 1 || !strings.Contains(errOut, "builder.remote") || !strings.Contains(errOut, "tls ca_cert") ||
		!strings.Contains(errOut, filepath.Join(c.Dir, "missing", "ca.pem")) || strings.Contains(errOut, "cannot reach") {
		t.Errorf("apply with a missing ca_cert: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}

	// A server name the daemon's certificate is not for: the name is what is verified.
	out, errOut, code = c.With("SOVOS_VAR_server_name=elsewhere.sovos.test").Run("apply", "-auto-approve", "-progress=quiet")
	if code != 1 || !strings.Contains(errOut, "builder.remote") || !strings.Contains(errOut, "elsewhere.sovos.test") {
		t.Errorf("apply with the wrong server_name: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	if n := bk.Solves(t); n != 0 {
		t.Errorf("the daemon recorded %d solves from an apply that could not connect", n)
	}

	out = c.OK("plan")
	if !strings.Contains(out, "+ kernel.k (on builder.remote)") {
		t.Errorf("plan does not name the builder:\n%s", out)
	}
	out = c.OK("apply", "-auto-approve", "-progress=quiet")
	if !strings.Contains(out, "kernel.k: built") {
		t.Errorf("apply:\n%s", out)
	}
	if n := bk.Solves(t); n != 1 {
		t.Errorf("the TLS daemon recorded %d solves, want 1", n)
	}
}

const routingConfig = `variable "registry" { type = string }
variable "a" { type = string }
variable "b" { type = string }

sovos {
  insecure_registries = [split("/", var.registry)[0]]
}

builder "default" {
  address   = var.a
  platforms = ["linux/amd64"]
}

builder "b" {
  address   = var.b
  platforms = ["linux/arm64"]
}

source "k" { path = "./k" }

# No platform: the default builder, linux/amd64.
kernel "amd" {
  source = source.k
  image  = "${var.registry}/amd"
}

# linux/arm64 is listed by builder.b only.
kernel "arm" {
  source   = source.k
  image    = "${var.registry}/arm"
  platform = "linux/arm64"
}

source "p" { path = "./p" }

# An explicit builder wins over the builder that lists the platform. Its build
# consumes kernel.amd, built on the other daemon, through the registry.
kernel "pinned" {
  source   = source.p
  image    = "${var.registry}/pinned"
  platform = "linux/amd64"
  builder  = builder.b
  contexts = { amd = kernel.amd.ref }
}
`

// TestBuilderRouting routes resources across two daemons, by platform and by an
// explicit builder, and checks on each daemon that it ran exactly its builds; one
// build on builder.b consumes one built on builder.default.
func TestBuilderRouting(t *testing.T) {
	host := testenv.StartRegistry(t)
	a := testenv.StartBuildkitd(t)
	b := testenv.StartBuildkitd(t, testenv.WithInsecureRegistries(host))
	files := map[string]string{
		"main.sovos.hcl": routingConfig,
		"p/Dockerfile":   "FROM scratch\nCOPY --from=amd /boot/vmlinuz /boot/vmlinuz\n",
	}
	for k, v := range builderKernel {
		files[k] = v
	}
	c := builderCLI(t, files, "SOVOS_VAR_registry="+host+"/route", "SOVOS_VAR_a="+a.Addr, "SOVOS_VAR_b="+b.Addr)

	out := c.OK("plan")
	for _, want := range []string{
		"+ kernel.amd (on builder.default)",
		"+ kernel.arm (on builder.b)",
		"+ kernel.pinned (on builder.b)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("plan lacks %q:\n%s", want, out)
		}
	}
	// builder.b down: what builder.default serves is built all the same, and the
	// error names the builder that is missing.
	out, errOut, code := c.With("SOVOS_VAR_b=unix:///nonexistent/b.sock").Run("apply", "-auto-approve", "-progress=quiet")
	if code != 1 || !strings.Contains(out, "kernel.amd: built") || !strings.Contains(out, "kernel.arm: failed") ||
		!strings.Contains(errOut, "builder.b: cannot reach BuildKit daemon at unix:///nonexistent/b.sock") {
		t.Errorf("apply with builder.b down: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}

	out = c.OK("apply", "-auto-approve", "-progress=quiet")
	for _, want := range []string{"kernel.arm: built", "kernel.pinned: built"} {
		if !strings.Contains(out, want) {
			t.Errorf("apply lacks %q:\n%s", want, out)
		}
	}
	if n := a.Solves(t); n != 1 {
		t.Errorf("builder.default ran %d solves, want 1 (kernel.amd)", n)
	}
	if n := b.Solves(t); n != 2 {
		t.Errorf("builder.b ran %d solves, want 2 (kernel.arm, kernel.pinned)", n)
	}
	// Builders are not hashed: moving kernel.pinned back to builder.default rebuilds
	// nothing, and a second apply asks neither daemon for anything.
	moved := strings.Replace(routingConfig, "  builder  = builder.b\n", "", 1)
	if moved == routingConfig {
		t.Fatal("routingConfig has no builder = builder.b line to remove")
	}
	if err := os.WriteFile(filepath.Join(c.Dir, "main.sovos.hcl"), []byte(moved), 0o644); err != nil {
		t.Fatal(err)
	}
	if out := c.OK("plan"); !strings.Contains(out, "No changes.") {
		t.Errorf("plan after moving a build to another builder:\n%s", out)
	}
	c.OK("apply", "-auto-approve", "-progress=quiet")
	if na, nb := a.Solves(t), b.Solves(t); na != 1 || nb != 2 {
		t.Errorf("after a no-op apply the daemons recorded %d and %d solves, want 1 and 2", na, nb)
	}

	// The platform reached the daemon: the images are for what their resources declared.
	for repo, want := range map[string]string{"amd": "amd64", "arm": "arm64", "pinned": "amd64"} {
		if got := pushedArch(t, host+"/route/"+repo); got != want {
			t.Errorf("%s/route/%s is built for %s, want %s", host, repo, got, want)
		}
	}
}

// pushedArch returns the architecture of the one image pushed to repo.
func pushedArch(t *testing.T, repo string) string {
	t.Helper()
	r, err := name.NewRepository(repo, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	tags, err := remote.List(r)
	if err != nil || len(tags) != 1 {
		t.Fatalf("tags of %s: %v %v", repo, tags, err)
	}
	// A build is an index of its image and its provenance.
	pushed := testenv.ReadPushed(t, r.Tag(tags[0]).String())
	img, err := remote.Image(r.Digest(pushed.Image))
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	return cf.Architecture
}
