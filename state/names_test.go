package state

import (
	"regexp"
	"strings"
	"testing"
)

// TestNameGrammars holds isWorkspace and isTag (a short expression plus a length
// check) to the grammars they stand for, written as counted repetitions.
func TestNameGrammars(t *testing.T) {
	workspace := regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
	tag := regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$`)
	var names []string
	for _, n := range []int{0, 1, 2, 63, 64, 65, 127, 128, 129, 200} {
		for _, c := range []string{"a", "Z", "_", "-", ".", "é", "/", " ", "\n"} {
			names = append(names, strings.Repeat(c, n), "a"+strings.Repeat(c, n), strings.Repeat(c, n)+"a")
		}
	}
	names = append(names, "default", "prod-eu_1", "v1.2.3", "-x", ".x", "a.lock.123.ab", "é", "a\x00")
	for _, s := range names {
		if got, want := isWorkspace(s), workspace.MatchString(s); got != want {
			t.Errorf("isWorkspace(%q) = %v, want %v", s, got, want)
		}
		if got, want := isTag(s), tag.MatchString(s); got != want {
			t.Errorf("isTag(%q) = %v, want %v", s, got, want)
		}
	}
}
