package main

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/urmanac/sovos/internal/oci"
	"github.com/urmanac/sovos/internal/testenv"
	"github.com/urmanac/sovos/state"
)

// errorsConfig plans and applies without a registry or a BuildKit daemon: its only
// resource is a profile whose installer is pinned by digest, so apply only renders YAML.
const errorsConfig = `variable "talos" {
  type    = string
  default = "v1.13.3"
}

image "upstream" {
  ref    = "127.0.0.1:1/siderolabs/installer:${var.talos}"
  digest = "sha256:5fbc6235d2c41e3a4fcec46cf680cb20ad33d9562ade2f5436ca023d65f13e59"
}

profile "cm4" {
  arch      = "arm64"
  platform  = "metal"
  version   = var.talos
  installer = image.upstream.ref
  output { kind = "installer" }
}

output "inst" {
  value = image.upstream.ref
}
`

// TestUserErrors runs every mistake a user can make without a daemon or a registry
// through the CLI, and checks that each is one clear message: the right exit code, the
// file:line or address involved, what to do next, and never a panic or a stack trace.
func TestUserErrors(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"main.sovos.hcl":          errorsConfig,
		"bad.sovosvars":           "talos = \n",
		"garbage.json":            "garbage\n",
		"tf.json":                 `{"version":4,"terraform_version":"1.5.0","serial":1,"lineage":"3f1c","outputs":{},"resources":[]}`,
		"badhcl/main.sovos.hcl":   "image \"x\" {\n  ref = \"a\n}\n",
		"unkblock/main.sovos.hcl": "widget \"x\" {}\n",
		"unkattr/main.sovos.hcl":  "image \"x\" {\n  ref    = \"a/b:c\"\n  colour = \"red\"\n}\n",
		"unkref/main.sovos.hcl": `image "upstream" {
  ref    = "127.0.0.1:1/x:y"
  digest = "sha256:5fbc6235d2c41e3a4fcec46cf680cb20ad33d9562ade2f5436ca023d65f13e59"
}
output "o" { value = image.upstrem.ref }
`,
		"unkattrref/main.sovos.hcl": `image "upstream" {
  ref    = "127.0.0.1:1/x:y"
  digest = "sha256:5fbc6235d2c41e3a4fcec46cf680cb20ad33d9562ade2f5436ca023d65f13e59"
}
output "o" { value = image.upstream.reff }
`,
		"cycle/main.sovos.hcl": `source "s" { path = "." }
kernel "a" {
  source = source.s
  image  = "127.0.0.1:1/a"
  args   = { X = kernel.b.ref }
}
kernel "b" {
  source = source.s
  image  = "127.0.0.1:1/b"
  args   = { X = kernel.a.ref }
}
`,
		"missvar/main.sovos.hcl": "variable \"reg\" { type = string }\noutput \"o\" { value = var.reg }\n",
		"validation/main.sovos.hcl": `variable "reg" {
  type    = string
  default = "x"
  validation {
    condition     = length(var.reg) > 3
    error_message = "The registry must be longer than 3 characters."
  }
}
output "o" { value = var.reg }
`,
	})
	p := func(name string) string { return filepath.Join(dir, name) }
	run := func(args ...string) (string, string, int) {
		return runApp(t, append([]string{"-chdir=" + dir}, args...)...)
	}
	mustRun := func(args ...string) {
		t.Helper()
		if out, errOut, code := run(args...); code != 0 {
			t.Fatalf("%v: exit %d\n%s%s", args, code, out, errOut)
		}
	}

	// A state with profile.cm4 applied, copied by the cases that need one.
	applied := p("applied")
	mustRun("apply", "-state-path="+applied, "-auto-approve", "-progress=quiet")
	copyState := func(name string) string {
		t.Helper()
		dst := p(name)
		if err := os.CopyFS(dst, os.DirFS(applied)); err != nil {
			t.Fatal(err)
		}
		return dst
	}

	// A saved plan made against an empty state, which an apply then changes.
	mustRun("plan", "-state-path="+p("stale"), "-out="+p("stale.plan"))
	mustRun("apply", "-state-path="+p("stale"), "-auto-approve", "-progress=quiet")
	// A saved plan of a configuration edited afterwards.
	changed := writeFiles(t, map[string]string{"main.sovos.hcl": errorsConfig})
	if _, errOut, code := runApp(t, "-chdir="+changed, "plan", "-state-path="+p("changed"), "-out="+p("changed.plan")); code != 0 {
		t.Fatalf("plan -out: %s", errOut)
	}
	if err := os.WriteFile(filepath.Join(changed, "main.sovos.hcl"), []byte(strings.ReplaceAll(errorsConfig, "v1.13.3", "v1.13.4")), 0o644); err != nil {
		t.Fatal(err)
	}
	mustRun("plan", "-state-path="+p("empty"), "-out="+p("ok.plan"))

	// A lock held by another apply.
	locked := copyState("locked")
	lb, err := state.NewLayout(locked, "default")
	if err != nil {
		t.Fatal(err)
	}
	lock := state.NewLockInfo("apply", Version)
	if err := lb.Lock(context.Background(), lock); err != nil {
		t.Fatal(err)
	}
	// The layout's lock is an flock on a file lb holds open: keep lb (the other apply)
	// alive, or the garbage collector closes the file and the lock looks abandoned.
	defer lb.Unlock(context.Background(), lock.ID)

	// A lock held in a registry (go-containerregistry's in-memory one).
	regHost := testenv.MemRegistry(t)
	regState := regHost + "/x/state"
	rb, err := state.NewRegistry(regState, "default", state.WithClient(oci.New(oci.WithInsecure(regHost))))
	if err != nil {
		t.Fatal(err)
	}
	regLock := state.NewLockInfo("apply", Version)
	if err := rb.Lock(context.Background(), regLock); err != nil {
		t.Fatal(err)
	}
	// That registry speaks plain HTTP: a configuration that lists it.
	if err := os.MkdirAll(p("reglisted"), 0o755); err != nil {
		t.Fatal(err)
	}
	listed := errorsConfig + "\nsovos {\n  insecure_registries = [\"" + regHost + "\"]\n}\n"
	if err := os.WriteFile(p("reglisted/main.sovos.hcl"), []byte(listed), 0o644); err != nil {
		t.Fatal(err)
	}

	// Corrupted states: garbage in the manifest blob, and in index.json.
	corrupt := copyState("corrupt")
	blobs, _ := filepath.Glob(filepath.Join(corrupt, "blobs", "sha256", "*"))
	for _, b := range blobs {
		if err := os.WriteFile(b, []byte("garbage"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	corruptPush := copyState("corrupt-push")
	blobs, _ = filepath.Glob(filepath.Join(corruptPush, "blobs", "sha256", "*"))
	for _, b := range blobs {
		if err := os.WriteFile(b, []byte("garbage"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	good := writeStateFile(t, dir, testStateDoc(t, "default", 1, "kernel.k"))
	badIndex := copyState("badindex")
	if err := os.WriteFile(filepath.Join(badIndex, "index.json"), []byte("{garbage"), 0o644); err != nil {
		t.Fatal(err)
	}

	// A port nothing listens on, for an unreachable registry.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	// A configuration whose kernel image is in that registry: plan asks it for tags.
	if err := os.MkdirAll(p("artreg/k"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p("artreg/k/Dockerfile"), []byte("FROM scratch\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	artreg := "source \"k\" { path = \"./k\" }\nkernel \"k\" {\n  source = source.k\n  image  = \"" + closed + "/x/kernel\"\n}\n"
	if err := os.WriteFile(p("artreg/main.sovos.hcl"), []byte(artreg), 0o644); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name string
		args []string // run with -chdir=dir; a first argument "@sub" runs in dir/sub, "@/abs" in /abs
		code int
		want []string // all must appear in stderr
	}{
		{"bad HCL syntax", []string{"@badhcl", "validate"}, 1,
			[]string{"Error: Invalid multi-line string", "main.sovos.hcl line 2", `in image "x"`}},
		{"bad HCL syntax on plan", []string{"@badhcl", "plan", "-state-path=" + p("s")}, 1,
			[]string{"Error: Invalid multi-line string", "main.sovos.hcl line 2"}},
		{"unknown block", []string{"@unkblock", "validate"}, 1,
			[]string{"Error: Unsupported block type", "main.sovos.hcl line 1", `"widget"`}},
		{"unknown attribute", []string{"@unkattr", "validate"}, 1,
			[]string{"Error: Unsupported argument", "main.sovos.hcl line 3", `"colour"`}},
		{"unknown reference", []string{"@unkref", "plan", "-state-path=" + p("s")}, 1,
			[]string{"Error: Reference to undeclared image resource", "main.sovos.hcl line 5", "Did you mean image.upstream?"}},
		{"unknown attribute of a reference", []string{"@unkattrref", "validate"}, 1,
			[]string{"Error: Unsupported attribute", "main.sovos.hcl line 5", `Did you mean "ref"?`}},
		{"cycle", []string{"@cycle", "validate"}, 1,
			[]string{"Error: Dependency cycle: kernel.a -> kernel.b -> kernel.a", "main.sovos.hcl line 5", "main.sovos.hcl:10", "remove one of the references"}},
		{"missing variable", []string{"@missvar", "plan", "-state-path=" + p("s")}, 1,
			[]string{"Error: No value for required variable", "main.sovos.hcl line 1", "-var 'reg=...'", "SOVOS_VAR_reg"}},
		{"failed validation", []string{"@validation", "plan", "-state-path=" + p("s")}, 1,
			[]string{"Error: Invalid value for variable", "main.sovos.hcl line 5", "The registry must be longer than 3 characters."}},
		{"-var without =", []string{"plan", "-state-path=" + p("s"), "-var", "foo"}, 1,
			[]string{"Error: Invalid -var option", `-var "foo"`, "NAME=VALUE"}},
		{"-var of an undeclared variable", []string{"plan", "-state-path=" + p("s"), "-var", "foo=bar"}, 1,
			[]string{"Error: Value for undeclared variable", `"foo"`, "declare it"}},
		{"-var-file missing", []string{"plan", "-state-path=" + p("s"), "-var-file=" + p("nope.sovosvars")}, 1,
			[]string{"Error: Cannot read variable file", "nope.sovosvars", "check the -var-file path"}},
		{"-var-file with bad syntax", []string{"plan", "-state-path=" + p("s"), "-var-file=" + p("bad.sovosvars")}, 1,
			[]string{"Error: Invalid expression", "bad.sovosvars line 1"}},
		{"-target unknown", []string{"plan", "-state-path=" + p("s"), "-target=kernel.nope"}, 1,
			[]string{"-target=kernel.nope: no resource with that address", "sovos state list"}},
		{"-target invalid", []string{"plan", "-state-path=" + p("s"), "-target=kernel["}, 1,
			[]string{"-target=kernel[: not a resource address: unclosed [;", "e.g. kernel.sovereign"}},
		{"-replace unknown", []string{"plan", "-state-path=" + p("s"), "-replace=profile.cm5"}, 1,
			[]string{"-replace=profile.cm5: no resource with that address", "sovos state list"}},
		{"unreachable state registry", []string{"plan", "-state-registry=" + closed + "/x/state"}, 1,
			[]string{"reading the state from registry " + closed + "/x/state:default: cannot reach the registry " + closed, "connection refused", "is it running"}},
		{"unreachable state registry, state list", []string{"state", "list", "-state-registry=" + closed + "/x/state"}, 1,
			[]string{"reading the state from registry " + closed + "/x/state:default: cannot reach the registry", "is it running"}},
		{"unreachable image registry", []string{"@artreg", "plan", "-state-path=" + p("s")}, 1,
			[]string{"cannot reach the registry " + closed, "is it running", "-refresh=false"}},
		{"unknown flag", []string{"plan", "-bogus"}, 1,
			[]string{"flag provided but not defined: -bogus; run `sovos plan -h` for the usage"}},
		{"bad flag value", []string{"state", "list", "-lock-timeout=abc"}, 1,
			[]string{`invalid value "abc" for flag -lock-timeout`, "run `sovos state list -h`"}},
		{"stale plan", []string{"apply", "-state-path=" + p("stale"), p("stale.plan")}, 1,
			[]string{"stale plan", "run `sovos plan` again"}},
		{"configuration changed after plan -out", []string{"@" + changed, "apply", "-state-path=" + p("changed"), p("changed.plan")}, 1,
			[]string{"changed since the plan", "changed.plan", "run `sovos plan` again"}},
		{"not a plan", []string{"apply", "-state-path=" + p("s"), p("garbage.json")}, 1,
			[]string{"garbage.json is not a sovos plan file", "sovos plan -out="}},
		{"apply FILE -promote", []string{"apply", "-state-path=" + p("empty"), p("ok.plan"), "-promote"}, 1,
			[]string{"-promote is part of a saved plan", "sovos plan -promote"}},
		{"apply on a non-terminal without -auto-approve", []string{"apply", "-state-path=" + p("s")}, 1,
			[]string{"apply needs -auto-approve when standard input is not a terminal", "sovos plan -out=FILE"}},
		{"lock held", []string{"apply", "-state-path=" + locked, "-auto-approve", "-var", "talos=v9"}, 1,
			[]string{"state is locked by", lock.ID, "sovos force-unlock " + lock.ID}},
		{"lock held in a registry", []string{"@reglisted", "state", "rm", "-state-registry=" + regState, "profile.cm4"}, 1,
			[]string{"locking the state in registry " + regState + ":default: state is locked by", "sovos force-unlock " + regLock.ID}},
		{"plain-HTTP state registry not in insecure_registries", []string{"state", "list", "-state-registry=" + regState}, 1,
			[]string{"reading the state from registry " + regState + ":default: the registry " + regHost + " speaks plain HTTP",
				"add it to the sovos block: insecure_registries = [\"" + regHost + "\"]"}},
		{"force-unlock with a wrong ID", []string{"force-unlock", "-state-path=" + locked, "-force", "1234"}, 1,
			[]string{"is locked with ID " + lock.ID, "not 1234", "nothing was unlocked"}},
		{"force-unlock of an unlocked state", []string{"force-unlock", "-state-path=" + applied, "-force", "1234"}, 1,
			[]string{"is not locked; nothing to unlock"}},
		{"corrupted state blob", []string{"plan", "-state-path=" + corrupt}, 1,
			[]string{"reading the state from layout " + corrupt, "is corrupted", "state push -force"}},
		{"corrupted state index", []string{"state", "list", "-state-path=" + badIndex}, 1,
			[]string{"reading the state from layout " + badIndex, "index.json is not an OCI image index", "check that the state location"}},
		{"state push of garbage", []string{"state", "push", "-state-path=" + p("s"), p("garbage.json")}, 1,
			[]string{"garbage.json: the state document is not valid JSON", "push a state written by `sovos state pull`"}},
		{"state push of a Terraform state", []string{"state", "push", "-state-path=" + p("s"), p("tf.json")}, 1,
			[]string{"tf.json: not a sovos state: this is a Terraform state; push a state written by `sovos state pull`"}},
		{"state rm unknown", []string{"state", "rm", "-state-path=" + applied, "profile.nope"}, 1,
			[]string{"no resource profile.nope in the state", "nothing was removed", "sovos state list"}},
		{"output unknown", []string{"output", "-state-path=" + applied, "nope"}, 1,
			[]string{`no output "nope" in the state`, "`sovos output` lists them"}},
		{"show of a missing file", []string{"show", p("nope.plan")}, 1,
			[]string{"the plan file " + p("nope.plan") + " does not exist", "sovos plan -out="}},
		{"verify unknown", []string{"verify", "-state-path=" + applied, "kernel.nope"}, 1,
			[]string{"no resource kernel.nope in the state", "sovos state list"}},
		{"fmt of a syntax error", []string{"@badhcl", "fmt"}, 1,
			[]string{"Error: Invalid multi-line string", "main.sovos.hcl line 2"}},
		{"-progress=bogus", []string{"apply", "-state-path=" + p("s"), "-auto-approve", "-progress=bogus"}, 1,
			[]string{"-progress=bogus: use auto, tty, plain, rawjson or quiet"}},
		{"-parallelism=0", []string{"apply", "-state-path=" + p("s"), "-auto-approve", "-parallelism=0"}, 1,
			[]string{"-parallelism=0: give at least 1"}},
		{"plan -format=bogus", []string{"plan", "-state-path=" + p("s"), "-format=bogus"}, 1,
			[]string{"-format=bogus: use human, json or markdown"}},
		{"show -format=bogus", []string{"show", "-format=bogus", p("ok.plan")}, 1,
			[]string{"-format=bogus: use human, json or markdown"}},
		{"graph -format=bogus", []string{"graph", "-format=bogus"}, 1,
			[]string{"-format=bogus: use dot or mermaid"}},
		{"verify -format=bogus", []string{"verify", "-state-path=" + applied, "-format=bogus"}, 1,
			[]string{"-format=bogus: use human or json"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := tc.args
			chdir := dir
			if strings.HasPrefix(args[0], "@") {
				chdir, args = args[0][1:], args[1:]
				if !filepath.IsAbs(chdir) {
					chdir = p(chdir)
				}
			}
			out, errOut, code := runApp(t, append([]string{"-chdir=" + chdir, "-no-color"}, args...)...)
			t.Logf("stderr:\n%s", errOut)
			if code != tc.code {
				t.Errorf("exit %d, want %d", code, tc.code)
			}
			for _, w := range tc.want {
				if !strings.Contains(errOut, w) {
					t.Errorf("stderr lacks %q", w)
				}
			}
			for _, bad := range []string{"goroutine ", "panic:", "&{", "Error: Error:", "Incorrect Usage"} {
				if strings.Contains(out+errOut, bad) {
					t.Errorf("output contains %q:\n%s%s", bad, out, errOut)
				}
			}
		})
	}

	// state push -force is the way out of a damaged state that the message names.
	t.Run("state push -force over a corrupted state", func(t *testing.T) {
		_, errOut, code := run("state", "push", "-state-path="+corruptPush, "-force", good)
		want := "Warning: the state in layout " + corruptPush + " (workspace default) is damaged and cannot be read; replacing it with " + good
		if code != 0 || !strings.Contains(errOut, want) {
			t.Errorf("exit %d, stderr %q", code, errOut)
		}
		if out, errOut, code := run("state", "list", "-state-path="+corruptPush); code != 0 || out != "kernel.k\n" {
			t.Errorf("state list afterwards: exit %d, %q, %q", code, out, errOut)
		}
	})
}

// TestChdirMissing checks -chdir to a directory that does not exist; main applies it
// before the app runs, so it is tested on applyChdir.
func TestChdirMissing(t *testing.T) {
	_, err := applyChdir([]string{"sovos", "-chdir=/nonexistent/dir", "plan"})
	if err == nil || err.Error() != "-chdir=/nonexistent/dir: no such directory" {
		t.Errorf("err = %v", err)
	}
}
