package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"
)

// runApp runs the CLI in-process and returns stdout, stderr and the exit code.
func runApp(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	app := newApp()
	var out, errOut bytes.Buffer
	app.Writer, app.ErrWriter = &out, &errOut
	app.ExitErrHandler = func(*cli.Context, error) {}
	err := app.Run(interspersedArgs(app, append([]string{"sovos"}, args...)))
	code := 0
	var ec cli.ExitCoder
	switch {
	case errors.As(err, &ec):
		code = ec.ExitCode()
		errOut.WriteString(ec.Error())
	case err != nil:
		code = 1
		errOut.WriteString(err.Error())
	}
	return out.String(), errOut.String(), code
}

func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for n, s := range files {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, n)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, n), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

const brokenConfig = `source "pkgs" {
  git = "https://github.com/siderolabs/pkgs.git"
}
`

func TestValidate(t *testing.T) {
	out, errOut, code := runApp(t, "-chdir=../../config/testdata/adr005", "validate")
	if code != 0 || out != "Success! The configuration is valid.\n" {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}

	dir := writeFiles(t, map[string]string{"main.sovos.hcl": brokenConfig})
	out, errOut, code = runApp(t, "-chdir="+dir, "-no-color", "validate")
	if code != 1 || out != "" {
		t.Fatalf("exit %d, stdout %q", code, out)
	}
	if !strings.Contains(errOut, "main.sovos.hcl line 2") || strings.Count(errOut, "Missing commit") != 1 {
		t.Errorf("stderr:\n%s", errOut)
	}

	out, _, code = runApp(t, "-chdir="+dir, "validate", "-json")
	var doc struct {
		Valid       bool
		ErrorCount  int `json:"error_count"`
		Diagnostics []struct {
			Range struct {
				Filename string
				Start    struct{ Line int }
			}
			Snippet *struct{ Code string }
		}
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("validate -json: %v\n%s", err, out)
	}
	if code != 1 || doc.Valid || doc.ErrorCount != 1 || doc.Diagnostics[0].Range.Start.Line != 2 ||
		!strings.HasSuffix(doc.Diagnostics[0].Range.Filename, "main.sovos.hcl") || doc.Diagnostics[0].Snippet == nil {
		t.Errorf("exit %d, doc %+v", code, doc)
	}
}

func TestFmt(t *testing.T) {
	ugly := "source \"pkgs\" {\n  path=\"./x\"\n    ref = \"main\"\n}\n"
	pretty := "source \"pkgs\" {\n  path = \"./x\"\n  ref  = \"main\"\n}\n"
	dir := writeFiles(t, map[string]string{
		"main.sovos.hcl":      ugly,
		"ok.sovos.hcl":        pretty,
		"x.auto.sovosvars":    "a=1\n",
		"sub/b.sovos.hcl":     ugly,
		"notes.txt":           "a=1\n",
		"c.sovos.json":        `{"x":1}`,
		".hidden/h.sovos.hcl": ugly,
	})
	out, _, code := runApp(t, "-chdir="+dir, "fmt", "-check")
	if code != 3 || out != filepath.Join(dir, "main.sovos.hcl")+"\n"+filepath.Join(dir, "x.auto.sovosvars")+"\n" {
		t.Fatalf("fmt -check: exit %d, out %q", code, out)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "main.sovos.hcl")); string(b) != ugly {
		t.Fatal("fmt -check wrote a file")
	}
	out, _, code = runApp(t, "-chdir="+dir, "fmt", "-check", "-diff")
	if code != 3 || !strings.Contains(out, "-  path=\"./x\"\n") || !strings.Contains(out, "+  path = \"./x\"\n") || !strings.Contains(out, "@@ -1,4 +1,4 @@") {
		t.Errorf("fmt -diff:\n%s", out)
	}
	if _, _, code = runApp(t, "-chdir="+dir, "fmt", "-recursive"); code != 0 {
		t.Fatalf("fmt: exit %d", code)
	}
	for _, f := range []string{"main.sovos.hcl", "sub/b.sovos.hcl"} {
		if b, _ := os.ReadFile(filepath.Join(dir, f)); string(b) != pretty {
			t.Errorf("%s not formatted:\n%s", f, b)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(dir, ".hidden/h.sovos.hcl")); string(b) != ugly {
		t.Error("fmt entered a hidden directory")
	}
	if _, _, code = runApp(t, "-chdir="+dir, "fmt", "-check", "-recursive"); code != 0 {
		t.Errorf("fmt -check after fmt: exit %d", code)
	}

	bad := writeFiles(t, map[string]string{"main.sovos.hcl": "source \"x\" {\n"})
	if _, errOut, code := runApp(t, "-chdir="+bad, "fmt"); code != 1 || !strings.Contains(errOut, "main.sovos.hcl line") {
		t.Errorf("fmt of broken syntax: exit %d, %s", code, errOut)
	}
}

func TestGraphCommand(t *testing.T) {
	dir := writeFiles(t, map[string]string{"main.sovos.hcl": `
variable "names" {
  type = string
}
source "s" {
  for_each = toset(split(",", var.names))
  path     = each.key
}
`, "a/Dockerfile": "FROM scratch\n", "b/Dockerfile": "FROM scratch\n"})
	// -var keeps its comma (urfave/cli would split a StringSlice), and may follow
	// other flags in any order.
	out, errOut, code := runApp(t, "-chdir="+dir, "graph", "-var", "names=a,b", "-format=mermaid")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	want := "flowchart LR\n  n0[(\"source.s[#quot;a#quot;]\")]\n  n1[(\"source.s[#quot;b#quot;]\")]\n"
	if !strings.HasPrefix(out, want) {
		t.Errorf("mermaid:\n%s\nwant prefix:\n%s", out, want)
	}
	out, _, code = runApp(t, "-chdir="+dir, "graph", "-var-file=v.sovosvars", "-var", "names=x")
	if code != 1 {
		t.Errorf("missing var-file: exit %d, %s", code, out)
	}
	if _, errOut, code := runApp(t, "-chdir="+dir, "graph", "-format=svg", "-var", "names=x"); code != 1 || !strings.Contains(errOut, "-format=svg: use dot or mermaid") {
		t.Errorf("bad format: exit %d, %s", code, errOut)
	}
}

// graph -plan notes each changed resource's action from a saved plan.
func TestGraphWithPlan(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"main.sovos.hcl": `
source "s" {
  path = "./ctx"
}
kernel "k" {
  source = source.s
  image  = "registry.example/kernel"
}
`,
		"ctx/Dockerfile": "FROM scratch\n",
	})
	planFile := filepath.Join(dir, "plan.out")
	if _, errOut, code := runApp(t, "-chdir="+dir, "plan", "-refresh=false", "-out="+planFile); code != 0 {
		t.Fatalf("plan: exit %d: %s", code, errOut)
	}
	out, errOut, code := runApp(t, "-chdir="+dir, "graph", "-plan="+planFile)
	if code != 0 {
		t.Fatalf("graph -plan: exit %d: %s", code, errOut)
	}
	if !strings.Contains(out, `"kernel.k" [label = "kernel.k\n(create)", shape = "box", style = "bold"]`) {
		t.Errorf("kernel.k not noted as created:\n%s", out)
	}
	if strings.Contains(out, `source.s\n(`) {
		t.Errorf("a source has no action, yet it is noted:\n%s", out)
	}
	if _, errOut, code := runApp(t, "-chdir="+dir, "graph", "-plan="+filepath.Join(dir, "main.sovos.hcl")); code != 1 || !strings.Contains(errOut, "not a sovos plan") {
		t.Errorf("graph -plan on a config file: exit %d, %s", code, errOut)
	}
}
