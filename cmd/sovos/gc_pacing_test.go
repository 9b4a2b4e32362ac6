package main

import (
	"os"
	"runtime/debug"
	"testing"
)

// The commands that evaluate and exit run under evaluatingGCPercent; the others keep
// the default, and a GOGC in the environment wins over both.
func TestEvaluatingCommandsPaceGC(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	if v, ok := os.LookupEnv("GOGC"); ok {
		os.Unsetenv("GOGC")
		defer os.Setenv("GOGC", v)
	}
	dir := writeFiles(t, map[string]string{"main.sovos.hcl": "source \"s\" {\n  path = \".\"\n}\n"})
	percentAfter := func(args ...string) int {
		t.Helper()
		if _, stderr, code := runApp(t, args...); code != 0 {
			t.Fatalf("sovos %v: exit %d: %s", args, code, stderr)
		}
		return debug.SetGCPercent(100)
	}
	if p := percentAfter("version"); p != 100 {
		t.Errorf("after `sovos version` GOGC is %d, want the default 100", p)
	}
	for _, cmd := range []string{"validate", "graph"} {
		if p := percentAfter("-chdir="+dir, cmd); p != evaluatingGCPercent {
			t.Errorf("after `sovos %s` GOGC is %d, want %d", cmd, p, evaluatingGCPercent)
		}
	}
	// A renamed command would drop out of the list without a word.
	app := newApp()
	for _, name := range evaluatingCommands {
		if app.Command(name) == nil {
			t.Errorf("evaluatingCommands names %q, which is not a sovos command", name)
		}
	}
	t.Setenv("GOGC", "100")
	if p := percentAfter("-chdir="+dir, "validate"); p != 100 {
		t.Errorf("with GOGC=100 in the environment, `sovos validate` set GOGC to %d", p)
	}
}
