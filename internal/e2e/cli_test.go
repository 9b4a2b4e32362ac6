// Package e2e runs the sovos binary end to end against a real BuildKit daemon and a
// real registry, on the miniature factory of executor/testdata/factory.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/urmanac/sovos/internal/testenv"
	"github.com/urmanac/sovos/state"
)

type cli struct {
	t   *testing.T
	bin string
	dir string
	env []string
}

// run runs sovos in the factory directory and returns stdout, stderr and the exit code.
func (c *cli) run(args ...string) (string, string, int) {
	c.t.Helper()
	cmd := exec.Command(c.bin, args...)
	cmd.Dir = c.dir
	cmd.Env = c.env
	cmd.Stdin = strings.NewReader("") // not a terminal
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		c.t.Fatal(err)
	}
	return stdout.String(), stderr.String(), code
}

func (c *cli) ok(args ...string) string {
	c.t.Helper()
	out, errOut, code := c.run(args...)
	if code != 0 {
		c.t.Fatalf("sovos %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

func setup(t *testing.T) *cli {
	t.Helper()
	host := testenv.StartRegistry(t)
	bk := testenv.StartBuildkitd(t, testenv.WithInsecureRegistries(host))
	ref, dgst, _ := strings.Cut(testenv.BusyboxBase(t, host), "@")

	tmp := t.TempDir()
	bin := filepath.Join(tmp, "sovos")
	if out, err := exec.Command("go", "build", "-o", bin, "../../cmd/sovos").CombinedOutput(); err != nil {
		t.Fatalf("building sovos: %v\n%s", err, out)
	}
	dir := filepath.Join(tmp, "factory")
	testenv.CopyTree(t, "../../executor/testdata/factory", dir)
	modsign := filepath.Join(dir, "kernel", "modsign")
	cmd := exec.Command("go", "build", "-o", modsign, "../modsign")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building modsign: %v\n%s", err, out)
	}
	env := append(os.Environ(),
		"BUILDKIT_HOST="+bk.Addr,
		"DOCKER_CONFIG="+t.TempDir(),
		"SOVOS_VAR_registry="+host+"/factory",
		"SOVOS_VAR_busybox="+ref,
		"SOVOS_VAR_busybox_digest="+dgst,
	)
	return &cli{t: t, bin: bin, dir: dir, env: env}
}

// TestCLIApplyVerify drives `sovos apply` and `sovos verify` as a user would.
func TestCLIApplyVerify(t *testing.T) {
	c := setup(t)

	// Not a terminal and no -auto-approve: refused, nothing built.
	_, errOut, code := c.run("apply")
	if code != 1 || !strings.Contains(errOut, "-auto-approve") {
		t.Fatalf("apply without -auto-approve: exit %d\n%s", code, errOut)
	}

	// No daemon where BUILDKIT_HOST points: a clear error, every build failed or skipped.
	good := c.env
	c.env = append(append([]string{}, good...), "BUILDKIT_HOST=unix:///nonexistent/buildkitd.sock")
	out, errOut, code := c.run("apply", "-auto-approve", "-progress=quiet")
	c.env = good
	if code != 1 || !strings.Contains(errOut, "cannot reach BuildKit daemon at unix:///nonexistent/buildkitd.sock") ||
		!strings.Contains(out, "profile.cm5: skipped: dependency") {
		t.Errorf("apply without a daemon: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}

	// A saved plan, applied.
	c.ok("plan", "-out=tfplan")
	if _, errOut, code := c.run("apply", "tfplan", "-promote"); code != 1 || !strings.Contains(errOut, "-promote is part of a saved plan") {
		t.Errorf("apply FILE -promote: exit %d\n%s", code, errOut)
	}
	out = c.ok("apply", "tfplan", "-progress=plain")
	for _, want := range []string{"kernel.k: built", "extension.e: built", "profile.cm5: built", "Apply complete! 4 built" /* profile.cm4 was rendered by the apply without a daemon */, "Outputs:", "kernel = "} {
		if !strings.Contains(out, want) {
			t.Errorf("apply output lacks %q:\n%s", want, out)
		}
	}
	// The same saved plan again is stale.
	if _, errOut, code := c.run("apply", "tfplan"); code != 1 || !strings.Contains(errOut, "stale plan") {
		t.Errorf("re-applying a used plan: exit %d\n%s", code, errOut)
	}

	// Nothing to do: the second apply builds nothing and still succeeds.
	out, errOut, code = c.run("apply", "-auto-approve", "-progress=quiet")
	if code != 0 || strings.Contains(errOut, "Interrupt") {
		t.Errorf("second apply: exit %d\n%s", code, errOut)
	}
	if !strings.Contains(out, "No changes.") || !strings.Contains(out, "0 built") {
		t.Errorf("second apply:\n%s", out)
	}

	// verify, human and JSON.
	out = c.ok("verify")
	if !strings.Contains(out, "extension.e: OK") || !strings.Contains(out, "/rootfs/usr/lib/modules/extras/hello.ko") {
		t.Errorf("verify:\n%s", out)
	}
	out = c.ok("verify", "extension.e", "-format=json")
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
	backend, err := state.NewLayout(filepath.Join(c.dir, ".sovos", "state"), "default")
	if err != nil {
		t.Fatal(err)
	}
	held, err := state.Hold(context.Background(), backend, state.NewLockInfo("apply", "test"), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if _, errOut, code := c.run("apply", "-auto-approve", "-progress=quiet"); code != 1 || !strings.Contains(errOut, "locked") {
		t.Errorf("apply while locked: exit %d\n%s", code, errOut)
	}
	if err := held.Release(context.Background()); err != nil {
		t.Fatal(err)
	}

	// -promote with apply: the stable tags move.
	out = c.ok("apply", "-auto-approve", "-promote", "-progress=tty") // not a terminal: plain
	if !strings.Contains(out, "promoted") || !strings.Contains(out, "/factory/kernel:stable") {
		t.Errorf("apply -promote:\n%s", out)
	}

	// A profile that asks for a Talos version the extension does not support: verify
	// fails and names it.
	hcl, err := os.ReadFile(filepath.Join(c.dir, "main.sovos.hcl"))
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
	if err := os.WriteFile(filepath.Join(c.dir, "main.sovos.hcl"), []byte(edited), 0o644); err != nil {
		t.Fatal(err)
	}
	out, _, code = c.run("verify")
	if code != 1 || !strings.Contains(out, "INCOMPATIBLE") || !strings.Contains(out, "profile.cm5") {
		t.Errorf("verify with an incompatible profile: exit %d\n%s", code, out)
	}
}
