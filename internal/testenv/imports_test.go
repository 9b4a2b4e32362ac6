package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
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
	"internal/oci": 0, "internal/gitref": 0, "internal/grammar": 0, "internal/imagerinit": 0, "executor/dag": 0, "executor/gitsource": 0,
	"config": 1, "state": 1, "executor/bkdriver": 1, "attest": 1,
	"hashing": 2, "executor/verify": 2, "bootmedia": 2,
	"planner": 3, "pin": 3, "gc": 3,
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

// mayImport reads the "may import" column of docs/architecture.md's table of packages:
// for each package, the sovos packages it may import ("executor/*": executor's
// subpackages), or nil for "everything below" (any package of a lower rank).
func mayImport(t *testing.T) map[string][]string {
	t.Helper()
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "architecture.md"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	for _, line := range strings.Split(string(doc), "\n") {
		cells := strings.Split(line, "|")
		if !strings.HasPrefix(line, "| `") || len(cells) != 5 {
			continue
		}
		pkg := strings.Trim(strings.TrimSpace(cells[1]), "`")
		allowed := []string{}
		switch may := strings.TrimSpace(cells[3]); may {
		case "everything below":
			allowed = nil
		case "nothing":
		default:
			for _, a := range strings.Split(may, ",") {
				a = strings.Trim(strings.TrimSpace(a), "`")
				if _, ok := rank[strings.TrimSuffix(a, "/*")]; !ok {
					t.Errorf("docs/architecture.md: %s may import %q, which is no package with a rank", pkg, a)
				}
				allowed = append(allowed, a)
			}
		}
		out[pkg] = allowed
	}
	if len(out) == 0 {
		t.Fatal("docs/architecture.md has no table of packages")
	}
	return out
}

// allows reports whether a "may import" list admits dep.
func allows(list []string, dep string) bool {
	for _, a := range list {
		if a == dep || strings.HasSuffix(a, "/*") && strings.HasPrefix(dep, strings.TrimSuffix(a, "*")) {
			return true
		}
	}
	return false
}

// TestImportDirection enforces docs/architecture.md: imports run downward only (the
// picture's ranks), each package imports only what its row in the table says it may,
// and nothing imports cmd.
func TestImportDirection(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list; skipped with -short")
	}
	table := mayImport(t)
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
		allowed, listed := table[pkg]
		if !listed {
			t.Errorf("%s has no row in docs/architecture.md's table: say what it may import", pkg)
		}
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
			} else if listed && allowed != nil && !allows(allowed, dep) {
				t.Errorf("%s imports %s, which its row in docs/architecture.md's table does not list under \"may import\" (%s): add it there if it belongs, or import something else", pkg, dep, strings.Join(allowed, ", "))
			}
		}
	}
	if checked < len(rank) {
		t.Errorf("checked %d packages, the ranks name %d: a package was renamed or removed; update the ranks", checked, len(rank))
	}
}

// TestLayoutDocumented keeps the README's "Repository layout" and docs/architecture.md
// true to the tree: every package of the layers is named in both.
func TestLayoutDocumented(t *testing.T) {
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join("..", "..", name))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	readme := read("README.md")
	_, layout, ok := strings.Cut(readme, "\n## Repository layout\n")
	if !ok {
		t.Fatal("README.md has no \"## Repository layout\" section")
	}
	layout, _, _ = strings.Cut(layout, "\n## ")
	arch := read("docs/architecture.md")
	for pkg := range rank {
		if !strings.Contains(layout, "`"+pkg+"`") {
			t.Errorf("README.md's Repository layout does not name `%s`", pkg)
		}
		if !strings.Contains(arch, pkg) {
			t.Errorf("docs/architecture.md does not name %s", pkg)
		}
	}
}
