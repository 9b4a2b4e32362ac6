package e2e

import (
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"

	"github.com/urmanac/sovos/internal/oci"
	"github.com/urmanac/sovos/internal/testenv"
)

// signalled is a factory behind the fault proxy, with what a signal test needs.
type signalled struct {
	*faultFactory
	d   *direct
	reg *oci.Client // through the proxy, as sovos sees the registry
}

func newSignalled(t *testing.T) *signalled {
	f := newFaultFactory(t, true)
	return &signalled{faultFactory: f, d: newDirect(t, f), reg: oci.New(oci.WithInsecure(f.proxy.Host), oci.WithKeychain(authn.NewMultiKeychain()))}
}

// digest is what ref points at ("" when it does not exist).
func (s *signalled) digest(t *testing.T, ref string) string {
	t.Helper()
	return digestIn(t, s.reg, ref)
}

func (s *signalled) apply(t *testing.T, args ...string) {
	t.Helper()
	s.cli.OK(append([]string{"apply", "-auto-approve", "-progress=quiet", s.state}, args...)...)
}

// sigterm starts sovos with args, sends it SIGTERM once the proxy has seen a request
// slow matches (each held 4 s), and returns the run, ended, after checking what every
// interrupted command does: exit 1, the notice, the lock released.
func (s *signalled) sigterm(t *testing.T, slow testenv.Match, args ...string) *run {
	t.Helper()
	s.proxy.Delay(slow, 4*time.Second)
	defer s.proxy.Clear()
	seen := s.proxy.Count(slow)
	r := start(t, s.cli, args...)
	waitFor(t, 2*time.Minute, "the first slowed request", func() bool { return s.proxy.Count(slow) > seen }, r)
	if err := r.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	code := r.wait(t, time.Minute)
	t.Logf("after SIGTERM:\n%s", r)
	if code != 1 {
		t.Errorf("after SIGTERM: exit %d, want 1\n%s", code, r)
	}
	if !strings.Contains(r.stderr.String(), "Interrupt received: ") {
		t.Errorf("no notice of the interrupt:\n%s", r)
	}
	if l := s.d.locks(); len(l) != 0 {
		t.Errorf("the lock was not released: %+v", l)
	}
	return r
}

// TestCLISignalsRollback sends SIGTERM (a CI job cancelled) to `sovos rollback` while
// its first tag move is held by the fault proxy: that move finishes, no other starts,
// the moved tag is recorded as a new serial, the lock is released, and it exits 1
// saying what moved, what did not and what to run; the registry matches the record by
// digest, and the same rollback run next takes the lock at once and moves the rest.
// Then `state rm` and `state push` interrupted before their write: nothing written, the
// lock released.
func TestCLISignalsRollback(t *testing.T) {
	// Mostly waiting (builds, delayed requests): it overlaps the others.
	t.Parallel()
	s := newSignalled(t)
	c, f, d := s.cli, s, s.d
	// Two promoted applies, the second after a kernel change (everything rebuilt).
	s.apply(t, "-promote")
	first := d.state()
	editFile(t, c, "kernel/vmlinuz", func(string) string { return "a kernel, second build\n" })
	s.apply(t, "-promote")
	second := d.state()
	to := strconv.FormatUint(first.Serial, 10)

	// rollback: the kernel's tag moves first (dependency order); SIGTERM while its PUT is
	// held. That move finishes, the other three never start.
	stablePuts := testenv.AllOf(sovosRequests, testenv.Methods(http.MethodPut), testenv.PathContains("/manifests/stable"))
	rollback := []string{"rollback", "-to=" + to, "-auto-approve", f.state}
	r := s.sigterm(t, stablePuts, rollback...)
	kernel := f.proxy.Host + "/factory/kernel:stable"
	var others []string
	for ref := range stableTags(first) {
		if ref != kernel {
			others = append(others, ref)
		}
	}
	slices.Sort(others)
	want := "Error: rollback interrupted: 1 tag of 4 moved back to serial " + to + " (" + kernel + ") and recorded in serial " + strconv.FormatUint(second.Serial+1, 10) +
		"; 3 tags not moved (" // listed in the plan's order
	if !strings.Contains(r.stderr.String(), want) || !strings.Contains(r.stderr.String(), "Run `sovos rollback -to="+to+"` again to move the others") ||
		strings.Contains(r.stdout.String(), "Rollback complete") {
		t.Errorf("rollback's message lacks %q:\n%s", want, r)
	}
	for _, ref := range others {
		if !strings.Contains(r.stderr.String(), ref) {
			t.Errorf("the message does not name %s, not moved:\n%s", ref, r)
		}
	}
	third := d.state()
	if third.Serial != second.Serial+1 || third.History == nil || third.History.Operation != "rollback" || third.History.RolledBackTo != first.Serial {
		t.Fatalf("after the interrupted rollback: serial %d (was %d), history %+v", third.Serial, second.Serial, third.History)
	}
	if want := map[string]string{kernel: stableTags(first)[kernel]}; !maps.Equal(third.History.Promoted, want) {
		t.Errorf("the history entry records %v, want %v", third.History.Promoted, want)
	}
	// The registry is what the state records, by digest: the kernel's tag moved back,
	// the others not.
	for ref, dg := range stableTags(third) {
		if got := s.digest(t, ref); got != dg {
			t.Errorf("%s -> %s, the state records %s", ref, got, dg)
		}
	}
	for _, ref := range others {
		if got := s.digest(t, ref); got != stableTags(second)[ref] {
			t.Errorf("%s moved to %s after the interrupt", ref, got)
		}
	}
	// The lock is free at once (no -lock-timeout: one try), and the same rollback moves
	// the three others.
	began := time.Now()
	out := c.OK(rollback...)
	if !strings.Contains(out, "Rollback: 3 tags to move back") || !strings.Contains(out, "Rollback complete! 3 tags moved back") {
		t.Errorf("the second rollback (%s):\n%s", time.Since(began), out)
	}
	for ref, dg := range stableTags(first) {
		if got := s.digest(t, ref); got != dg {
			t.Errorf("after the second rollback %s -> %s, want %s", ref, got, dg)
		}
	}

	// state rm and state push, interrupted while they read the state: nothing written.
	now := d.state()
	stateReads := testenv.AllOf(sovosRequests, testenv.Methods(http.MethodGet, http.MethodHead), func(r *http.Request) bool {
		return strings.HasSuffix(r.URL.Path, "/factory/state/manifests/default")
	})
	r = s.sigterm(t, stateReads, "state", "rm", "extension.e", f.state)
	if want := "Error: state rm interrupted: nothing was removed. Run the same `sovos state rm` again"; !strings.Contains(r.stderr.String(), want) {
		t.Errorf("state rm's message lacks %q:\n%s", want, r)
	}
	pulled := c.OK("state", "pull", f.state)
	if err := os.WriteFile(filepath.Join(c.Dir, "pulled.json"), []byte(pulled), 0o644); err != nil {
		t.Fatal(err)
	}
	r = s.sigterm(t, stateReads, "state", "push", "pulled.json", f.state)
	if want := "Error: state push interrupted: nothing was stored. Run the same `sovos state push` again"; !strings.Contains(r.stderr.String(), want) {
		t.Errorf("state push's message lacks %q:\n%s", want, r)
	}
	if after := d.state(); after.Serial != now.Serial || after.Resource("extension.e") == nil {
		t.Errorf("an interrupted state rm|push wrote serial %d (was %d)", after.Serial, now.Serial)
	}
	// The lock is free at once.
	if out := c.OK("state", "rm", "extension.e", f.state); !strings.Contains(out, "serial "+strconv.FormatUint(now.Serial+1, 10)) {
		t.Errorf("state rm after the interrupts:\n%s", out)
	}
}

// TestCLISignalsGC sends SIGTERM to `sovos gc` while its first DELETE is held by the
// fault proxy: that delete finishes, no other starts, what was deleted is recorded as a
// new serial, the lock is released, and it exits 1 saying what was deleted, what not
// and what to run; the registry matches the record, and the next gc deletes the rest.
func TestCLISignalsGC(t *testing.T) {
	// Mostly waiting (builds, delayed requests): it overlaps the others.
	t.Parallel()
	s := newSignalled(t)
	c, f, d := s.cli, s, s.d
	// A promoted apply, then two that are not, each with another extension: the middle
	// one's extension and profile are referred to by nothing but the history.
	s.apply(t, "-promote")
	editFile(t, c, "ext/Dockerfile", func(s string) string { return s + "# second build\n" })
	s.apply(t)
	editFile(t, c, "ext/Dockerfile", func(s string) string { return s + "# third build\n" })
	s.apply(t)
	before := d.state()
	gcArgs := []string{"gc", "-keep=1", "-min-age=0", "-auto-approve", f.state}
	dry := c.OK("gc", "-keep=1", "-min-age=0", "-dry-run", f.state)
	planned := manifestsListed(dry)
	if len(planned) < 3 {
		t.Fatalf("gc -dry-run plans %v:\n%s", planned, dry)
	}
	deletes := testenv.AllOf(sovosRequests, testenv.Methods(http.MethodDelete), testenv.PathContains("/manifests/"),
		func(r *http.Request) bool { return !strings.Contains(r.URL.Path, "/factory/state/") })
	// SIGTERM while the first DELETE is held.
	r := s.sigterm(t, deletes, gcArgs...)
	after := d.state()
	if after.Serial != before.Serial+1 || after.History == nil || after.History.Operation != "gc" || len(after.History.Deleted) == 0 {
		t.Fatalf("after the interrupted gc: serial %d (was %d), history %+v\n%s", after.Serial, before.Serial, after.History, r)
	}
	// What the entry records is gone, all else planned is there: one manifest (with its
	// tag) was deleted, the rest never started.
	gone := map[string]bool{}
	for _, ref := range after.History.Deleted {
		m := manifestOf(ref)
		gone[m] = true
		if s.digest(t, m) != "" {
			t.Errorf("the history records %s deleted, but it is there", ref)
		}
	}
	left := 0
	for _, m := range planned {
		if !gone[m] {
			left++
			if s.digest(t, m) == "" {
				t.Errorf("%s was deleted but the history does not record it (%v)", m, after.History.Deleted)
			}
		}
	}
	if len(gone) != 1 {
		t.Errorf("the interrupted gc deleted %v: the delete in flight finishes, no other starts", after.History.Deleted)
	}
	want := "Error: gc interrupted: 1 manifest of " + strconv.Itoa(len(planned)) + " deleted (" + after.History.Deleted[0] + "), recorded in serial " + strconv.FormatUint(after.Serial, 10) +
		"; " + strconv.Itoa(left) + " manifests not deleted. Run `sovos gc` again: it finds what is left to delete"
	if !strings.Contains(r.stderr.String(), want) || strings.Contains(r.stderr.String(), "Delete these by hand") || strings.Contains(r.stdout.String(), "GC complete") {
		t.Errorf("gc's message lacks %q:\n%s", want, r)
	}
	// The lock is free at once; the next gc deletes the rest.
	out := c.OK(gcArgs...)
	if !strings.Contains(out, "GC complete!") {
		t.Errorf("the second gc:\n%s", out)
	}
	for _, m := range planned {
		if s.digest(t, m) != "" {
			t.Errorf("%s survived the second gc", m)
		}
	}
	c.OK("verify", f.state)
}

// manifestsListed returns every manifest a gc plan lists to delete (artifacts and
// what goes with them), as repository@digest.
func manifestsListed(out string) []string {
	var refs []string
	for _, l := range strings.Split(out, "\n") {
		t := strings.TrimSpace(l)
		switch {
		case strings.HasPrefix(l, "  - "):
			refs = append(refs, manifestOf(strings.Fields(strings.TrimPrefix(t, "- "))[0]))
		case strings.HasPrefix(t, "with "):
			refs = append(refs, manifestOf(strings.TrimPrefix(t, "with ")))
		}
	}
	return refs
}

// manifestOf turns repository:tag@digest into repository@digest.
func manifestOf(ref string) string {
	name, dg, ok := strings.Cut(ref, "@")
	if !ok {
		return ref
	}
	if i := strings.LastIndex(name, ":"); i > strings.LastIndex(name, "/") {
		name = name[:i]
	}
	return name + "@" + dg
}
