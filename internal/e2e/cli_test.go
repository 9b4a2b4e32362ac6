// Package e2e runs the sovos binary end to end against a real BuildKit daemon and a
// real registry, on the miniature factory of executor/testdata/factory.
package e2e

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/urmanac/sovos/internal/testenv"
	"github.com/urmanac/sovos/state"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// setup starts a registry and a buildkitd, copies the miniature factory with the
// modsign tool its kernel build runs, and returns a sovos CLI in that directory.
func setup(t *testing.T) *testenv.CLI {
	t.Helper()
	host := testenv.StartRegistry(t)
	bk := testenv.StartBuildkitd(t, testenv.WithInsecureRegistries(host))
	return factoryCLI(t, host, host, bk.Addr)
}

// factoryCLI copies the factory with its modsign tool and returns a sovos CLI there that
// pushes to pushTo/factory (SOVOS_VAR_registry, hence insecure_registries), builds FROM
// a busybox base pushed to busyboxAt, on the daemon at buildkitAddr.
func factoryCLI(t *testing.T, pushTo, busyboxAt, buildkitAddr string) *testenv.CLI {
	t.Helper()
	ref, dgst, _ := strings.Cut(testenv.BusyboxBase(t, busyboxAt), "@")
	c := testenv.SovosCLI(t)
	c.Dir = filepath.Join(t.TempDir(), "factory")
	testenv.CopyTree(t, "../../executor/testdata/factory", c.Dir)
	testenv.CopyFile(t, testenv.Modsign(t), filepath.Join(c.Dir, "kernel", "modsign"), 0o755)
	testenv.CopyFile(t, "../../examples/quickstart/talos/imager", filepath.Join(c.Dir, "installer", "imager"), 0o755)
	c.Env = append(os.Environ(),
		"BUILDKIT_HOST="+buildkitAddr,
		"DOCKER_CONFIG="+t.TempDir(),
		"SOVOS_VAR_registry="+pushTo+"/factory",
		"SOVOS_VAR_busybox="+ref,
		"SOVOS_VAR_busybox_digest="+dgst,
	)
	return c
}

// TestCLIApplyVerify drives `sovos apply` and `sovos verify` as a user would.
func TestCLIApplyVerify(t *testing.T) {
	c := setup(t)

	// Not a terminal and no -auto-approve: refused, nothing built.
	_, errOut, code := c.Run("apply")
	if code != 1 || !strings.Contains(errOut, "-auto-approve") {
		t.Fatalf("apply without -auto-approve: exit %d\n%s", code, errOut)
	}

	// No daemon where BUILDKIT_HOST points: a clear error, every build failed or skipped.
	out, errOut, code := c.With("BUILDKIT_HOST=unix:///nonexistent/buildkitd.sock").Run("apply", "-auto-approve", "-progress=quiet")
	if code != 1 || !strings.Contains(errOut, "cannot reach BuildKit daemon at unix:///nonexistent/buildkitd.sock") ||
		!strings.Contains(out, "profile.cm5: skipped: dependency") {
		t.Errorf("apply without a daemon: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}

	// A saved plan, applied.
	c.OK("plan", "-out=tfplan")
	if _, errOut, code := c.Run("apply", "tfplan", "-promote"); code != 1 || !strings.Contains(errOut, "-promote is part of a saved plan") {
		t.Errorf("apply FILE -promote: exit %d\n%s", code, errOut)
	}
	out = c.OK("apply", "tfplan", "-progress=plain")
	for _, want := range []string{"kernel.k: built", "extension.e: built", "profile.cm5: built", "Apply complete! 4 built" /* profile.cm4 was rendered by the apply without a daemon */, "Outputs:", "kernel = "} {
		if !strings.Contains(out, want) {
			t.Errorf("apply output lacks %q:\n%s", want, out)
		}
	}
	// The same saved plan again is stale.
	if _, errOut, code := c.Run("apply", "tfplan"); code != 1 || !strings.Contains(errOut, "stale plan") {
		t.Errorf("re-applying a used plan: exit %d\n%s", code, errOut)
	}

	// Nothing to do: the second apply builds nothing and still succeeds.
	out, errOut, code = c.Run("apply", "-auto-approve", "-progress=quiet")
	if code != 0 || strings.Contains(errOut, "Interrupt") {
		t.Errorf("second apply: exit %d\n%s", code, errOut)
	}
	if !strings.Contains(out, "No changes.") || !strings.Contains(out, "0 built") {
		t.Errorf("second apply:\n%s", out)
	}

	// verify, human and JSON.
	out = c.OK("verify")
	if !strings.Contains(out, "extension.e: OK") || !strings.Contains(out, "/rootfs/usr/lib/modules/extras/hello.ko") {
		t.Errorf("verify:\n%s", out)
	}
	out = c.OK("verify", "extension.e", "-format=json")
	var checks []struct {
		Address string
		OK      bool
		Modules []struct{ Path, Verdict string }
	}
	if err := json.Unmarshal([]byte(out), &checks); err != nil {
		t.Fatalf("verify -format=json: %v\n%s", err, out)
	}
	if len(checks) != 1 || !checks[0].OK || len(checks[0].Modules) != 1 || checks[0].Modules[0].Verdict != "ok" {
		t.Errorf("verify -format=json: %+v", checks)
	}

	// Someone else holds the lock: apply fails at once and names the holder.
	backend, err := state.NewLayout(filepath.Join(c.Dir, ".sovos", "state"), "default")
	if err != nil {
		t.Fatal(err)
	}
	held, err := state.Hold(context.Background(), backend, state.NewLockInfo("apply", "test"))
	if err != nil {
		t.Fatal(err)
	}
	if _, errOut, code := c.Run("apply", "-auto-approve", "-progress=quiet"); code != 1 || !strings.Contains(errOut, "locked") {
		t.Errorf("apply while locked: exit %d\n%s", code, errOut)
	}
	if err := held.Release(context.Background()); err != nil {
		t.Fatal(err)
	}

	// -promote with apply: the stable tags move.
	out = c.OK("apply", "-auto-approve", "-promote", "-progress=tty") // not a terminal: plain
	if !strings.Contains(out, "promoted") || !strings.Contains(out, "/factory/kernel:stable") {
		t.Errorf("apply -promote:\n%s", out)
	}

	// A profile that asks for a Talos version the extension does not support: verify
	// fails and names it.
	hcl, err := os.ReadFile(filepath.Join(c.Dir, "main.sovos.hcl"))
	if err != nil {
		t.Fatal(err)
	}
	edited := strings.Replace(string(hcl), `profile "cm5" {
  arch        = "arm64"
  platform    = "metal"
  version     = "v1.13.3"`, `profile "cm5" {
  arch        = "arm64"
  platform    = "metal"
  version     = "v1.12.0"`, 1)
	if err := os.WriteFile(filepath.Join(c.Dir, "main.sovos.hcl"), []byte(edited), 0o644); err != nil {
		t.Fatal(err)
	}
	out, _, code = c.Run("verify")
	if code != 1 || !strings.Contains(out, "INCOMPATIBLE") || !strings.Contains(out, "profile.cm5") {
		t.Errorf("verify with an incompatible profile: exit %d\n%s", code, out)
	}
}
