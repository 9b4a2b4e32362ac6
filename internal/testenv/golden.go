package testenv

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// update is the -update flag of every test binary that imports testenv: with it, Golden
// rewrites the golden files instead of comparing with them.
var update = flag.Bool("update", false, "rewrite golden files (testenv.Golden) instead of comparing with them")

// Golden compares got with the golden file at path (relative to the test's package
// directory, by convention under testdata/) and reports the lines that differ. Run the
// test with -update to write got to path instead, creating its directory; review the
// change with git diff.
func Golden(t testing.TB, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatalf("updating golden file: %v", err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatalf("updating golden file: %v", err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("golden file: %v (run the test with -update to create it)", err)
	}
	if string(want) != string(got) {
		t.Errorf("%s differs (-want +got); run the test with -update to accept:\n%s", path, lineDiff(string(want), string(got)))
	}
}

// lineDiff shows how got differs from want, line by line, with two lines of context
// around each change.
func lineDiff(want, got string) string {
	a, b := splitLines(want), splitLines(got)
	// Beyond this the quadratic table costs more than a diff is worth: say where the
	// first difference is.
	if len(a)*len(b) > 4<<20 {
		i := 0
		for i < len(a) && i < len(b) && a[i] == b[i] {
			i++
		}
		return fmt.Sprintf("first difference at line %d (%d lines want, %d got)", i+1, len(a), len(b))
	}
	// lcs[i][j] is the length of the longest common subsequence of a[i:] and b[j:].
	lcs := make([][]int, len(a)+1)
	for i := range lcs {
		lcs[i] = make([]int, len(b)+1)
	}
	for i := len(a) - 1; i >= 0; i-- {
		for j := len(b) - 1; j >= 0; j-- {
			if a[i] == b[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	type line struct {
		op   byte // ' ', '-', '+'
		text string
	}
	var ops []line
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		switch {
		case i < len(a) && j < len(b) && a[i] == b[j]:
			ops = append(ops, line{' ', a[i]})
			i, j = i+1, j+1
		case i < len(a) && (j == len(b) || lcs[i+1][j] >= lcs[i][j+1]):
			ops = append(ops, line{'-', a[i]})
			i++
		default:
			ops = append(ops, line{'+', b[j]})
			j++
		}
	}
	// Print every change and the unchanged lines within two lines of one.
	const context = 2
	show := make([]bool, len(ops))
	for k, o := range ops {
		if o.op != ' ' {
			for c := max(k-context, 0); c <= min(k+context, len(ops)-1); c++ {
				show[c] = true
			}
		}
	}
	var out strings.Builder
	for k, o := range ops {
		if !show[k] {
			continue
		}
		if k > 0 && !show[k-1] {
			out.WriteString("...\n")
		}
		fmt.Fprintf(&out, "%c%s\n", o.op, o.text)
	}
	return out.String()
}

// splitLines splits s into lines; a missing final newline shows as its own marker.
func splitLines(s string) []string {
	if s == "" {
		return nil
	}
	lines := strings.SplitAfter(s, "\n")
	if lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	for i, l := range lines {
		if strings.HasSuffix(l, "\n") {
			lines[i] = strings.TrimSuffix(l, "\n")
		} else {
			lines[i] = l + " (no newline at end)"
		}
	}
	return lines
}
