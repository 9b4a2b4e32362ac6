package testenv

import (
	"os"
	"testing"
)

// SkipOrFail is what a test does when something it needs from the machine is missing (a
// daemon, a tool, root): on a developer's machine it skips, saying what to install; in CI
// ($CI set) it fails, since a CI run that silently skips its end-to-end tests proves
// nothing.
func SkipOrFail(t testing.TB, why string) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf("prerequisite missing (CI is set, so this fails instead of skipping): %s", why)
	}
	t.Skipf("skipping: %s (with CI set this fails)", why)
}
