package config

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/zclconf/go-cty/cty"
)

// flowConfig has two kernels: extension.e is tied to kernel.other and uses kernel.k only
// through the expression under test, in args (a hashed attribute).
const flowConfig = `
variable "flag" {
  default = true
}
locals {
  pick = var.flag ? "fixed" : kernel.k.tag
}
source "s" {
  path = "."
}
kernel "k" {
  source = source.s
  image  = "r/k"
}
kernel "other" {
  source = source.s
  image  = "r/other"
}
extension "e" {
  source = source.s
  kernel = kernel.other
  image  = "r/e"
  args   = { X = %s }
}
`

// TestConsumptionByDataFlow: an instance consumes a dependency when a value derived from
// it reaches its attributes, whatever the value looks like, and a conditional whose
// condition is known consumes only the branch it took.
func TestConsumptionByDataFlow(t *testing.T) {
	tests := []struct {
		name, expr string
		hooks      bool // hashes known (plan) or not (validate)
		consumes   bool
	}{
		{"sha256 of the tag", `sha256(kernel.k.tag)`, true, true},
		{"substr of the tag", `substr(kernel.k.tag, 0, 8)`, true, true},
		{"a value without the tag", `upper(kernel.k.image)`, true, true},
		{"no reference", `"fixed"`, true, false},
		{"untaken branch", `true ? "fixed" : kernel.k.tag`, true, false},
		{"taken branch", `false ? "fixed" : kernel.k.tag`, true, true},
		{"untaken branch, condition from a variable", `var.flag ? "fixed" : kernel.k.tag`, true, false},
		{"untaken branch through a local", `local.pick`, true, false},
		{"untaken branch inside a function call", `upper(var.flag ? "fixed" : kernel.k.tag)`, true, false},
		{"untaken outer branch holding a conditional", `var.flag ? "fixed" : (true ? kernel.k.tag : "x")`, true, false},
		{"untaken inner branch", `var.flag ? (false ? kernel.k.tag : "x") : "y"`, true, false},
		{"the condition itself", `length(kernel.k.tag) > 0 ? "a" : "b"`, true, true},
		{"both branches in a for body", `join(",", [for x in ["a"] : x == "a" ? "fixed" : kernel.k.tag])`, true, true},
		{"condition known only after hashing, with hashes", `kernel.other.tag != "" ? "fixed" : kernel.k.tag`, true, false},
		{"condition known only after hashing, without", `kernel.other.tag != "" ? "fixed" : kernel.k.tag`, false, true},
		{"a for expression", `join(",", [for k, v in { a = kernel.k } : v.tag])`, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := writeConfig(t, map[string]string{"Dockerfile": "FROM scratch\n", "main.sovos.hcl": strings.Replace(flowConfig, "%s", tt.expr, 1)})
			opts := EvalOptions{}
			if tt.hooks {
				opts.Hooks = &fakeHooks{t: t, seen: map[string][]string{}}
			}
			cfg := mustLoad(t, dir, opts)
			e := cfg.Resource("extension.e")
			if got, want := slices.Contains(addrStrings(e.DependsOn), "kernel.k"), tt.expr != `"fixed"`; got != want {
				t.Errorf("DependsOn = %v: every reference, and only a reference, is an edge", addrStrings(e.DependsOn))
			}
			if got := slices.Contains(addrStrings(e.Consumes), "kernel.k"); got != tt.consumes {
				t.Errorf("Consumes = %v, consumes kernel.k = %t, want %t", addrStrings(e.Consumes), got, tt.consumes)
			}
		})
	}
}

// Pruning decides consumption only: the values (and so the hashes) are those of the
// ordinary evaluation.
func TestPruningKeepsValues(t *testing.T) {
	dir := writeConfig(t, map[string]string{"Dockerfile": "FROM scratch\n", "main.sovos.hcl": strings.Replace(flowConfig, "%s",
		`var.flag ? "fixed-${length(kernel.other.tag)}" : kernel.k.tag`, 1)})
	h := &fakeHooks{t: t, seen: map[string][]string{}}
	cfg := mustLoad(t, dir, EvalOptions{Hooks: h})
	e := cfg.Resource("extension.e")
	if got := e.Build.Args["X"]; got != "fixed-12" {
		t.Errorf("args.X = %q", got)
	}
	if got := e.HashedAttrs["args"]; !got.RawEquals(cty.MapVal(map[string]cty.Value{"X": cty.StringVal("fixed-12")})) {
		t.Errorf("hashed args = %#v", got)
	}
	if got := addrStrings(e.Consumes); !cmp.Equal(got, []string{"source.s", "kernel.other"}) {
		t.Errorf("Consumes = %v", got)
	}
	// The expression trees are restored after pruning: a second evaluation of the same
	// module with the other condition takes the other branch.
	m, diags := LoadDir(dir)
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	for _, flag := range []string{"true", "false", "true"} {
		cfg, diags := m.Evaluate(context.Background(), EvalOptions{Hooks: h, Vars: []string{"flag=" + flag}})
		if diags.HasErrors() {
			t.Fatal(diags.Error())
		}
		got := slices.Contains(addrStrings(cfg.Resource("extension.e").Consumes), "kernel.k")
		if got != (flag == "false") {
			t.Errorf("flag=%s: consumes kernel.k = %t", flag, got)
		}
	}
}

// The JSON syntax prunes like the native one: its strings are templates.
func TestConsumptionJSON(t *testing.T) {
	for _, tt := range []struct {
		cond     string
		consumes bool
	}{{"true", false}, {"false", true}} {
		dir := writeConfig(t, map[string]string{"Dockerfile": "FROM scratch\n", "main.sovos.json": `{
  "source": {"s": {"path": "."}},
  "kernel": {"k": {"source": "${source.s}", "image": "r/k"}, "other": {"source": "${source.s}", "image": "r/o"}},
  "extension": {"e": {
    "source": "${source.s}",
    "kernel": "${kernel.other}",
    "image": "r/e",
    "args": {"X": "${` + tt.cond + ` ? \"fixed\" : kernel.k.tag}", "Y": "${source.s.tag}"}
  }}
}`})
		cfg := mustLoad(t, dir, EvalOptions{Hooks: &fakeHooks{t: t, seen: map[string][]string{}}})
		e := cfg.Resource("extension.e")
		if got := slices.Contains(addrStrings(e.Consumes), "kernel.k"); got != tt.consumes {
			t.Errorf("condition %s: Consumes = %v", tt.cond, addrStrings(e.Consumes))
		}
	}
}

// matrixConfig is a keyed matrix: kernels for_each over a map, extensions over the same
// map tied to their own kernel, installers by count.
const matrixConfig = `
locals {
  boards = { cm4 = "standard", cm5 = "hailo" }
  all    = kernel.k
}
source "s" {
  path = "."
}
kernel "k" {
  for_each = local.boards
  source   = source.s
  image    = "r/kernel-${each.key}"
}
extension "e" {
  for_each = local.boards
  source   = source.s
  kernel   = kernel.k[each.key]
  image    = "r/ext-${each.key}"
}
kernel "c" {
  count  = 2
  source = source.s
  image  = "r/c${count.index}"
}
installer "i" {
  count  = 2
  source = source.s
  kernel = kernel.c[count.index]
  image  = "r/i${count.index}"
}
extension "via_local" {
  for_each = local.boards
  source   = source.s
  kernel   = local.all[each.key]
  image    = "r/via-${each.key}"
}
extension "in_for" {
  source = source.s
  kernel = kernel.k["cm5"]
  image  = "r/in-for"
  args   = { ALL = join(",", [for b in keys(local.boards) : kernel.k[b].tag]) }
}
`

// A reference indexed by a key the instance knows is an edge to that one instance.
func TestPerInstanceEdges(t *testing.T) {
	dir := writeConfig(t, map[string]string{"Dockerfile": "FROM scratch\n", "main.sovos.hcl": matrixConfig})
	for _, hooks := range []bool{false, true} {
		opts := EvalOptions{}
		if hooks {
			opts.Hooks = &fakeHooks{t: t, seen: map[string][]string{}}
		}
		cfg := mustLoad(t, dir, opts)
		for _, tt := range []struct{ addr, deps, consumes string }{
			{`extension.e["cm4"]`, `source.s kernel.k["cm4"]`, `source.s kernel.k["cm4"]`},
			{`extension.e["cm5"]`, `source.s kernel.k["cm5"]`, `source.s kernel.k["cm5"]`},
			{`installer.i[1]`, `source.s kernel.c[1]`, `source.s kernel.c[1]`},
			// Through a local the key belongs to another scope: every instance is an
			// edge, but data flow still knows which one is consumed.
			{`extension.via_local["cm4"]`, `source.s kernel.k["cm4"] kernel.k["cm5"]`, `source.s kernel.k["cm4"]`},
			// A key bound by a for expression: every instance.
			{`extension.in_for`, `source.s kernel.k["cm5"] kernel.k["cm4"]`, `source.s kernel.k["cm5"] kernel.k["cm4"]`},
		} {
			r := cfg.Resource(tt.addr)
			if got := strings.Join(addrStrings(r.DependsOn), " "); got != tt.deps {
				t.Errorf("hooks=%t %s DependsOn = %s, want %s", hooks, tt.addr, got, tt.deps)
			}
			if got := strings.Join(addrStrings(r.Consumes), " "); got != tt.consumes {
				t.Errorf("hooks=%t %s Consumes = %s, want %s", hooks, tt.addr, got, tt.consumes)
			}
		}
	}
}

// failingSources is fakeHooks whose path sources do not exist, as the planner's hasher
// reports them.
type failingSources struct{ fakeHooks }

func (h *failingSources) SourceHash(ctx context.Context, r *Resource) (string, error) {
	if r.Source.Path != "" {
		return "", errors.New("source path " + r.Source.Path + " does not exist")
	}
	return h.fakeHooks.SourceHash(ctx, r)
}

// ResourceHash refuses unknown values, as the planner's hasher does.
func (h *failingSources) ResourceHash(r *Resource, deps map[string]string) (string, error) {
	for k, v := range r.HashedAttrs {
		if !v.IsWhollyKnown() {
			return "", errors.New("hashing attribute " + k + ": value is not known at plan time")
		}
	}
	return h.fakeHooks.ResourceHash(r, deps)
}

// One mistake gives one error: what is computed from a failed declaration stays quiet.
func TestNoCascadingErrors(t *testing.T) {
	tests := []struct {
		name  string
		src   string
		hooks Hooks
		want  string // the one error's summary
	}{
		{"a failing local used by for_each", `
locals {
  boards = tomap("cm4, cm5")
}
kernel "k" {
  for_each = local.boards
  source   = source.pkgs
  image    = "r/k-${each.key}"
}
extension "e" {
  for_each = local.boards
  source   = source.pkgs
  kernel   = kernel.k[each.key]
  image    = "r/e-${each.key}"
}
`, nil, "Invalid function argument"},
		{"a failing function in a local", `
locals {
  n = parseint("x", 10)
}
kernel "k" {
  count  = local.n
  source = source.pkgs
  image  = "r/k"
}
`, nil, "Invalid function argument"},
		{"a missing source path", `
source "gone" {
  path = "./gone"
}
kernel "k" {
  source = source.gone
  image  = "r/k"
}
extension "e" {
  source = source.gone
  kernel = kernel.k
  image  = "r/e"
  args   = { K = kernel.k.ref }
}
`, nil, "Missing source directory"},
		{"a source that cannot be hashed", `
source "gone" {
  path = "."
}
kernel "k" {
  source = source.gone
  image  = "r/k"
}
extension "e" {
  source = source.gone
  kernel = kernel.k
  image  = "r/e"
  args   = { K = kernel.k.ref }
}
profile "p" {
  arch       = "arm64"
  version    = "v1.13.3"
  extensions = [extension.e.ref]
  output {
    kind = "installer"
  }
}
output "o" {
  value = extension.e.ref
}
`, &failingSources{fakeHooks{t: t, seen: map[string][]string{}}}, "Cannot hash source.gone"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := writeConfig(t, map[string]string{"Dockerfile": "FROM scratch\n", "main.sovos.hcl": base + tt.src})
			cfg, diags := Load(context.Background(), dir, EvalOptions{Hooks: tt.hooks})
			var buf bytes.Buffer
			_ = WriteDiagnostics(&buf, cfg.Files, diags, false)
			if len(diags) != 1 || diags[0].Summary != tt.want {
				t.Fatalf("want exactly one error %q, got %d:\n%s", tt.want, len(diags), buf.String())
			}
		})
	}
}

// TestNestedBlocksConsume: a nested block's attributes are evaluated attributes of the
// resource (SPEC §2), so what stage, cache, signing_cert, overlay and output name is
// consumed: it enters Consumes (and so the hash's deps, built_from and rebuild reasons).
func TestNestedBlocksConsume(t *testing.T) {
	const base = `
source "s" {
  path = "."
}
image "up" {
  ref    = "ghcr.io/x/up:v1"
  digest = "sha256:1111111111111111111111111111111111111111111111111111111111111111"
}
kernel "k" {
  source = source.s
  image  = "r/k"
}
`
	tests := []struct{ name, block, addr string }{
		{"stage", `kernel "k2" {
  source = source.s
  image  = "r/k2"
  stage "pkg" {
    image = "${kernel.k.image}-pkg"
  }
}`, "kernel.k2"},
		{"cache", `kernel "k2" {
  source = source.s
  image  = "r/k2"
  cache {
    ref = "${kernel.k.image}:cache"
  }
}`, "kernel.k2"},
		{"signing_cert", `kernel "k2" {
  source = source.s
  image  = "r/k2"
  signing_cert {
    target = kernel.k.tag
    path   = "/certs/signing_key.x509"
  }
}`, "kernel.k2"},
		{"overlay", `profile "p" {
  arch      = "arm64"
  version   = "v1.13.3"
  installer = "ghcr.io/siderolabs/installer:v1.13.3"
  overlay {
    name  = "rpi_generic"
    image = kernel.k.ref
  }
  output {
    kind = "installer"
  }
}`, "profile.p"},
		{"output", `profile "p" {
  arch      = "arm64"
  version   = "v1.13.3"
  installer = "ghcr.io/siderolabs/installer:v1.13.3"
  output {
    kind       = "image"
    disk_size  = length(kernel.k.tag) * 1000000
    out_format = ".xz"
  }
}`, "profile.p"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := writeConfig(t, map[string]string{"Dockerfile": "FROM scratch\n", "main.sovos.hcl": base + tt.block})
			h := &fakeHooks{t: t, seen: map[string][]string{}}
			cfg := mustLoad(t, dir, EvalOptions{Hooks: h})
			r := cfg.Resource(tt.addr)
			if got := addrStrings(r.Consumes); !slices.Contains(got, "kernel.k") {
				t.Errorf("%s: Consumes = %v, want kernel.k, which its %s block names", tt.addr, got, tt.name)
			}
			if !slices.ContainsFunc(h.seen[tt.addr], func(s string) bool { return strings.HasPrefix(s, "kernel.k=") }) {
				t.Errorf("%s hashed with deps %v, want kernel.k among them", tt.addr, h.seen[tt.addr])
			}
		})
	}
}
