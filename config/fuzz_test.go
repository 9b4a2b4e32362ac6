package config

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/urmanac/sovos/internal/testenv"
)

// FuzzLoad feeds one configuration file, in native or JSON syntax, through everything
// `sovos validate` does with it: the checks before parsing, parsing, decoding, evaluation
// with unknown required variables, and rendering the diagnostics. Whatever the input, the
// result is diagnostics: never a panic, a hang or a stack overflow. Seeds are in
// testdata/fuzz/FuzzLoad (regenerate: go test ./config -run TestLoadSeeds -update).
func FuzzLoad(f *testing.F) {
	dir := f.TempDir()
	// A path source has a directory to find, so its checks pass and evaluation goes on.
	if err := os.MkdirAll(filepath.Join(dir, "src"), 0o755); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, json bool, src []byte) {
		name := "main.sovos.hcl"
		if json {
			name = "main.sovos.json"
		}
		path := filepath.Join(dir, name)
		m := &Module{Dir: dir, AbsDir: dir, parser: hclparse.NewParser()}
		diags := CheckSource(src, path)
		if !diags.HasErrors() {
			diags = append(diags, m.parseFile(path, src)...)
			diags = append(diags, m.checkDuplicates()...)
		}
		if !diags.HasErrors() {
			cfg, ds := m.Evaluate(context.Background(), EvalOptions{Validate: true, Environ: []string{"SOVOS_VAR_pw=x"}})
			diags = append(diags, ds...)
			_ = cfg.Edges()
		}
		if err := WriteDiagnostics(io.Discard, m.Files(), diags, true); err != nil {
			t.Fatal(err)
		}
	})
}

// loadSeeds are FuzzLoad's seeds: the project's own configurations, and the shapes of
// the bad inputs the loader must turn into diagnostics.
func loadSeeds(t *testing.T) map[string]struct {
	json bool
	src  string
} {
	seeds := map[string]struct {
		json bool
		src  string
	}{}
	for name, path := range map[string]string{
		"quickstart":   "../examples/quickstart/main.sovos.hcl",
		"sovereign-os": "../examples/sovereign-os/main.sovos.hcl",
		"adr005":       "testdata/adr005/main.sovos.hcl",
		"matrix":       "testdata/matrix/main.sovos.hcl",
	} {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		seeds[name] = struct {
			json bool
			src  string
		}{false, string(b)}
	}
	for name, src := range map[string]string{
		"nested":    "locals {\n  x = " + strings.Repeat("[", 50) + strings.Repeat("]", 50) + "\n  y = !!!true\n  z = \"${\"${1}\"}\"\n}\n",
		"heredoc":   "locals {\n  x = <<-EOT\n    %{ if true }${upper(\"a\")}%{ endif }\n    EOT\n}\n",
		"sensitive": "variable \"pw\" {\n  type      = string\n  sensitive = true\n}\nsource \"s\" { path = \"./src\" }\nkernel \"k\" {\n  source = source.s\n  image  = \"r/k\"\n  args   = { X = var.pw }\n}\noutput \"o\" { value = tonumber(var.pw) }\n",
		"foreach":   "variable \"boards\" { type = set(string) }\nsource \"s\" {\n  for_each = var.boards\n  path     = \"./src\"\n}\nkernel \"k\" {\n  count    = length(var.boards)\n  source   = source.s[\"a\"]\n  image    = \"r/k-${count.index}\"\n  platform = \"linux/aarch64\"\n  tags     = [\"v1\", \"-x\"]\n}\n",
		"profile":   "profile \"p\" {\n  arch       = \"arm64\"\n  version    = \"v1.9.5\"\n  secureboot = false\n  kernel_args = [\"a\"]\n  output {\n    kind        = \"image\"\n    disk_size   = 1.5\n    disk_format = \"vpc\"\n    bootloader  = \"lilo\"\n  }\n}\n",
		"builder":   "builder \"b\" {\n  address   = \"tcp://h:1234\"\n  platforms = [\"linux/banana\"]\n  tls { ca_cert = \"gone.pem\" }\n}\n",
		"broken":    "image \"x\" {\n  ref = \"a\n}\nwidget {\n",
		"notutf8":   "locals { x = \"a\xff\" }\n",
	} {
		seeds[name] = struct {
			json bool
			src  string
		}{false, src}
	}
	seeds["json"] = struct {
		json bool
		src  string
	}{true, `{"variable": {"v": {"default": "x"}}, "locals": {"a": "${var.v}-${[for x in [1] : x][0]}"}, "image": {"i": {"ref": "r/i:${local.a}"}}}`}
	return seeds
}

// TestLoadSeeds keeps FuzzLoad's seed corpus in step with loadSeeds (-update writes it).
func TestLoadSeeds(t *testing.T) {
	for name, s := range loadSeeds(t) {
		testenv.Golden(t, filepath.Join("testdata", "fuzz", "FuzzLoad", name),
			fmt.Appendf(nil, "go test fuzz v1\nbool(%t)\n[]byte(%q)\n", s.json, s.src))
	}
}
