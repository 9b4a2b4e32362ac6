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

// rank is each package's line in docs/architecture.md's picture, lowest first: a
// package may import only packages of a lower rank (its own subpackages included).
var rank = map[string]int{
	"internal/oci": 0, "internal/gitref": 0, "internal/imagerinit": 0, "executor/dag": 0, "executor/gitsource": 0,
	"config": 1, "state": 1, "executor/bkdriver": 1, "attest": 1,
	"hashing": 2, "executor/verify": 2, "bootmedia": 2, "gc": 2,
	"planner": 3, "pin": 3,
	"planner/planfile": 4,
	"executor":         5,
	"rollback":         6,
	"views":            7,
	"operation":        8,
	"cmd/sovos":        9,
}

// outsideLayers are not part of sovos's own layers: tests, test tools and generators.
func outsideLayers(pkg string) bool {
	for _, p := range []string{"internal/testenv", "internal/modsign", "internal/modsigntest", "internal/e2e", "examples", "internal/imagerinit/gen", "internal/imagerinit/helper"} {
		if pkg == p || strings.HasPrefix(pkg, p+"/") {
			return true
		}
	}
	return false
}

// TestImportDirection enforces docs/architecture.md: imports run downward only, and
// nothing imports cmd.
func TestImportDirection(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list; skipped with -short")
	}
	const mod = "github.com/urmanac/sovos/"
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}}{{range .Imports}} {{.}}{{end}}`, mod+"...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	checked := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		pkg := strings.TrimPrefix(fields[0], mod)
		if outsideLayers(pkg) {
			continue
		}
		r, ok := rank[pkg]
		if !ok {
			t.Errorf("%s is in no layer: give it a line in docs/architecture.md and a rank in TestImportDirection", pkg)
			continue
		}
		checked++
		for _, imp := range fields[1:] {
			dep, ours := strings.CutPrefix(imp, mod)
			if !ours {
				continue
			}
			if strings.HasPrefix(dep, "cmd/") {
				t.Errorf("%s imports %s: nothing imports cmd", pkg, dep)
				continue
			}
			if outsideLayers(dep) {
				continue // test-only imports are TestProductionImportsNoTestCode's business
			}
			if dr, ok := rank[dep]; ok && dr >= r {
				t.Errorf("%s (layer %d) imports %s (layer %d): imports run downward only (docs/architecture.md)", pkg, r, dep, dr)
			}
		}
	}
	if checked < len(rank) {
		t.Errorf("checked %d packages, the ranks name %d: a package was renamed or removed; update the ranks", checked, len(rank))
	}
}
