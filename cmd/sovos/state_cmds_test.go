package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/urmanac/sovos/internal/oci"
	"github.com/urmanac/sovos/internal/testenv"
	"github.com/urmanac/sovos/state"
)

func testStateDoc(t *testing.T, workspace string, serial uint64, addrs ...string) *state.State {
	t.Helper()
	s := state.New(workspace, "0.1.0")
	s.Lineage = "6f1c1a52-6a3b-4c55-9b1e-2f3f1f1d2a10"
	s.Serial = serial
	for _, a := range addrs {
		s.Resources = append(s.Resources, &state.Resource{Address: a, Type: strings.Split(a, ".")[0],
			Hash: strings.Repeat("ab", 32), Tag: "abababababababab", Image: "ghcr.io/x/" + a,
			Digest: "sha256:" + strings.Repeat("cd", 32)})
	}
	return s
}

func writeStateFile(t *testing.T, dir string, s *state.State) string {
	t.Helper()
	data, err := state.Encode(s)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, fmt.Sprintf("push-%d.json", time.Now().UnixNano()))
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestStateCommands(t *testing.T) {
	host := testenv.MemRegistry(t)
	for name, sovosBlock := range map[string]string{
		"layout": `sovos {
  state {
    workspace = "main"
  }
}`,
		"registry": fmt.Sprintf(`sovos {
  insecure_registries = [%q]
  state {
    registry  = "%s/x/state"
    workspace = "main"
  }
}`, host, host),
	} {
		t.Run(name, func(t *testing.T) {
			dir := writeFiles(t, map[string]string{"main.sovos.hcl": sovosBlock + "\n"})
			run := func(args ...string) (string, string, int) {
				return runApp(t, append([]string{"-chdir=" + dir}, args...)...)
			}
			out, errOut, code := run("state", "list")
			if code != 0 || out != "" {
				t.Fatalf("list of no state: exit %d, %q, %q", code, out, errOut)
			}
			f := writeStateFile(t, dir, testStateDoc(t, "main", 3, "kernel.k", "extension.e", `profile.p["a"]`))
			if out, errOut, code = run("state", "push", f); code != 0 || !strings.Contains(out, "serial 4") {
				t.Fatalf("push: exit %d, %q, %q", code, out, errOut)
			}
			if out, _, _ = run("state", "list"); out != "extension.e\nkernel.k\nprofile.p[\"a\"]\n" {
				t.Errorf("list = %q", out)
			}
			if out, _, _ = run("state", "list", "profile.p"); out != "profile.p[\"a\"]\n" {
				t.Errorf("list profile.p = %q", out)
			}
			if out, _, code = run("state", "show", "kernel.k"); code != 0 || !strings.Contains(out, "# kernel.k:") || !strings.Contains(out, "ghcr.io/x/kernel.k@sha256:cdcd") {
				t.Errorf("show: exit %d\n%s", code, out)
			}
			if _, errOut, code = run("state", "show", "kernel.nope"); code != 1 || !strings.Contains(errOut, "no resource kernel.nope in the state") {
				t.Errorf("show missing: exit %d, %q", code, errOut)
			}
			if out, errOut, code = run("state", "rm", "kernel.k", "extension.e"); code != 0 || !strings.Contains(out, "Removed kernel.k") {
				t.Fatalf("rm: exit %d, %q, %q", code, out, errOut)
			}
			out, _, _ = run("state", "pull")
			pulled, err := state.Decode([]byte(out), "pull")
			if err != nil || pulled.Serial != 5 || len(pulled.Resources) != 1 {
				t.Fatalf("pull: %v\n%s", err, out)
			}
			// Pushing an older copy or another lineage needs -force.
			old := writeStateFile(t, dir, testStateDoc(t, "main", 2, "kernel.k"))
			if _, errOut, code = run("state", "push", old); code != 1 || !strings.Contains(errOut, "older than the state") {
				t.Errorf("push older: exit %d, %q", code, errOut)
			}
			other := testStateDoc(t, "main", 9)
			other.Lineage = "00000000-0000-4000-8000-000000000000"
			if _, errOut, code = run("state", "push", writeStateFile(t, dir, other)); code != 1 || !strings.Contains(errOut, "lineage") {
				t.Errorf("push other lineage: exit %d, %q", code, errOut)
			}
			if _, errOut, code = run("state", "push", writeStateFile(t, dir, testStateDoc(t, "dev", 9))); code != 1 || !strings.Contains(errOut, `workspace "dev"`) {
				t.Errorf("push other workspace: exit %d, %q", code, errOut)
			}
			if out, errOut, code = run("state", "push", "-force", old); code != 0 || !strings.Contains(out, "serial 6") {
				t.Errorf("push -force: exit %d, %q, %q", code, out, errOut)
			}
			if _, errOut, code = run("state", "push", filepath.Join(dir, "main.sovos.hcl")); code != 1 || !strings.Contains(errOut, "main.sovos.hcl: the state document is not valid JSON") {
				t.Errorf("push of a non-state: exit %d, %q", code, errOut)
			}

			// Another sovos holds the lock: rm fails naming it; force-unlock removes it.
			b := openTestBackend(t, name, dir, host)
			info := state.NewLockInfo("apply", "0.1.0")
			info.Who = "ci@runner-7"
			held, err := state.Hold(context.Background(), b, info)
			if err != nil {
				t.Fatal(err)
			}
			defer held.Release(context.Background())
			if _, errOut, code = run("state", "rm", `profile.p["a"]`); code != 1 || !strings.Contains(errOut, "ci@runner-7") || !strings.Contains(errOut, "force-unlock "+info.ID) {
				t.Errorf("rm while locked: exit %d, %q", code, errOut)
			}
			if _, errOut, code = run("force-unlock", "wrong-id"); code != 1 || !strings.Contains(errOut, "not wrong-id") {
				t.Errorf("force-unlock wrong id: exit %d, %q", code, errOut)
			}
			if _, errOut, code = run("force-unlock", info.ID); code != 1 || !strings.Contains(errOut, "-force") {
				t.Errorf("force-unlock without a terminal: exit %d, %q", code, errOut)
			}
			if out, errOut, code = run("force-unlock", "-force", info.ID); code != 0 {
				t.Errorf("force-unlock -force: exit %d, %q, %q", code, out, errOut)
			}
			if out, errOut, code = run("state", "rm", "kernel.k"); code != 0 {
				t.Errorf("rm after unlock: exit %d, %q, %q", code, out, errOut)
			}
			if _, errOut, code = run("force-unlock", "-force", info.ID); code != 1 || !strings.Contains(errOut, "not locked") {
				t.Errorf("force-unlock of an unlocked state: exit %d, %q", code, errOut)
			}
		})
	}
}

func openTestBackend(t *testing.T, kind, dir, host string) state.Backend {
	t.Helper()
	var b state.Backend
	var err error
	if kind == "layout" {
		b, err = state.NewLayout(filepath.Join(dir, ".sovos", "state"), "main")
	} else {
		b, err = state.NewRegistry(host+"/x/state", "main", state.WithClient(oci.New(oci.WithInsecure(host))), state.WithLockSettle(0))
	}
	if err != nil {
		t.Fatal(err)
	}
	return b
}
