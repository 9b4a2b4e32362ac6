package testenv

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// recorder is a testing.TB that records what a helper reports instead of failing the
// test that runs it. Fatalf and Skipf end the helper's goroutine, as they do for a test.
type recorder struct {
	testing.TB
	errors, fatals, skips []string
}

func (r *recorder) Helper() {}
func (r *recorder) Errorf(format string, args ...any) {
	r.errors = append(r.errors, fmt.Sprintf(format, args...))
}
func (r *recorder) Fatalf(format string, args ...any) {
	r.fatals = append(r.fatals, fmt.Sprintf(format, args...))
	panic(r)
}
func (r *recorder) Skipf(format string, args ...any) {
	r.skips = append(r.skips, fmt.Sprintf(format, args...))
	panic(r)
}

// record runs f against a fresh recorder and returns what it reported.
func record(t *testing.T, f func(testing.TB)) *recorder {
	r := &recorder{TB: t}
	func() {
		defer func() {
			if v := recover(); v != nil && v != r {
				panic(v)
			}
		}()
		f(r)
	}()
	return r
}

func setUpdate(t *testing.T, v bool) {
	old := *update
	*update = v
	t.Cleanup(func() { *update = old })
}

func TestGolden(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "testdata", "sub", "plan.golden")

	setUpdate(t, false)
	r := record(t, func(tb testing.TB) { Golden(tb, path, []byte("a\nb\n")) })
	if len(r.fatals) != 1 || !strings.Contains(r.fatals[0], "-update") {
		t.Errorf("missing golden file: fatals %q, want one naming -update", r.fatals)
	}

	setUpdate(t, true)
	if r := record(t, func(tb testing.TB) { Golden(tb, path, []byte("a\nb\n")) }); len(r.errors)+len(r.fatals) != 0 {
		t.Fatalf("-update: %q %q", r.errors, r.fatals)
	}
	if data, err := os.ReadFile(path); err != nil || string(data) != "a\nb\n" {
		t.Fatalf("-update wrote %q, %v", data, err)
	}

	setUpdate(t, false)
	if r := record(t, func(tb testing.TB) { Golden(tb, path, []byte("a\nb\n")) }); len(r.errors)+len(r.fatals) != 0 {
		t.Errorf("equal contents reported: %q %q", r.errors, r.fatals)
	}
	r = record(t, func(tb testing.TB) { Golden(tb, path, []byte("a\nc\n")) })
	if len(r.errors) != 1 || !strings.Contains(r.errors[0], path) ||
		!strings.Contains(r.errors[0], "\n a\n-b\n+c\n") {
		t.Errorf("a changed line: errors %q, want one naming the file with the lines -b +c", r.errors)
	}
	if data, _ := os.ReadFile(path); string(data) != "a\nb\n" {
		t.Errorf("a comparison changed the golden file to %q", data)
	}
}

func TestSkipOrFail(t *testing.T) {
	t.Setenv("CI", "")
	r := record(t, func(tb testing.TB) { SkipOrFail(tb, "no frobnicator (apt-get install frob)") })
	if len(r.skips) != 1 || len(r.fatals) != 0 || !strings.Contains(r.skips[0], "apt-get install frob") {
		t.Errorf("locally: skips %q, fatals %q; want one skip saying what to install", r.skips, r.fatals)
	}
	t.Setenv("CI", "true")
	r = record(t, func(tb testing.TB) { SkipOrFail(tb, "no frobnicator (apt-get install frob)") })
	if len(r.fatals) != 1 || len(r.skips) != 0 || !strings.Contains(r.fatals[0], "apt-get install frob") {
		t.Errorf("under CI: skips %q, fatals %q; want one failure", r.skips, r.fatals)
	}
}

func TestLineDiff(t *testing.T) {
	var want, got []string
	for i := range 20 {
		want = append(want, fmt.Sprint("line ", i))
		got = append(got, fmt.Sprint("line ", i))
	}
	got[3] = "changed 3"
	got = append(got[:15], got[16:]...) // line 15 removed
	d := lineDiff(strings.Join(want, "\n")+"\n", strings.Join(got, "\n"))
	wantDiff := `...
 line 1
 line 2
-line 3
+changed 3
 line 4
 line 5
...
 line 13
 line 14
-line 15
 line 16
 line 17
 line 18
-line 19
+line 19 (no newline at end)
`
	if d != wantDiff {
		t.Errorf("lineDiff:\n%s\nwant:\n%s", d, wantDiff)
	}
}
