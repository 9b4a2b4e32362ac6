package testenv

import (
	"os/exec"
	"strings"
	"testing"
)

// testOnly are the packages only tests (and the test tools under internal/) may import.
var testOnly = []string{
	"github.com/urmanac/sovos/internal/testenv",
	"github.com/urmanac/sovos/internal/modsigntest",
}

// TestProductionImportsNoTestCode keeps the test harness and the module signer out of
// what sovos ships: no non-test package outside internal/ depends on them.
func TestProductionImportsNoTestCode(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list; skipped with -short")
	}
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}}{{range .Deps}} {{.}}{{end}}`, "github.com/urmanac/sovos/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	checked := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		pkg, deps, _ := strings.Cut(line, " ")
		if strings.HasPrefix(pkg, "github.com/urmanac/sovos/internal/") {
			continue
		}
		checked++
		for _, d := range strings.Fields(deps) {
			for _, bad := range testOnly {
				if d == bad {
					t.Errorf("%s imports %s, which is for tests only", pkg, bad)
				}
			}
		}
	}
	if checked == 0 {
		t.Fatalf("go list listed no production packages:\n%s", out)
	}
}
