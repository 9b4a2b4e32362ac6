package config

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
)

// loadWithin loads dir, failing the test if that takes more than a few seconds (a FIFO
// opened for reading blocks forever), and renders the diagnostics.
func loadWithin(t *testing.T, dir string, opts EvalOptions) (*Config, hcl.Diagnostics, string) {
	t.Helper()
	type result struct {
		cfg   *Config
		diags hcl.Diagnostics
	}
	done := make(chan result, 1)
	go func() {
		cfg, diags := Load(context.Background(), dir, opts)
		done <- result{cfg, diags}
	}()
	select {
	case r := <-done:
		var buf bytes.Buffer
		if err := WriteDiagnostics(&buf, r.cfg.Files, r.diags, false); err != nil {
			t.Fatal(err)
		}
		return r.cfg, r.diags, buf.String()
	case <-time.After(20 * time.Second):
		t.Fatal("loading hangs")
	}
	return nil, nil, ""
}

// Editor files are not configuration, and what is named like configuration but is not a
// regular file is skipped with a warning, never opened in a way that blocks or read
// without end.
func TestLoaderSkipsWhatIsNotConfiguration(t *testing.T) {
	dir := writeConfig(t, map[string]string{
		"main.sovos.hcl":    "locals { a = 1 }\n",
		".#main.sovos.hcl":  "garbage {",
		"#main.sovos.hcl#":  "garbage {",
		"#x.sovos.hcl":      "garbage {",
		"main.sovos.hcl~":   "garbage {",
		".hidden.sovos.hcl": "garbage {",
		"x.auto.sovosvars~": "garbage {",
		".x.auto.sovosvars": "garbage {",
	})
	if err := syscall.Mkfifo(filepath.Join(dir, "p.sovos.hcl"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/dev/zero", filepath.Join(dir, "z.sovos.hcl")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "d.sovos.json"), 0o755); err != nil {
		t.Fatal(err)
	}
	_, diags, out := loadWithin(t, dir, EvalOptions{})
	if diags.HasErrors() {
		t.Fatalf("errors:\n%s", out)
	}
	for _, want := range []string{"p.sovos.hcl is named like a configuration file but is a named pipe (FIFO)",
		"z.sovos.hcl is named like a configuration file but is a device", "d.sovos.json is named like a configuration file but is a directory"} {
		if !strings.Contains(out, want) {
			t.Errorf("warnings lack %q:\n%s", want, out)
		}
	}
	if len(diags) != 3 {
		t.Errorf("want 3 warnings, got:\n%s", out)
	}
}

func TestLoaderRefusesWhatParsersMustNotSee(t *testing.T) {
	deep := func(open, close string, n int) string {
		return strings.Repeat(open, n) + "1" + strings.Repeat(close, n)
	}
	for _, tc := range []struct {
		name, file, src string
		want            []string
	}{
		{"nested brackets", "main.sovos.hcl", "locals {\n  x = " + deep("[", "]", 100000) + "\n}\n",
			[]string{"Error: Expression nested too deeply", "main.sovos.hcl line 2", "more than 1000 levels"}},
		{"nested templates", "main.sovos.hcl", "locals {\n  x = " + deep(`"${`, `}"`, 100000) + "\n}\n",
			[]string{"Error: Expression nested too deeply", "main.sovos.hcl line 2"}},
		{"chained operators", "main.sovos.hcl", "locals {\n  x = " + strings.Repeat("!", 1000000) + "true\n}\n",
			[]string{"Error: Expression nested too deeply", "main.sovos.hcl line 2"}},
		{"nested JSON", "main.sovos.json", `{"locals": {"x": ` + deep("[", "]", 100000) + "}}",
			[]string{"Error: Expression nested too deeply", "main.sovos.json line 1"}},
		{"nested template in JSON", "main.sovos.json", `{"locals": {"x": "` + deep("${(", ")}", 100000) + `"}}`,
			[]string{"Error: Expression nested too deeply", "main.sovos.json line 1"}},
		{"not UTF-8", "main.sovos.hcl", "locals {\n  x = \"a\xff\xfeb\"\n}\n",
			[]string{"Error: Invalid character encoding", "main.sovos.hcl:2:9", "byte 0xff at line 2, column 9"}},
		{"a long line", "main.sovos.hcl", "locals { x = \"" + strings.Repeat("a", 5<<20) + " }\n",
			[]string{"Error: Invalid multi-line string", "main.sovos.hcl line 1", "…aaaa", "aaa }"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := writeConfig(t, map[string]string{tc.file: tc.src})
			_, diags, out := loadWithin(t, dir, EvalOptions{})
			if !diags.HasErrors() {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("lacks %q:\n%.3000s", w, out)
				}
			}
			if len(out) > 10000 {
				t.Errorf("%d bytes of diagnostics:\n%.3000s", len(out), out)
			}
		})
	}
}

func TestLoaderCapsFileSize(t *testing.T) {
	dir := writeConfig(t, map[string]string{"main.sovos.hcl": "locals { a = 1 }\n"})
	// A sparse file: large, and no time to write.
	if err := os.Truncate(filepath.Join(dir, "main.sovos.hcl"), MaxFileSize+1); err != nil {
		t.Fatal(err)
	}
	_, diags, out := loadWithin(t, dir, EvalOptions{})
	if !diags.HasErrors() || !strings.Contains(out, "more than the 67108864 a file may have") {
		t.Errorf("want a size error, got:\n%.2000s", out)
	}
}

// file() reads any path, but never blocks on a FIFO nor reads a device without end.
func TestFileFunctionReadsRegularFilesOnly(t *testing.T) {
	dir := writeConfig(t, map[string]string{"main.sovos.hcl": `locals {
  z = file("/dev/zero")
  p = file("p")
}
`})
	if err := syscall.Mkfifo(filepath.Join(dir, "p"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, diags, out := loadWithin(t, dir, EvalOptions{})
	if n := len(diags); n != 2 || !strings.Contains(out, "reading /dev/zero: it is a device, not a regular file") ||
		!strings.Contains(out, "reading p: it is a named pipe (FIFO), not a regular file") {
		t.Errorf("want two errors, got %d:\n%s", n, out)
	}
}

func TestVarValueNesting(t *testing.T) {
	dir := writeConfig(t, map[string]string{"main.sovos.hcl": "variable \"l\" { type = list(any) }\n"})
	_, diags, out := loadWithin(t, dir, EvalOptions{Vars: []string{"l=" + strings.Repeat("[", 120000) + strings.Repeat("]", 120000)}})
	if len(diags) != 1 || !strings.Contains(out, "Error: Expression nested too deeply") || !strings.Contains(out, "-var option") {
		t.Errorf("got:\n%.2000s", out)
	}
}

// A -var-file that is a FIFO is written once by its writer: the module reads it once,
// and an evaluation after the first (Evaluate after Settings, as plan and apply do)
// takes the same values instead of waiting for a second writer.
func TestVarFileFIFOReadOnce(t *testing.T) {
	dir := writeConfig(t, map[string]string{"main.sovos.hcl": "variable \"x\" { type = string }\n"})
	p := filepath.Join(dir, "vars")
	if err := syscall.Mkfifo(p, 0o644); err != nil {
		t.Fatal(err)
	}
	go func() { _ = os.WriteFile(p, []byte("x = \"y\"\n"), 0o644) }()
	m, diags := LoadDir(dir)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	opts := EvalOptions{Args: []VarArg{{File: true, Value: p}}}
	type result struct {
		cfg   *Config
		diags hcl.Diagnostics
	}
	done := make(chan result, 2)
	go func() {
		for _, eval := range []func(context.Context, EvalOptions) (*Config, hcl.Diagnostics){m.Settings, m.Evaluate} {
			cfg, diags := eval(context.Background(), opts)
			done <- result{cfg, diags}
		}
	}()
	for _, step := range []string{"Settings", "Evaluate"} {
		select {
		case r := <-done:
			if r.diags.HasErrors() {
				t.Fatalf("%s: %s", step, r.diags)
			}
			if len(r.cfg.Variables) != 1 || r.cfg.Variables[0].Value != cty.StringVal("y") {
				t.Errorf("%s: variables %v, want x = \"y\"", step, r.cfg.Variables)
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("%s hangs: it opens the FIFO again", step)
		}
	}
}
