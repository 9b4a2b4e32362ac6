package config

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/zclconf/go-cty/cty"
)

func mustLoad(t testing.TB, dir string, opts EvalOptions) *Config {
	t.Helper()
	cfg, diags := Load(context.Background(), dir, opts)
	if diags.HasErrors() {
		var buf bytes.Buffer
		_ = WriteDiagnostics(&buf, cfg.Files, diags, false)
		t.Fatalf("unexpected diagnostics:\n%s", buf.String())
	}
	return cfg
}

func addrs(cfg *Config, typ string) []string {
	var out []string
	for _, r := range cfg.Resources {
		if typ == "" || r.Addr.Type == typ {
			out = append(out, r.Addr.String())
		}
	}
	return out
}

func TestMatrixExpansion(t *testing.T) {
	dir := writeConfig(t, map[string]string{"main.sovos.hcl": `
locals {
  hardware = ["cm4", "cm5"]
  variants = ["standard", "hailo10h", "minimal"]
  matrix = { for p in setproduct(local.hardware, local.variants) : "${p[0]}-${p[1]}" => { hw = p[0], variant = p[1] } }
}
profile "talos" {
  for_each = local.matrix
  arch     = "arm64"
  version  = "v1.13.3"
  kernel_args = each.value.variant == "minimal" ? [] : ["console=tty1", "hw=${each.value.hw}"]
  image    = "r/${each.key}"
  output {
    kind = "installer"
  }
  secureboot = true
}
image "base" {
  count = 2
  ref   = format("r/base:%d", count.index)
}
output "profiles" {
  value = keys(profile.talos)
}
output "splats" {
  value = concat(values(profile.talos)[*].image, image.base[*].image)
}
`})
	cfg := mustLoad(t, dir, EvalOptions{})
	want := []string{
		`profile.talos["cm4-hailo10h"]`, `profile.talos["cm4-minimal"]`, `profile.talos["cm4-standard"]`,
		`profile.talos["cm5-hailo10h"]`, `profile.talos["cm5-minimal"]`, `profile.talos["cm5-standard"]`,
	}
	if diff := cmp.Diff(want, addrs(cfg, TypeProfile)); diff != "" {
		t.Errorf("profiles (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"image.base[0]", "image.base[1]"}, addrs(cfg, TypeImage)); diff != "" {
		t.Errorf("images (-want +got):\n%s", diff)
	}
	p := cfg.Resource(`profile.talos["cm5-hailo10h"]`)
	if p == nil {
		t.Fatal("profile.talos[\"cm5-hailo10h\"] not addressable")
	}
	if got := p.Profile.KernelArgs; !cmp.Equal(got, []string{"console=tty1", "hw=cm5"}) {
		t.Errorf("kernel_args = %v", got)
	}
	if got := p.Profile.Image; got != "r/cm5-hailo10h" {
		t.Errorf("image = %q", got)
	}
	if a, err := ParseAddress(`profile.talos["cm5-hailo10h"]`); err != nil || a.Key != "cm5-hailo10h" {
		t.Errorf("ParseAddress = %#v, %v", a, err)
	}
	if got := cfg.Resource("image.base[1]").Image.Ref; got != "r/base:1" {
		t.Errorf("image.base[1].ref = %q", got)
	}
	if len(cfg.Outputs) != 2 || cfg.Outputs[0].Value.LengthInt() != 6 || cfg.Outputs[1].Value.LengthInt() != 8 {
		t.Errorf("outputs = %#v", cfg.Outputs)
	}
}

func TestVariablePrecedence(t *testing.T) {
	files := map[string]string{
		"main.sovos.hcl": `
variable "x" {
  default = "default"
}
variable "list" {
  type    = list(string)
  default = []
}
output "x" {
  value = var.x
}
output "list" {
  value = var.list
}
`,
	}
	auto := map[string]string{"a.auto.sovosvars": `x = "auto-a"`, "b.auto.sovosvars": `x = "auto-b"`}
	tests := []struct {
		name  string
		auto  bool
		opts  EvalOptions
		want  string
		wantL []string
	}{
		{name: "default", want: "default"},
		{name: "env", opts: EvalOptions{Environ: []string{"SOVOS_VAR_x=env", `SOVOS_VAR_list=["e"]`}}, want: "env", wantL: []string{"e"}},
		{name: "auto beats env, lexical order", auto: true, opts: EvalOptions{Environ: []string{"SOVOS_VAR_x=env"}}, want: "auto-b"},
		{name: "var-file beats auto", auto: true, opts: EvalOptions{VarFiles: []string{"f.sovosvars"}}, want: "file"},
		{name: "json var-file", opts: EvalOptions{VarFiles: []string{"j.sovosvars.json"}}, want: "json", wantL: []string{"j1", "j2"}},
		{name: "-var beats var-file", auto: true, opts: EvalOptions{VarFiles: []string{"f.sovosvars"}, Vars: []string{"x=cli"}}, want: "cli"},
		{name: "command-line order: later var-file wins", opts: EvalOptions{Args: []VarArg{{Value: "x=cli"}, {File: true, Value: "f.sovosvars"}}}, want: "file"},
		{name: "command-line order: later -var wins", opts: EvalOptions{Args: []VarArg{{File: true, Value: "f.sovosvars"}, {Value: "x=cli"}}}, want: "cli"},
		{name: "comma kept", opts: EvalOptions{Vars: []string{"x=a,b", `list=["a,b", "c"]`}}, want: "a,b", wantL: []string{"a,b", "c"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := map[string]string{"f.sovosvars": `x = "file"`, "j.sovosvars.json": `{"x": "json", "list": ["j1", "j2"]}`}
			for k, v := range files {
				fs[k] = v
			}
			if tt.auto {
				for k, v := range auto {
					fs[k] = v
				}
			}
			cfg := mustLoad(t, writeConfig(t, fs), tt.opts)
			got := map[string]cty.Value{}
			for _, o := range cfg.Outputs {
				got[o.Name] = o.Value
			}
			if got["x"].AsString() != tt.want {
				t.Errorf("x = %q, want %q", got["x"].AsString(), tt.want)
			}
			var l []string
			for _, v := range got["list"].AsValueSlice() {
				l = append(l, v.AsString())
			}
			if !cmp.Equal(l, tt.wantL) {
				t.Errorf("list = %q, want %q", l, tt.wantL)
			}
		})
	}
}

func TestADR005Validates(t *testing.T) {
	cfg, diags := Load(context.Background(), "testdata/adr005", EvalOptions{})
	if len(diags) > 0 {
		var buf bytes.Buffer
		_ = WriteDiagnostics(&buf, cfg.Files, diags, false)
		t.Fatalf("ADR-005 config has diagnostics:\n%s", buf.String())
	}
	k := cfg.Resource("kernel.sovereign")
	if k.Build.SigningCert == nil || k.Build.SigningCert.Target != "kernel-build" || k.Builder != "arm64" || k.Platform != "linux/arm64" {
		t.Errorf("kernel = %+v on %s/%s", k.Build, k.Builder, k.Platform)
	}
	p := cfg.Resource(`profile.cm5-hailo10h`)
	if got := addrStrings(p.DependsOn); !cmp.Equal(got, []string{"installer.sovereign", "extension.hailort"}) {
		t.Errorf("cm5 depends on %v", got)
	}
	if filepath.Base(p.Profile.Dest) != "profiles" || !filepath.IsAbs(p.Profile.Dest) {
		t.Errorf("dest = %q", p.Profile.Dest)
	}
	if cfg.Settings.State.Registry != "ghcr.io/urmanac/sovos-state" || cfg.Settings.State.Workspace != "main" {
		t.Errorf("state = %+v", cfg.Settings.State)
	}
	// Without hooks the hash-derived values are unknown, not errors.
	if p.Hash != "" || p.HashedAttrs["installer"].IsKnown() {
		t.Errorf("cm5 without hooks: hash %q, installer %#v", p.Hash, p.HashedAttrs["installer"])
	}
}

func addrStrings(as []Address) []string {
	var out []string
	for _, a := range as {
		out = append(out, a.String())
	}
	return out
}

// fakeHooks hashes the address and the dependency hashes, as a planner would hash
// attributes: enough to check ordering and propagation.
type fakeHooks struct {
	t    *testing.T
	mu   sync.Mutex // the instances of a block are hashed concurrently
	seen map[string][]string
}

func (h *fakeHooks) SourceHash(_ context.Context, r *Resource) (string, error) {
	return sum(r.Addr.String()), nil
}

func (h *fakeHooks) ImageDigest(_ context.Context, r *Resource) (string, error) {
	if r.Image.Digest != "" {
		return r.Image.Digest, nil
	}
	return "sha256:" + sum(r.Image.Ref), nil
}

func (h *fakeHooks) ResourceHash(r *Resource, deps map[string]string) (string, error) {
	var keys []string
	for _, a := range r.Consumes {
		if deps[a.String()] == "" {
			h.t.Errorf("%s: dependency %s has no hash yet", r.Addr, a)
		}
		keys = append(keys, a.String()+"="+deps[a.String()])
	}
	if len(deps) != len(r.Consumes) {
		h.t.Errorf("%s: deps %v do not match Consumes %v", r.Addr, deps, r.Consumes)
	}
	for k, v := range r.HashedAttrs {
		if !v.IsWhollyKnown() {
			h.t.Errorf("%s: hashed attribute %s is not known: %#v", r.Addr, k, v)
		}
	}
	sort.Strings(keys)
	h.mu.Lock()
	h.seen[r.Addr.String()] = keys
	h.mu.Unlock()
	return sum(r.Addr.String() + strings.Join(keys, ",")), nil
}

// ContentTag is deliberately not the real rule (16 hex): the tag must come from the
// hook, never be cut by the evaluator itself.
func (h *fakeHooks) ContentTag(hash string) string { return "t" + hash[:11] }

func sum(s string) string {
	b := sha256.Sum256([]byte(s))
	return hex.EncodeToString(b[:])
}

func TestHooks(t *testing.T) {
	h := &fakeHooks{t: t, seen: map[string][]string{}}
	cfg := mustLoad(t, "testdata/adr005", EvalOptions{Hooks: h})
	k := cfg.Resource("kernel.sovereign")
	if k.Hash == "" || k.Tag != "t"+k.Hash[:11] {
		t.Fatalf("kernel hash %q tag %q", k.Hash, k.Tag)
	}
	i := cfg.Resource("installer.sovereign")
	p := cfg.Resource("profile.cm5-hailo10h")
	if got, want := p.Profile.Installer, "ghcr.io/urmanac/installer-base:"+i.Tag; got != want {
		t.Errorf("installer = %q, want %q", got, want)
	}
	if got, want := p.Profile.Imager, "ghcr.io/urmanac/imager:"+i.Tag; got != want {
		t.Errorf("imager = %q, want %q", got, want)
	}
	e := cfg.Resource("extension.hailort")
	if got, want := e.Build.ContextRefs["pkg"], "ghcr.io/urmanac/hailort-pkg:"+k.Tag; got != want {
		t.Errorf("context pkg = %q, want %q", got, want)
	}
	if got := e.HashedAttrs["kernel"]; got.AsString() != k.Hash {
		t.Errorf("extension hashes kernel as %#v", got)
	}
	if got := k.HashedAttrs["source"]; got.AsString() != cfg.Resource("source.pkgs").Hash {
		t.Errorf("kernel hashes source as %#v", got)
	}
	cm4 := cfg.Resource("profile.cm4-standard")
	if !strings.HasPrefix(cm4.Profile.Installer, "ghcr.io/siderolabs/installer-base:v1.13.3@sha256:1111") {
		t.Errorf("cm4 installer = %q", cm4.Profile.Installer)
	}
	if !strings.Contains(cm4.Profile.Imager, "@sha256:") {
		t.Errorf("cm4 imager not resolved by digest: %q", cm4.Profile.Imager)
	}
	if out := cfg.Outputs[0].Value; out.AsString() != "ghcr.io/urmanac/kernel:"+k.Tag {
		t.Errorf("output = %#v", out)
	}
}

// A sensitive value may not reach a hashed attribute (the hash is published, so a short
// secret could be brute-forced from it): the error names the attribute and the
// variable, never the value, and tells to pass it as a build secret.
func TestSensitiveInHashedAttribute(t *testing.T) {
	dir := writeConfig(t, map[string]string{"main.sovos.hcl": base + `
variable "token" {
  type      = string
  sensitive = true
}
kernel "k" {
  source  = source.pkgs
  image   = "r/k"
  args    = { TOKEN = upper(var.token), PLAIN = "x" }
  secrets = { token = { env = "TOKEN" } }
}
`})
	_, diags := Load(context.Background(), dir, EvalOptions{Vars: []string{"token=s3cret"}})
	if len(diags) != 1 || diags[0].Summary != "Sensitive value in args" {
		t.Fatalf("want one error about args, got %v", diags)
	}
	d := diags[0]
	for _, want := range []string{"kernel.k: args derives from the sensitive variable var.token", "build secret"} {
		if !strings.Contains(d.Detail, want) {
			t.Errorf("detail lacks %q: %s", want, d.Detail)
		}
	}
	if strings.Contains(d.Detail, "s3cret") || strings.Contains(d.Detail, "S3CRET") {
		t.Errorf("detail shows the secret: %s", d.Detail)
	}
	if d.Subject == nil || d.Subject.Start.Line != 14 {
		t.Errorf("subject = %v, want line 14", d.Subject)
	}
}

func TestRouting(t *testing.T) {
	tests := []struct {
		name, builders, attrs string
		env                   []string
		builder, platform     string
		address               string
	}{
		{name: "no builders", builder: "default", platform: "linux/amd64", address: "unix:///run/buildkit/buildkitd.sock"},
		{name: "BUILDKIT_HOST", env: []string{"BUILDKIT_HOST=tcp://bk:1234"}, builder: "default", platform: "linux/amd64", address: "tcp://bk:1234"},
		{name: "by platform", builders: `
builder "amd" {
  platforms = ["linux/amd64"]
}
builder "arm" {
  address   = "tcp://arm:1"
  platforms = ["linux/arm64"]
}`, attrs: `platform = "linux/arm64"`, builder: "arm", platform: "linux/arm64", address: "tcp://arm:1"},
		{name: "first builder's platform", builders: `
builder "arm" {
  platforms = ["linux/arm64", "linux/amd64"]
}`, builder: "arm", platform: "linux/arm64"},
		{name: "explicit", builders: `
builder "a" {
  platforms = ["linux/amd64"]
}
builder "b" {
  platforms = ["linux/riscv64"]
}`, attrs: `builder = builder.b`, builder: "b", platform: "linux/riscv64"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := writeConfig(t, map[string]string{"main.sovos.hcl": base + tt.builders + `
kernel "k" {
  source = source.pkgs
  image  = "r/k"
  ` + tt.attrs + `
}
`})
			cfg := mustLoad(t, dir, EvalOptions{Environ: tt.env})
			k := cfg.Resource("kernel.k")
			if k.Builder != tt.builder || k.Platform != tt.platform {
				t.Errorf("routed to %s/%s, want %s/%s", k.Builder, k.Platform, tt.builder, tt.platform)
			}
			if tt.address != "" && cfg.Builders[k.Builder].Address != tt.address {
				t.Errorf("address = %q, want %q", cfg.Builders[k.Builder].Address, tt.address)
			}
		})
	}
}

func TestFunctions(t *testing.T) {
	dir := writeConfig(t, map[string]string{
		"data.txt": "hello\n",
		"main.sovos.hcl": `
locals {
  y = yamlencode({ b = [1, "two", true], a = { c = null } })
}
output "all" {
  value = {
    file    = trimspace(file("data.txt"))
    sha     = sha256("abc")
    json    = jsonencode({ a = [1, 2] })
    yaml    = local.y
    try     = try(local.y.nope, "fallback")
    can     = can(regex("^v", "v1"))
    lookup  = lookup({ a = "1" }, "b", "dflt")
    flatten = join(",", flatten([["a"], ["b", "c"]]))
    len     = length("abcd")
    rng     = length(range(3))
    coal    = coalesce("", "x")
    repl    = replace("a-b", "-", "_")
  }
}
`})
	cfg := mustLoad(t, dir, EvalOptions{})
	got := map[string]string{}
	for k, v := range cfg.Outputs[0].Value.AsValueMap() {
		got[k] = v.GoString()
	}
	want := map[string]string{
		"file": `cty.StringVal("hello")`, "sha": `cty.StringVal("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")`,
		"json": `cty.StringVal("{\"a\":[1,2]}")`,
		"yaml": `cty.StringVal("\"a\":\n  \"c\": null\n\"b\":\n  - 1\n  - \"two\"\n  - true\n")`,
		"try":  `cty.StringVal("fallback")`, "can": `cty.True`, "lookup": `cty.StringVal("dflt")`,
		"flatten": `cty.StringVal("a,b,c")`, "len": `cty.NumberIntVal(4)`, "rng": `cty.NumberIntVal(3)`,
		"coal": `cty.StringVal("x")`, "repl": `cty.StringVal("a_b")`,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestVersionConstraints(t *testing.T) {
	for _, tt := range []struct {
		c  string
		ok bool
	}{
		{">= 0.1.0", true}, {"> 0.1.0", false}, {"~> 0.1", true}, {"~> 0.1.1", false}, {"~> 0.0.9", false},
		{">= 0.1, < 1.0", true}, {"= 0.1.0", true}, {"0.1.0", true}, {"!= 0.1.0", false}, {"<= 0.0.9", false},
	} {
		ok, err := versionSatisfies("0.1.0", tt.c)
		if err != nil || ok != tt.ok {
			t.Errorf("%q: %v, %v; want %v", tt.c, ok, err, tt.ok)
		}
	}
	if _, err := versionSatisfies("0.1.0", ">= banana"); err == nil {
		t.Error("invalid constraint accepted")
	}
}

// genConfig writes n resources: n/5 chains of source -> kernel -> extension and
// installer -> profile, each chain reading a shared local, so references, contexts and
// the graph all scale with n.
func genConfig(b testing.TB, n int) string {
	var sb strings.Builder
	sb.WriteString("locals {\n  talos = \"v1.13.3\"\n}\n")
	for i := 0; i < n/5; i++ {
		fmt.Fprintf(&sb, `
source "s%[1]d" {
  git    = "https://example.com/r%[1]d.git"
  commit = "%040[1]x"
}
kernel "k%[1]d" {
  source = source.s%[1]d
  image  = "r/k%[1]d"
  args   = { TAG = local.talos }
  stage "pkg" {
    image = "r/pkg%[1]d"
  }
}
extension "e%[1]d" {
  source   = source.s%[1]d
  kernel   = kernel.k%[1]d
  contexts = { pkg = kernel.k%[1]d.stage["pkg"].ref }
  image    = "r/e%[1]d"
}
installer "i%[1]d" {
  source = source.s%[1]d
  kernel = kernel.k%[1]d
  image  = "r/i%[1]d"
}
profile "p%[1]d" {
  arch       = "arm64"
  version    = local.talos
  installer  = installer.i%[1]d.ref
  extensions = [extension.e%[1]d.ref]
  output {
    kind = "installer"
  }
}
`, i)
	}
	dir := b.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "main.sovos.hcl"), []byte(sb.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	return dir
}

func TestGeneratedConfig(t *testing.T) {
	cfg := mustLoad(t, genConfig(t, 50), EvalOptions{Hooks: &fakeHooks{t: t, seen: map[string][]string{}}})
	if len(cfg.Resources) != 50 {
		t.Fatalf("%d resources, want 50", len(cfg.Resources))
	}
}

func benchmarkLoad(b *testing.B, n int) {
	dir := genConfig(b, n)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		cfg, diags := Load(context.Background(), dir, EvalOptions{})
		if diags.HasErrors() || len(cfg.Resources) != n {
			b.Fatalf("%d resources, %s", len(cfg.Resources), diags.Error())
		}
	}
}

func BenchmarkLoad500(b *testing.B)  { benchmarkLoad(b, 500) }
func BenchmarkLoad2000(b *testing.B) { benchmarkLoad(b, 2000) }

func TestJSONSyntaxAndDependsOn(t *testing.T) {
	dir := writeConfig(t, map[string]string{
		"main.sovos.hcl": base + `
kernel "k" {
  for_each = toset(["a", "b"])
  source   = source.pkgs
  image    = "r/k-${each.key}"
}
`,
		"more.sovos.json": `{
  "extension": {
    "e": {
      "source": "${source.pkgs}",
      "kernel": "${kernel.k[\"b\"]}",
      "image": "r/e",
      "depends_on": ["image.i"]
    }
  },
  "image": {"i": {"ref": "r/i:1"}}
}`,
	})
	m, diags := LoadDir(dir)
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	// A module evaluates any number of times (plan evaluates once without hooks to read
	// the settings, then with them).
	for i := 0; i < 2; i++ {
		cfg, diags := m.Evaluate(context.Background(), EvalOptions{})
		if diags.HasErrors() {
			t.Fatal(diags.Error())
		}
		e := cfg.Resource("extension.e")
		if got := addrStrings(e.DependsOn); !cmp.Equal(got, []string{"source.pkgs", `kernel.k["b"]`, "image.i"}) {
			t.Errorf("depends on %v", got)
		}
		if e.Build.Kernel.String() != `kernel.k["b"]` {
			t.Errorf("kernel = %v", e.Build.Kernel)
		}
	}
	if m.Files()[filepath.Join(dir, "more.sovos.json")] == nil {
		t.Error("Files() lacks the JSON file")
	}
}

// A matrix instance depends (for ordering) on both branches of a conditional but only
// consumes, and hashes, the branch it took: changing the other branch's resource must
// not rebuild it.
func TestConsumesOnlyTheBranchTaken(t *testing.T) {
	dir := writeConfig(t, map[string]string{"Dockerfile": "FROM scratch\n", "main.sovos.hcl": `
source "s" {
  path = "."
}
kernel "k" {
  source = source.s
  image  = "r/kernel"
}
extension "custom" {
  source = source.s
  kernel = kernel.k
  image  = "r/ext"
}
image "upstream" {
  ref    = "r/upstream:v1"
  digest = "sha256:1111111111111111111111111111111111111111111111111111111111111111"
}
profile "p" {
  for_each   = toset(["custom", "upstream"])
  arch       = "arm64"
  version    = "v1.13.3"
  extensions = [each.key == "custom" ? extension.custom.ref : image.upstream.ref]
  output {
    kind       = "image"
    disk_size  = 1000
    out_format = ".xz"
  }
  depends_on = [source.s]
}
`})
	h := &fakeHooks{t: t, seen: map[string][]string{}}
	cfg := mustLoad(t, dir, EvalOptions{Hooks: h})
	tests := []struct{ addr, deps, consumes string }{
		{`profile.p["custom"]`, "extension.custom image.upstream source.s", "extension.custom source.s"},
		{`profile.p["upstream"]`, "extension.custom image.upstream source.s", "image.upstream source.s"},
	}
	for _, tt := range tests {
		r := cfg.Resource(tt.addr)
		deps := addrStrings(r.DependsOn)
		sort.Strings(deps)
		cons := addrStrings(r.Consumes)
		sort.Strings(cons)
		if got := strings.Join(deps, " "); got != tt.deps {
			t.Errorf("%s DependsOn = %s, want %s", tt.addr, got, tt.deps)
		}
		if got := strings.Join(cons, " "); got != tt.consumes {
			t.Errorf("%s Consumes = %s, want %s", tt.addr, got, tt.consumes)
		}
	}
}

// With hashes known, the kernel-consistency check looks at the branch an instance took:
// the instance that pairs the sovereign extension with the upstream installer is flagged,
// the one that takes the sovereign installer is not.
func TestKernelConsistencyFollowsTheBranchTaken(t *testing.T) {
	dir := writeConfig(t, map[string]string{"Dockerfile": "FROM scratch\n", "main.sovos.hcl": `
source "s" {
  path = "."
}
kernel "k" {
  source = source.s
  image  = "r/kernel"
}
extension "custom" {
  source = source.s
  kernel = kernel.k
  image  = "r/ext"
}
installer "sov" {
  source = source.s
  kernel = kernel.k
  image  = "r/installer"
}
image "upstream" {
  ref    = "r/upstream-installer:v1"
  digest = "sha256:1111111111111111111111111111111111111111111111111111111111111111"
}
profile "p" {
  for_each   = toset(["good", "bad"])
  arch       = "arm64"
  version    = "v1.13.3"
  extensions = [extension.custom.ref]
  installer  = each.key == "good" ? installer.sov.ref : image.upstream.ref
  output {
    kind       = "image"
    disk_size  = 1000
    out_format = ".xz"
  }
}
`})
	h := &fakeHooks{t: t, seen: map[string][]string{}}
	_, diags := Load(context.Background(), dir, EvalOptions{Hooks: h})
	var flagged []string
	for _, d := range diags {
		if strings.Contains(d.Detail, "extension.custom") {
			flagged = append(flagged, d.Summary+": "+d.Detail)
		}
	}
	if len(flagged) != 1 || !strings.Contains(flagged[0], `profile.p["bad"]`) {
		t.Fatalf("want exactly one diagnostic, for profile.p[\"bad\"]; got %q", flagged)
	}
}
