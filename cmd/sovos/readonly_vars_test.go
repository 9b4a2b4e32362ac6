package main

import (
	"fmt"
	"strings"
	"testing"

	"github.com/urmanac/sovos/internal/testenv"
)

// readOnlyConfig has two required variables, one sensitive, that only apply and the
// outputs use; its state is the local default and its image pin is a literal.
const readOnlyConfig = `variable "registry" {
  type = string
}

variable "token" {
  type      = string
  sensitive = true
}

sovos {
  insecure_registries = [%[1]q]
}

image "up" {
  ref    = "%[1]s/test/up:v1"
  digest = %[2]q
}

profile "p" {
  arch      = "arm64"
  version   = "v1.13.3"
  installer = image.up.ref
  output {
    kind = "installer"
  }
}

output "where" {
  value = "${var.registry}/x"
}

output "tok" {
  value     = var.token
  sensitive = true
}
`

// TestReadOnlyCommandsWithoutVariables: SPEC §11 makes only plan and apply need values
// for required variables (the weekly `pin -check` job has no secrets). Every command that
// reads runs without them; one that truly needs a value derived from a variable says
// which variable.
func TestReadOnlyCommandsWithoutVariables(t *testing.T) {
	host := testenv.MemRegistry(t)
	digest := pushImage(t, host+"/test/up:v1").String()
	dir := writeFiles(t, map[string]string{"main.sovos.hcl": fmt.Sprintf(readOnlyConfig, host, digest)})
	run := func(args ...string) (string, string, int) {
		return runApp(t, append([]string{"-chdir=" + dir}, args...)...)
	}
	if out, errOut, code := run("apply", "-auto-approve", "-progress=quiet", "-var", "registry=r.example", "-var", "token=s3cr3t"); code != 0 {
		t.Fatalf("apply: exit %d\n%s%s", code, out, errOut)
	}
	// Plan still needs them.
	if _, errOut, code := run("plan"); code != 1 || !strings.Contains(errOut, "No value for required variable") {
		t.Errorf("plan without variables: exit %d, %s", code, errOut)
	}
	for _, tc := range []struct {
		args []string
		code int
		want string // in stdout+stderr
	}{
		{[]string{"pin", "-check"}, 0, ""},
		{[]string{"pin"}, 0, "No pin is missing"},
		{[]string{"graph"}, 0, "profile.p"},
		{[]string{"verify"}, 0, ""},
		{[]string{"output"}, 0, "r.example/x"},
		{[]string{"output", "tok"}, 0, ""},
		{[]string{"show"}, 0, "profile.p"},
		{[]string{"state", "list"}, 0, "profile.p"},
		{[]string{"state", "show", "profile.p"}, 0, "profile.p"},
		{[]string{"state", "pull"}, 0, `"lineage"`},
		{[]string{"state", "history"}, 0, "apply"},
		{[]string{"force-unlock", "-force", "1234"}, 1, "is not locked; nothing to unlock"},
		{[]string{"fetch", "profile.p"}, 1, "published no artifact"},
	} {
		out, errOut, code := run(tc.args...)
		if code != tc.code || !strings.Contains(out+errOut, tc.want) || strings.Contains(errOut, "No value for required variable") {
			t.Errorf("%v: exit %d (want %d), want %q in\n%s%s", tc.args, code, tc.code, tc.want, out, errOut)
		}
		if strings.Contains(out+errOut, "s3cr3t") {
			t.Errorf("%v printed the secret", tc.args)
		}
	}
}

// TestReadOnlyCommandsNeedingVariables: where a read-only command truly needs a value
// derived from a variable without one, the error names the variable and the way out,
// instead of an empty value quietly standing in for it (the default state location, the
// default workspace, no plain-HTTP registry, no ref to pin).
func TestReadOnlyCommandsNeedingVariables(t *testing.T) {
	for _, tc := range []struct {
		name, config string
		args         []string
		code         int
		want         []string
	}{
		{"state registry", "variable \"repo\" { type = string }\nsovos {\n  state { registry = \"${var.repo}/state\" }\n}\n",
			[]string{"state", "list"}, 1,
			[]string{"sovos.state.registry derives from var.repo, which has no value", "-var 'repo=...'", "SOVOS_VAR_repo", "-state-registry or -state-path"}},
		{"state registry overridden", "variable \"repo\" { type = string }\nsovos {\n  state { registry = \"${var.repo}/state\" }\n}\n",
			[]string{"state", "list", "-state-path=st"}, 0, nil},
		{"state path", "variable \"p\" { type = string }\nsovos {\n  state { path = var.p }\n}\n",
			[]string{"output"}, 1, []string{"sovos.state.path derives from var.p, which has no value"}},
		{"workspace", "variable \"ws\" { type = string }\nsovos {\n  state { workspace = var.ws }\n}\n",
			[]string{"show"}, 1, []string{"sovos.state.workspace derives from var.ws", "-workspace or SOVOS_WORKSPACE"}},
		{"workspace given by -workspace", "variable \"ws\" { type = string }\nsovos {\n  state { workspace = var.ws }\n}\n",
			[]string{"state", "list", "-workspace=main"}, 0, nil},
		{"insecure registries of a registry state", "variable \"host\" { type = string }\nsovos {\n  insecure_registries = [var.host]\n  state { registry = \"127.0.0.1:1/state\" }\n}\n",
			[]string{"state", "pull"}, 1, []string{"sovos.insecure_registries derives from var.host, which has no value"}},
		{"insecure registries of a local state", "variable \"host\" { type = string }\nsovos {\n  insecure_registries = [var.host]\n}\n",
			[]string{"state", "list"}, 0, nil},
		{"an image ref to pin", "variable \"tag\" { type = string }\nimage \"up\" {\n  ref = \"ghcr.io/x/up:${var.tag}\"\n}\n",
			[]string{"pin", "-check"}, 1, []string{"Error: No value for required variable", "main.sovos.hcl line 2", "image.up: ref derives from var.tag"}},
		{"a git ref to pin through for_each", "variable \"refs\" { type = map(string) }\nsource \"s\" {\n  for_each = var.refs\n  git      = \"https://example.com/x.git\"\n  ref      = each.value\n}\n",
			[]string{"pin", "-check"}, 1, []string{"Error: No value for required variable", "main.sovos.hcl line 2", "source.s: ref derives from var.refs"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := writeFiles(t, map[string]string{"main.sovos.hcl": tc.config})
			out, errOut, code := runApp(t, append([]string{"-chdir=" + dir, "-no-color"}, tc.args...)...)
			if code != tc.code {
				t.Errorf("exit %d, want %d\n%s%s", code, tc.code, out, errOut)
			}
			for _, w := range tc.want {
				if !strings.Contains(errOut, w) {
					t.Errorf("stderr lacks %q:\n%s", w, errOut)
				}
			}
			if strings.Count(errOut, "Error") > 1 {
				t.Errorf("more than one error:\n%s", errOut)
			}
		})
	}
}

// TestReadOnlyCommandsHaveNoLockFlags: a command that only reads never locks the state,
// so its -help offers where the state is but not -lock or -lock-timeout; the commands
// that write keep them.
func TestReadOnlyCommandsHaveNoLockFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		lock bool
	}{
		{[]string{"fetch"}, false}, {[]string{"output"}, false}, {[]string{"show"}, false}, {[]string{"verify"}, false},
		{[]string{"state", "list"}, false}, {[]string{"state", "show"}, false}, {[]string{"state", "pull"}, false},
		{[]string{"state", "history"}, false}, {[]string{"force-unlock"}, false},
		{[]string{"apply"}, true}, {[]string{"state", "rm"}, true}, {[]string{"state", "push"}, true},
		{[]string{"rollback"}, true}, {[]string{"gc"}, true},
	} {
		out, errOut, code := runApp(t, append(tc.args, "-h")...)
		if code != 0 || !strings.Contains(out, "-state-path") || !strings.Contains(out, "-workspace") {
			t.Errorf("%v -h: exit %d\n%s%s", tc.args, code, out, errOut)
		}
		if got := strings.Contains(out, "-lock"); got != tc.lock {
			t.Errorf("%v -h lists -lock: %t, want %t\n%s", tc.args, got, tc.lock, out)
		}
	}
}
