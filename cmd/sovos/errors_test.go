package main

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
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
		"old.plan":                `{"magic": "sovos-plan", "version": 2}`,
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
		"empty/.keep":            "",
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
	for name, src := range hardeningFixtures() {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	p := func(name string) string { return filepath.Join(dir, name) }
	// What is named like a configuration file but is not one: a FIFO (reading it would
	// block), /dev/zero (it never ends), a directory.
	for _, d := range []string{"fifo", "fifook"} {
		if err := os.MkdirAll(p(d), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := syscall.Mkfifo(p(d+"/p.sovos.hcl"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("/dev/zero", p("fifook/z.sovos.hcl")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(p("fifook/d.sovos.json"), 0o755); err != nil {
		t.Fatal(err)
	}

	cli := testenv.SovosCLI(t).With("BUILDKIT_HOST=unix:///run/buildkit/buildkitd.sock")
	cli.Args = []string{"-no-color"}
	run := func(args ...string) (string, string, int) {
		return cli.Run(append([]string{"-chdir=" + dir}, args...)...)
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
	if _, errOut, code := cli.Run("-chdir="+changed, "plan", "-state-path="+p("changed"), "-out="+p("changed.plan")); code != 0 {
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
	lh, err := state.Hold(context.Background(), lb, lock)
	if err != nil {
		t.Fatal(err)
	}
	// The layout's lock is an flock on a file the Held keeps open: keep it (the other
	// apply) alive, or the garbage collector closes the file and the lock looks abandoned.
	defer lh.Release(context.Background())

	// A lock held in a registry (go-containerregistry's in-memory one).
	regHost := testenv.MemRegistry(t)
	regState := regHost + "/x/state"
	rb, err := state.NewRegistry(regState, "default", state.WithClient(oci.New(oci.WithInsecure(regHost))))
	if err != nil {
		t.Fatal(err)
	}
	regLock := state.NewLockInfo("apply", Version)
	rh, err := state.Hold(context.Background(), rb, regLock)
	if err != nil {
		t.Fatal(err)
	}
	defer rh.Release(context.Background())
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

	// planIn plans the configuration in dir/sub, with a state and a plan file of its own,
	// so that the secret cases can check that nothing of theirs is written anywhere.
	planIn := func(sub string, extra ...string) []string {
		return append([]string{"@" + sub, "plan", "-state-path=" + p(sub+"/state"), "-out=" + p(sub+"/plan.out")}, extra...)
	}
	deepVar := "SOVOS_VAR_l=" + strings.Repeat("[", 60000) + strings.Repeat("]", 60000)

	for _, tc := range []struct {
		name string
		args []string // run with -chdir=dir; a first argument "@sub" runs in dir/sub, "@/abs" in /abs
		code int
		want []string // all must appear in stderr
		not  []string // none may appear in stdout or stderr
		env  []string // added to the environment
		// secret: the planted secret (SOVOS_VAR_pw) must appear in no output and in no
		// file of the test's directory: configuration, caches, plan files, states.
		secret bool
	}{
		{name: "bad HCL syntax", args: []string{"@badhcl", "validate"}, code: 1,
			want: []string{"Error: Invalid multi-line string", "main.sovos.hcl line 2", `in image "x"`}},
		{name: "bad HCL syntax on plan", args: []string{"@badhcl", "plan", "-state-path=" + p("s")}, code: 1,
			want: []string{"Error: Invalid multi-line string", "main.sovos.hcl line 2"}},
		{name: "unknown block", args: []string{"@unkblock", "validate"}, code: 1,
			want: []string{"Error: Unsupported block type", "main.sovos.hcl line 1", `"widget"`}},
		{name: "unknown attribute", args: []string{"@unkattr", "validate"}, code: 1,
			want: []string{"Error: Unsupported argument", "main.sovos.hcl line 3", `"colour"`}},
		{name: "unknown reference", args: []string{"@unkref", "plan", "-state-path=" + p("s")}, code: 1,
			want: []string{"Error: Reference to undeclared image resource", "main.sovos.hcl line 5", "Did you mean image.upstream?"}},
		{name: "unknown attribute of a reference", args: []string{"@unkattrref", "validate"}, code: 1,
			want: []string{"Error: Unsupported attribute", "main.sovos.hcl line 5", `Did you mean "ref"?`}},
		{name: "cycle", args: []string{"@cycle", "validate"}, code: 1,
			want: []string{"Error: Dependency cycle: kernel.a -> kernel.b -> kernel.a", "main.sovos.hcl line 5", "main.sovos.hcl:10", "remove one of the references"}},
		{name: "missing variable", args: []string{"@missvar", "plan", "-state-path=" + p("s")}, code: 1,
			want: []string{"Error: No value for required variable", "main.sovos.hcl line 1", "-var 'reg=...'", "SOVOS_VAR_reg"}},
		{name: "failed validation", args: []string{"@validation", "plan", "-state-path=" + p("s")}, code: 1,
			want: []string{"Error: Invalid value for variable", "main.sovos.hcl line 5", "The registry must be longer than 3 characters."}},
		{name: "-var without =", args: []string{"plan", "-state-path=" + p("s"), "-var", "foo"}, code: 1,
			want: []string{"Error: Invalid -var option", `-var "foo"`, "NAME=VALUE"}},
		{name: "-var of an undeclared variable", args: []string{"plan", "-state-path=" + p("s"), "-var", "foo=bar"}, code: 1,
			want: []string{"Error: Value for undeclared variable", `"foo"`, "declare it"}},
		{name: "-var-file missing", args: []string{"plan", "-state-path=" + p("s"), "-var-file=" + p("nope.sovosvars")}, code: 1,
			want: []string{"Error: Cannot read variable file", "nope.sovosvars", "check the -var-file path"}},
		{name: "-var-file with bad syntax", args: []string{"plan", "-state-path=" + p("s"), "-var-file=" + p("bad.sovosvars")}, code: 1,
			want: []string{"Error: Invalid expression", "bad.sovosvars line 1"}},
		{name: "-target unknown", args: []string{"plan", "-state-path=" + p("s"), "-target=kernel.nope"}, code: 1,
			want: []string{"-target=kernel.nope: no resource with that address", "sovos state list"}},
		{name: "-target invalid", args: []string{"plan", "-state-path=" + p("s"), "-target=kernel["}, code: 1,
			want: []string{"-target=kernel[: not a resource address: unclosed [;", "e.g. kernel.sovereign"}},
		{name: "-replace unknown", args: []string{"plan", "-state-path=" + p("s"), "-replace=profile.cm5"}, code: 1,
			want: []string{"-replace=profile.cm5: no resource with that address", "sovos state list"}},
		{name: "unreachable state registry", args: []string{"plan", "-state-registry=" + closed + "/x/state"}, code: 1,
			want: []string{"reading the state from registry " + closed + "/x/state:default: cannot reach the registry " + closed, "connection refused", "is it running"}},
		{name: "unreachable state registry, state list", args: []string{"state", "list", "-state-registry=" + closed + "/x/state"}, code: 1,
			want: []string{"reading the state from registry " + closed + "/x/state:default: cannot reach the registry", "is it running"}},
		{name: "unreachable image registry", args: []string{"@artreg", "plan", "-state-path=" + p("s")}, code: 1,
			want: []string{"cannot reach the registry " + closed, "is it running", "-refresh=false"}},
		{name: "unknown flag", args: []string{"plan", "-bogus"}, code: 1,
			want: []string{"flag provided but not defined: -bogus; run `sovos plan -h` for the usage"}},
		{name: "bad flag value", args: []string{"state", "rm", "-lock-timeout=abc", "profile.cm4"}, code: 1,
			want: []string{`invalid value "abc" for flag -lock-timeout`, "run `sovos state rm -h`"}},
		{name: "-lock on a command that only reads", args: []string{"output", "-lock=false"}, code: 1,
			want: []string{"flag provided but not defined: -lock; run `sovos output -h` for the usage"}},
		{name: "stale plan", args: []string{"apply", "-state-path=" + p("stale"), p("stale.plan")}, code: 1,
			want: []string{"stale plan", "run `sovos plan` again"}},
		{name: "configuration changed after plan -out", args: []string{"@" + changed, "apply", "-state-path=" + p("changed"), p("changed.plan")}, code: 1,
			want: []string{"changed since the plan", "changed.plan", "run `sovos plan` again"}},
		{name: "not a plan", args: []string{"apply", "-state-path=" + p("s"), p("garbage.json")}, code: 1,
			want: []string{"garbage.json is not a sovos plan file", "sovos plan -out="}},
		{name: "a plan file from an older sovos", args: []string{"apply", "-state-path=" + p("s"), p("old.plan")}, code: 1,
			want: []string{p("old.plan") + " was made by an older sovos; plan again"}},
		{name: "apply FILE -promote", args: []string{"apply", "-state-path=" + p("empty"), p("ok.plan"), "-promote"}, code: 1,
			want: []string{"-promote is part of a saved plan", "sovos plan -promote"}},
		{name: "apply on a non-terminal without -auto-approve", args: []string{"apply", "-state-path=" + p("s")}, code: 1,
			want: []string{"apply needs -auto-approve when standard input is not a terminal", "sovos plan -out=FILE"}},
		{name: "lock held", args: []string{"apply", "-state-path=" + locked, "-auto-approve", "-var", "talos=v9"}, code: 1,
			want: []string{"state is locked by " + lock.Who, "lock ID " + lock.ID, "that sovos is still running (it holds the file lock on ",
				"Wait for it to finish", "stop that process: on Ctrl-C or SIGTERM it records what it did and releases the lock",
				"Only if it hangs and cannot be stopped, `sovos force-unlock " + lock.ID + "` removes the lock"},
			not: []string{"if its sovos is dead"}},
		{name: "lock held in a registry", args: []string{"@reglisted", "state", "rm", "-state-registry=" + regState, "profile.cm4"}, code: 1,
			want: []string{"locking the state in registry " + regState + ":default: state is locked by", "sovos force-unlock " + regLock.ID}},
		{name: "plain-HTTP state registry not in insecure_registries", args: []string{"state", "list", "-state-registry=" + regState}, code: 1,
			want: []string{"reading the state from registry " + regState + ":default: the registry " + regHost + " speaks plain HTTP",
				"add it to the sovos block: insecure_registries = [\"" + regHost + "\"]"}},
		{name: "force-unlock with a wrong ID", args: []string{"force-unlock", "-state-path=" + locked, "-force", "1234"}, code: 1,
			want: []string{"is locked with ID " + lock.ID, "not 1234", "nothing was unlocked"}},
		{name: "force-unlock of an unlocked state", args: []string{"force-unlock", "-state-path=" + applied, "-force", "1234"}, code: 1,
			want: []string{"is not locked; nothing to unlock"}},
		{name: "corrupted state blob", args: []string{"plan", "-state-path=" + corrupt}, code: 1,
			want: []string{"reading the state from layout " + corrupt, "is corrupted", "state push -force"}},
		{name: "corrupted state index", args: []string{"state", "list", "-state-path=" + badIndex}, code: 1,
			want: []string{"reading the state from layout " + badIndex, "index.json is not an OCI image index", "check that the state location"}},
		{name: "state push of garbage", args: []string{"state", "push", "-state-path=" + p("s"), p("garbage.json")}, code: 1,
			want: []string{"garbage.json: the state document is not valid JSON", "push a state written by `sovos state pull`"}},
		{name: "state push of a Terraform state", args: []string{"state", "push", "-state-path=" + p("s"), p("tf.json")}, code: 1,
			want: []string{"tf.json: not a sovos state: this is a Terraform state; push a state written by `sovos state pull`"}},
		{name: "state rm unknown", args: []string{"state", "rm", "-state-path=" + applied, "profile.nope"}, code: 1,
			want: []string{"no resource profile.nope in the state", "nothing was removed", "sovos state list"}},
		{name: "output unknown", args: []string{"output", "-state-path=" + applied, "nope"}, code: 1,
			want: []string{`no output "nope" in the state`, "`sovos output` lists them"}},
		{name: "output -profiles with a name", args: []string{"output", "-profiles", "-state-path=" + applied, "inst"}, code: 1,
			want: []string{`output -profiles lists every profile's artifact and takes no output name (got "inst")`}},
		{name: "show of a missing file", args: []string{"show", p("nope.plan")}, code: 1,
			want: []string{"the plan file " + p("nope.plan") + " does not exist", "sovos plan -out="}},
		{name: "verify unknown", args: []string{"verify", "-state-path=" + applied, "kernel.nope"}, code: 1,
			want: []string{"no resource kernel.nope in the state", "sovos state list"}},
		{name: "fmt of a syntax error", args: []string{"@badhcl", "fmt"}, code: 1,
			want: []string{"Error: Invalid multi-line string", "main.sovos.hcl line 2"}},
		{name: "-progress=bogus", args: []string{"apply", "-state-path=" + p("s"), "-auto-approve", "-progress=bogus"}, code: 1,
			want: []string{"-progress=bogus: use auto, tty, plain, rawjson or quiet"}},
		{name: "-parallelism=0", args: []string{"apply", "-state-path=" + p("s"), "-auto-approve", "-parallelism=0"}, code: 1,
			want: []string{"-parallelism=0: give at least 1"}},
		{name: "plan -format=bogus", args: []string{"plan", "-state-path=" + p("s"), "-format=bogus"}, code: 1,
			want: []string{"-format=bogus: use human, json or markdown"}},
		{name: "show -format=bogus", args: []string{"show", "-format=bogus", p("ok.plan")}, code: 1,
			want: []string{"-format=bogus: use human, json or markdown"}},
		{name: "graph -format=bogus", args: []string{"graph", "-format=bogus"}, code: 1,
			want: []string{"-format=bogus: use dot or mermaid"}},
		{name: "verify -format=bogus", args: []string{"verify", "-state-path=" + applied, "-format=bogus"}, code: 1,
			want: []string{"-format=bogus: use human or json"}},
		// Inputs that crash, hang or flood (issue 12).
		{name: "100,000 nested brackets", args: []string{"@deep", "validate"}, code: 1,
			want: []string{"Error: Expression nested too deeply", "main.sovos.hcl line 2", "more than 1000 levels"}},
		{name: "100,000 nested templates", args: []string{"@deeptmpl", "validate"}, code: 1,
			want: []string{"Error: Expression nested too deeply", "main.sovos.hcl line 2"}},
		{name: "100,000 nested JSON arrays", args: []string{"@deepjson", "validate"}, code: 1,
			want: []string{"Error: Expression nested too deeply", "main.sovos.json line 1"}},
		{name: "60,000 nested brackets in a variable", args: []string{"@deepvar", "validate"}, env: []string{deepVar}, code: 1,
			want: []string{"Error: Expression nested too deeply", "environment variable SOVOS_VAR_l"}},
		{name: "count = 1e9", args: []string{"@bigcount", "validate"}, code: 1,
			want: []string{"Error: Invalid count argument", "main.sovos.hcl line 2", "count is 1000000000; a block has at most 100000 instances"}},
		{name: "a FIFO is the only configuration file", args: []string{"@fifo", "validate"}, code: 1,
			want: []string{"Warning: Skipped a file that is not a regular file", "p.sovos.hcl is named like a configuration file but is a named pipe (FIFO)",
				"Error: No configuration files"}},
		{name: "a FIFO, /dev/zero and a directory named like configuration", args: []string{"@fifook", "validate"}, code: 0,
			want: []string{"p.sovos.hcl is named like a configuration file but is a named pipe (FIFO)",
				"z.sovos.hcl is named like a configuration file but is a device", "d.sovos.json is named like a configuration file but is a directory"}},
		{name: "a 5 MB line with a syntax error", args: []string{"@longline", "validate"}, code: 1,
			want: []string{"Error: Invalid multi-line string", "main.sovos.hcl line 1", "   1: …aaaa"}},
		{name: "a 5 MB line with a syntax error, as JSON", args: []string{"@longline", "validate", "-json"}, code: 1},
		{name: "not UTF-8", args: []string{"@notutf8", "validate"}, code: 1,
			want: []string{"Error: Invalid character encoding", "main.sovos.hcl:2:9", "byte 0xff"}, not: []string{"\xff"}},
		{name: "editor files are not configuration", args: []string{"@editor", "validate"}, code: 0,
			not: []string{"garbage", "Error"}},
		{name: "file() of /dev/zero", args: []string{"@filezero", "validate"}, code: 1,
			want: []string{"Error: Error in function call", "main.sovos.hcl line 2", "reading /dev/zero: it is a device, not a regular file"}},

		// Secrets: each names the attribute and the variable, never the value.
		{name: "a non-sensitive output of a secret", args: planIn("secout"), code: 1, secret: true,
			want: []string{"Error: Output refers to sensitive values", "main.sovos.hcl line 6", "output.o derives from the sensitive variable var.pw", "sensitive = true"}},
		{name: "an error_message quoting a secret", args: planIn("secvalid"), code: 1, secret: true,
			want: []string{"Error: Invalid value for variable", "main.sovos.hcl line 5",
				"var.pw failed the validation rule at main.sovos.hcl:5,", "whose error_message is not shown because it refers to the sensitive variable var.pw; give var.pw a value that satisfies the rule."},
			not: []string{") ("}},
		{name: "a function error quoting a secret", args: planIn("secfunc"), code: 1, secret: true,
			want: []string{"Error: Invalid function argument", "main.sovos.hcl line 6", "The call to tonumber() failed on (sensitive value)", "var.pw"}},
		{name: "a secret in tags", args: planIn("sectags"), code: 1, secret: true,
			want: []string{"Error: Sensitive value in tags", "main.sovos.hcl line 9", "kernel.k: tags derives from the sensitive variable var.pw", "build secret"}},
		{name: "a secret in image", args: planIn("secimage"), code: 1, secret: true,
			want: []string{"Error: Sensitive value in image", "main.sovos.hcl line 8", "kernel.k: image derives from the sensitive variable var.pw", "build secret"}},
		{name: "a secret in platform", args: planIn("secplatform"), code: 1, secret: true,
			want: []string{"Error: Sensitive value in platform", "main.sovos.hcl line 9", "var.pw", "build secret"}},
		{name: "a secret in a source path", args: planIn("secpath"), code: 1, secret: true,
			want: []string{"Error: Sensitive value in path", "main.sovos.hcl line 6", "source.s: path derives from the sensitive variable var.pw"}},
		{name: "a secret in dest", args: planIn("secdest"), code: 1, secret: true,
			want: []string{"Error: Sensitive value in dest", "main.sovos.hcl line 13", "profile.p: dest derives from the sensitive variable var.pw"}},
		{name: "a secret in args", args: planIn("secargs"), code: 1, secret: true,
			want: []string{"Error: Sensitive value in args", "main.sovos.hcl line 9", "args is hashed, and the hash is published", "build secret"}},
		{name: "a secret in kernel_args", args: planIn("seckargs"), code: 1, secret: true,
			want: []string{"Error: Sensitive value in kernel_args", "main.sovos.hcl line 13", "profile.p: kernel_args derives from the sensitive variable var.pw"}},
		{name: "a secret in triggers", args: planIn("sectriggers"), code: 1, secret: true,
			want: []string{"Error: Sensitive value in triggers", "main.sovos.hcl line 9", "var.pw"}},
		{name: "a secret in a git URL", args: planIn("secgit"), code: 1, secret: true,
			want: []string{"Error: Sensitive value in git", "main.sovos.hcl line 6", "source.g: git derives from the sensitive variable var.pw", "credential helper"}},
		{name: "a secret in for_each keys", args: planIn("secforeach"), code: 1, secret: true,
			want: []string{"Error: Invalid for_each argument", "main.sovos.hcl line 6", "var.pw", "instance keys are printed"}},
		{name: "a sensitive number given a string", args: planIn("secnumber"), env: []string{"SOVOS_VAR_pin=" + plantedSecret}, code: 1, secret: true,
			want: []string{"Error: Invalid value for variable", "var.pin from environment variable SOVOS_VAR_pin is not a number"},
			not:  []string{"No value for required variable"}},
		{name: "a sensitive number given a string in a variable file", args: planIn("secvarfile", "-var-file="+p("secvarfile/pin.planted.sovosvars")), code: 1, secret: true,
			want: []string{"Error: Invalid value for variable", "is not a number", "pin.planted.sovosvars:1)"},
			not:  []string{"No value for required variable"}},

		// What validate lets through today and fails after an hour's build.
		{name: "an image with uppercase", args: []string{"@imgupper", "validate"}, code: 1,
			want: []string{"Error: Invalid image", "main.sovos.hcl line 4", `"Registry.example.com/UPPER/Case" is not a valid repository name`}},
		{name: "an image with a tag", args: []string{"@imgtag", "validate"}, code: 1,
			want: []string{"Error: Invalid image", "main.sovos.hcl line 4", "has a tag; give the repository alone"}},
		{name: "an image with a digest", args: []string{"@imgdigest", "validate"}, code: 1,
			want: []string{"Error: Invalid image", "main.sovos.hcl line 4", "names a digest"}},
		{name: "an empty image", args: []string{"@imgempty", "validate"}, code: 1,
			want: []string{"Error: Invalid image", "main.sovos.hcl line 4", "the repository is empty"}},
		{name: "a platform that is not one", args: []string{"@platbanana", "validate"}, code: 1,
			want: []string{"Error: Invalid platform", "main.sovos.hcl line 5", `kernel.k: "banana" is not a platform: write OS/ARCH[/VARIANT]`}},
		{name: "a platform with too many parts", args: []string{"@platextra", "validate"}, code: 1,
			want: []string{"Error: Invalid platform", "main.sovos.hcl line 5", `"linux/arm64/v8/extra" is not a platform`}},
		{name: "a builder platform that is not one", args: []string{"@builderplat", "validate"}, code: 1,
			want: []string{"Error: Invalid platform", "main.sovos.hcl line 3", `builder.b platforms: "linux/banana" is not a platform: "banana" is not an architecture`}},
		{name: "a tag outside the OCI grammar", args: []string{"@badtag", "validate"}, code: 1,
			want: []string{"Error: Invalid tag", "main.sovos.hcl line 5", `"-latest" is not a valid tag`}},
		{name: "a context that is a number", args: []string{"@ctxnumber", "validate"}, code: 1,
			want: []string{"Error: Incorrect attribute value type", "main.sovos.hcl line 5", `contexts["base"] must be source.NAME or an image reference`}},
		{name: "a context that is not an image reference", args: []string{"@ctxref", "validate"}, code: 1,
			want: []string{"Error: Invalid context", "main.sovos.hcl line 5", `"Not An Image" contains a space, which no image reference has`}},
		{name: "a missing source path", args: []string{"@nopath", "validate"}, code: 1,
			want: []string{"Error: Missing source directory", "main.sovos.hcl line 2", `source.s: path "./gone"`, "does not exist"}},
		{name: "an image ref with uppercase", args: []string{"@badref", "validate"}, code: 1,
			want: []string{"Error: Invalid image reference", "main.sovos.hcl line 2", `"ghcr.io/Siderolabs/installer:v1" is not a valid image reference`}},
		{name: "a bad builder address", args: []string{"@badaddr", "validate"}, code: 1,
			want: []string{"Error: Invalid builder address", "main.sovos.hcl line 2", `builder.b: BuildKit daemon address "tcp//arm-runner:1234"`}},
		{name: "a missing TLS file", args: []string{"@notls", "validate"}, code: 1,
			want: []string{"Error: Missing TLS file", "main.sovos.hcl line 4", "builder.b: tls ca_cert", "certs/ca.pem does not exist"}},
		{name: "a tcp builder without TLS", args: []string{"@tcpwarn", "validate"}, code: 0,
			want: []string{"Warning: Builder without TLS", "main.sovos.hcl line 2", "build secrets and the registry credentials BuildKit pushes with travel in clear"}},
		{name: "Talos's vhd spelt vpc", args: []string{"@vpc", "validate"}, code: 1,
			want: []string{"Error: Invalid disk_format", "main.sovos.hcl line 12", "Talos calls the VPC format vhd"}},
		{name: "a disk_size of 0", args: []string{"@size0", "validate"}, code: 1,
			want: []string{"Error: Invalid disk_size", "main.sovos.hcl line 11", "a positive whole number"}},
		{name: "a disk_size of 1.5", args: []string{"@sizefrac", "validate"}, code: 1,
			want: []string{"Error: Invalid disk_size", "main.sovos.hcl line 11", "not 1.5"}},
		{name: "a plain uki before Talos 1.10", args: []string{"@ukiplain", "validate"}, code: 1,
			want: []string{"Error: uki without secureboot", "main.sovos.hcl line 10", "set secureboot = true"}},
		{name: "kernel_args on a kernel output", args: []string{"@kernelargs", "validate"}, code: 1,
			want: []string{"Error: kernel_args with a kernel output", "main.sovos.hcl line 9"}},
		{name: "secureboot on an initramfs output", args: []string{"@initrdsb", "validate"}, code: 1,
			want: []string{"Error: secureboot with an initramfs output", "main.sovos.hcl line 9"}},
		{name: "a bootloader Talos has not", args: []string{"@lilo", "validate"}, code: 1,
			want: []string{"Error: Invalid bootloader", "main.sovos.hcl line 12", `"lilo"`, "dual-boot, sd-boot or grub"}},
		{name: "profile file names that collide", args: []string{"@collide", "validate"}, code: 1,
			want: []string{"Error: Profile file names collide", "main.sovos.hcl line 5", `profile.p["a/b"] and profile.p["a_b"] would both be written to profile.p__a_b__.yaml`}},
		{name: "-replace of a source", args: []string{"@replace", "plan", "-refresh=false", "-state-path=" + p("replace/state"), "-replace=source.s"}, code: 1,
			want: []string{"-replace=source.s: a source is read, not built, so there is nothing to replace", "-replace=kernel.k"}},
		{name: "a secret file that does not exist", args: []string{"@secnofile", "validate"}, code: 1,
			want: []string{"Error: Missing secret file", "main.sovos.hcl line 6", `kernel.k: secrets["a"] file ` + p("secnofile/nope.txt") + " does not exist",
				"relative to the configuration directory"}},
		{name: "a secret file that does not exist, on plan", args: []string{"@secnofile", "plan", "-refresh=false", "-state-path=" + p("secnofile/state")}, code: 1,
			want: []string{"Error: Missing secret file", "main.sovos.hcl line 6"}},
		{name: "a read-only command needs no secret file", args: []string{"@secnofile", "state", "list"}, code: 0,
			not: []string{"Missing secret file"}},
		{name: "a secureboot key file that does not exist", args: []string{"@sbnofile", "validate"}, code: 1,
			want: []string{"Error: Missing secret file", "main.sovos.hcl line 11", `profile.p: secureboot_keys["uki-signing-key.pem"] file ` + p("sbnofile/nokey.pem") + " does not exist"}},
		{name: "a secret from an unset environment variable, on plan", args: []string{"@secenv", "plan", "-refresh=false", "-state-path=" + p("secenv/state")}, code: 0,
			want: []string{"Warning: kernel.k will be built, and its secrets[\"tok\"] comes from the environment variable SOVOS_TEST_UNSET_TOKEN, which is not set: apply will not start until it is set"}},
		{name: "a secret from an unset environment variable, on apply", args: []string{"@secenv", "apply", "-auto-approve", "-refresh=false", "-state-path=" + p("secenv/state")}, code: 1,
			want: []string{"kernel.k will be built, and its secrets[\"tok\"] comes from the environment variable SOVOS_TEST_UNSET_TOKEN, which is not set; set it and run apply again (nothing was built)"}},
		{name: "pin of an instance of a block without for_each", args: []string{"@pinaddr", "pin", `source.a["x"]`}, code: 1,
			want: []string{"Error: No such instance", "main.sovos.hcl line 1", `source.a["x"] names an instance, but source.a has no for_each or count, so it has none; write source.a.`}},
		{name: "pin -check of an index of a block without count", args: []string{"@pinaddr", "pin", "-check", "source.a[0]"}, code: 1,
			want: []string{"Error: No such instance", "source.a[0] names an instance, but source.a has no for_each or count"}},
		{name: "pin of an instance key that does not exist", args: []string{"@pinaddr", "pin", `image.m["z"]`}, code: 1,
			want: []string{"Error: No such instance", "main.sovos.hcl line 7", `image.m has no instance ["z"]; its instances are image.m["x"], image.m["y"] (or write image.m for all of them).`}},
		{name: "a directory without configuration", args: []string{"@empty", "pin"}, code: 1,
			want: []string{"Error: No configuration files", "The directory " + p("empty") + " contains no *.sovos.hcl or *.sovos.json file"},
			not:  []string{"The directory . "}},
		{name: "a heredoc git ref with its newline", args: []string{"@heredocref", "validate"}, code: 1,
			want: []string{"Error: Invalid ref", "main.sovos.hcl line 3", `ref: "v2\n" contains a newline, which no git ref has (a heredoc ends with a newline: write a quoted string, or trim it with chomp())`}},
		{name: "an image ref with a trailing space", args: []string{"@spaceref", "validate"}, code: 1,
			want: []string{"Error: Invalid image reference", "main.sovos.hcl line 2", `ref: "ghcr.io/x/y:v1 " contains a space, which no image reference has`}},
		{name: "a git ref git would read as an option", args: []string{"@optref", "pin", "-check"}, code: 1,
			want: []string{"Error: Invalid ref", "main.sovos.hcl line 3", "no git ref does"}},
		{name: "a dockerfile that is not in the source", args: []string{"@nodockerfile", "validate"}, code: 1,
			want: []string{"Error: Missing dockerfile", "main.sovos.hcl line 5", `kernel.k: dockerfile "nope/Dockerfile" does not exist in source.s's directory ` + p("nodockerfile/src")}},
		{name: "a path source without a Dockerfile", args: []string{"@nodefaultdf", "validate"}, code: 1,
			want: []string{"Error: Missing dockerfile", "main.sovos.hcl line 2", "kernel.k: source.s has no Dockerfile (nor a bldr Pkgfile) in " + p("nodefaultdf/src")}},
		{name: "a bldr Pkgfile counts as the build file", args: []string{"@pkgfile", "validate"}, code: 0,
			not: []string{"Missing dockerfile"}},
		{name: "validate needs no required variable", args: []string{"@missvar", "validate"}, code: 0,
			not: []string{"No value for required variable"}},
		{name: "-workspace with a dot", args: []string{"plan", "-state-path=" + p("s"), "-workspace=feature.x"}, code: 1,
			want: []string{"Error: Invalid workspace name", `-workspace names the workspace "feature.x"`, "1 to 64 letters, digits, '_' and '-'",
				"sovos state push -force -workspace=NEW FILE"}},
		{name: "SOVOS_WORKSPACE with a slash", args: []string{"state", "list", "-state-path=" + p("s")}, env: []string{"SOVOS_WORKSPACE=a/b"}, code: 1,
			want: []string{"Error: Invalid workspace name", `SOVOS_WORKSPACE names the workspace "a/b"`}},
		{name: "rollback without -to", args: []string{"rollback", "-state-path=" + applied}, code: 1,
			want: []string{"rollback needs -to=SERIAL", "sovos state history"}},
		{name: "rollback to a serial not yet written", args: []string{"rollback", "-to=999", "-auto-approve", "-state-path=" + copyState("rbfuture")}, code: 1,
			want: []string{"there is no serial 999 yet: the state in layout " + p("rbfuture") + " (workspace default) is at serial "}},
		{name: "rollback with no state", args: []string{"rollback", "-to=1", "-state-path=" + p("rbnone")}, code: 1,
			want: []string{"no state in layout " + p("rbnone") + " (workspace default): nothing has been applied"}},
		{name: "gc -keep=0", args: []string{"gc", "-keep=0", "-state-path=" + p("s")}, code: 1,
			want: []string{"-keep=0: keep at least 1 history entry (the current state)"}},
		{name: "gc while another workspace's lock is live", args: []string{"gc", "-dry-run", "-workspace=other", "-state-path=" + locked}, code: 1,
			want: []string{"workspace default is locked by " + lock.Who, "lock ID " + lock.ID, "gc deletes nothing while another operation runs",
				"that sovos is still running (it holds the file lock on ", "run gc when it has finished, or stop that process"},
			not: []string{"if that sovos died", "force-unlock"}},
		{name: "a configured workspace with a slash", args: []string{"@wsconfig", "output", "-state-path=" + p("s")}, code: 1,
			want: []string{"Error: Invalid workspace name", "main.sovos.hcl line 3", `sovos.state.workspace names the workspace "feature/x"`}},
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
			env := append([]string{"SOVOS_VAR_pw=" + plantedSecret}, tc.env...)
			out, errOut, code := cli.With(env...).Run(append([]string{"-chdir=" + chdir}, args...)...)
			t.Logf("stderr:\n%.4000s", errOut)
			if code != tc.code {
				t.Errorf("exit %d, want %d", code, tc.code)
			}
			for _, w := range tc.want {
				if !strings.Contains(errOut, w) {
					t.Errorf("stderr lacks %q", w)
				}
			}
			for _, bad := range append([]string{"goroutine ", "panic:", "&{", "Error: Error:", "Incorrect Usage", plantedSecret}, tc.not...) {
				if strings.Contains(out+errOut, bad) {
					t.Errorf("output contains %q:\n%.4000s%.4000s", bad, out, errOut)
				}
			}
			// One mistake is one readable paragraph, never a flood nor a cascade.
			if n := len(out) + len(errOut); n > 16<<10 {
				t.Errorf("%d bytes of output", n)
			}
			if n := strings.Count(errOut, "Error:"); n > 1 {
				t.Errorf("%d errors for one mistake", n)
			}
			if tc.secret {
				noSecretIn(t, dir)
			}
		})
	}

	// A secret used the way it should be (a build secret, a sensitive output) is in no
	// output, plan file or state either.
	t.Run("a secret used as it should be", func(t *testing.T) {
		c := cli.With("SOVOS_VAR_pw="+plantedSecret, "SOVOS_VAR_pin=1234")
		for _, args := range [][]string{
			{"validate"},
			{"plan", "-state-path=" + p("secretok/state"), "-out=" + p("secretok/plan.out")},
			{"show", p("secretok/plan.out")},
			{"show", "-format=json", p("secretok/plan.out")},
			{"apply", "-state-path=" + p("secretok/state"), "-progress=quiet", p("secretok/plan.out")},
			{"output", "-state-path=" + p("secretok/state")},
			{"output", "-json", "-state-path=" + p("secretok/state")},
			{"state", "pull", "-state-path=" + p("secretok/state")},
		} {
			out, errOut, code := c.Run(append([]string{"-chdir=" + p("secretok")}, args...)...)
			if code != 0 || strings.Contains(out+errOut, plantedSecret) || strings.Contains(out+errOut, "1234") {
				t.Errorf("%v: exit %d\n%s%s", args, code, out, errOut)
			}
		}
		noSecretIn(t, dir)
	})

	// -chdir names the directory as the user wrote it, although sovos switched to it.
	t.Run("-chdir relative to the working directory", func(t *testing.T) {
		c := *cli
		c.Dir = dir
		for _, cmd := range []string{"pin", "validate", "plan"} {
			_, errOut, code := c.Run("-chdir=empty", cmd)
			if code != 1 || !strings.Contains(errOut, "The directory empty contains no *.sovos.hcl") {
				t.Errorf("%s: exit %d, %s", cmd, code, errOut)
			}
		}
	})

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
