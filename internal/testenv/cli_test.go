package testenv

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestMain(m *testing.M) { Main(m) }

// echoTool builds testdata/echo through the same path as Sovos and Modsign.
func echoTool(t *testing.T) string {
	t.Helper()
	return buildTool(t, "echo", "github.com/urmanac/sovos/internal/testenv/testdata/echo")
}

func TestBuildToolOnce(t *testing.T) {
	first := echoTool(t)
	st, err := os.Stat(first)
	if err != nil {
		t.Fatal(err)
	}
	if second := echoTool(t); second != first {
		t.Errorf("second build at %s, want the first one's %s", second, first)
	}
	if again, err := os.Stat(first); err != nil || !again.ModTime().Equal(st.ModTime()) {
		t.Errorf("the binary was rebuilt (%v)", err)
	}
	if !strings.HasPrefix(first, os.TempDir()) {
		t.Errorf("binary at %s, want it under the temporary directory Main removes", first)
	}
}

func TestCLI(t *testing.T) {
	c := NewCLI(t, echoTool(t))
	c.Dir = t.TempDir()
	c.Chdir = "cfg"
	c.Args = []string{"-no-color"}
	c.Env = append(os.Environ(), "ECHO_VAR=base")

	out, errOut, code := c.Run("plan", "-exit=2")
	wd, _ := filepath.EvalSymlinks(c.Dir)
	for _, want := range []string{"dir=" + wd + "\n", "args=-chdir=cfg -no-color plan -exit=2\n", "var=base\n", `stdin=""` + "\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout lacks %q:\n%s", want, out)
		}
	}
	if errOut != "to stderr\n" || code != 2 {
		t.Errorf("stderr %q, exit %d; want \"to stderr\\n\", 2", errOut, code)
	}

	// With adds to a copy's environment; the original keeps its own.
	if out := c.With("ECHO_VAR=other").OK(); !strings.Contains(out, "var=other\n") {
		t.Errorf("With: %s", out)
	}
	if out := c.OK(); !strings.Contains(out, "var=base\n") {
		t.Errorf("after With, the original's environment changed: %s", out)
	}

	c.Stdin = "yes\n"
	if out := c.Expect(3, "-exit=3"); !strings.Contains(out, `stdin="yes\n"`) {
		t.Errorf("stdin not passed: %s", out)
	}

	// A wrong exit code fails the test and shows both outputs.
	r := record(t, func(tb testing.TB) {
		d := *c
		d.t = tb
		d.Expect(0, "-exit=1")
	})
	if len(r.fatals) != 1 || !strings.Contains(r.fatals[0], "exit 1, want 0") || !strings.Contains(r.fatals[0], "to stderr") {
		t.Errorf("Expect with the wrong exit code: fatals %q", r.fatals)
	}
}
