package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/urmanac/sovos/internal/oci"
	"github.com/urmanac/sovos/internal/testenv"
	"github.com/urmanac/sovos/state"
)

// The lock and crash tests (SPEC §7 "Locking", "Crash windows"): sovos processes
// against the real registry, through testenv.StartFaultProxy, building with a real
// BuildKit daemon.

// run is a sovos process started in the background.
type run struct {
	cmd            *exec.Cmd
	stdout, stderr bytes.Buffer
	done           chan struct{}
	err            error
}

func start(t *testing.T, c *testenv.CLI, args ...string) *run {
	t.Helper()
	r := &run{cmd: c.Command(args...), done: make(chan struct{})}
	r.cmd.Stdout, r.cmd.Stderr = &r.stdout, &r.stderr
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { r.err = r.cmd.Wait(); close(r.done) }()
	t.Cleanup(func() { r.cmd.Process.Kill(); <-r.done })
	return r
}

// wait waits for the process to end and returns its exit code.
func (r *run) wait(t *testing.T, within time.Duration) int {
	t.Helper()
	select {
	case <-r.done:
	case <-time.After(within):
		r.cmd.Process.Kill()
		<-r.done
		t.Fatalf("sovos %s did not end within %v\nstdout:\n%s\nstderr:\n%s", strings.Join(r.cmd.Args[1:], " "), within, r.stdout.String(), r.stderr.String())
	}
	return r.cmd.ProcessState.ExitCode()
}

func (r *run) kill(t *testing.T) {
	t.Helper()
	if err := r.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-r.done
}

func (r *run) exited() bool {
	select {
	case <-r.done:
		return true
	default:
		return false
	}
}

func (r *run) String() string {
	return fmt.Sprintf("sovos %s (pid %d):\nstdout:\n%s\nstderr:\n%s", strings.Join(r.cmd.Args[1:], " "), r.cmd.Process.Pid, r.stdout.String(), r.stderr.String())
}

// waitFor polls cond until it holds, failing the test after within.
func waitFor(t *testing.T, within time.Duration, what string, cond func() bool, running ...*run) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		for _, r := range running {
			if r.exited() {
				t.Fatalf("waiting for %s: the process ended\n%s", what, r)
			}
		}
		if time.Now().After(deadline) {
			msg := ""
			for _, r := range running {
				msg += "\n" + r.String()
			}
			t.Fatalf("%s did not happen within %v%s", what, within, msg)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// direct reads the registry behind the proxy, faults aside.
type direct struct {
	t        *testing.T
	registry string
	client   *oci.Client
}

func newDirect(t *testing.T, f *faultFactory) *direct {
	return &direct{t: t, registry: f.registry, client: oci.New(oci.WithInsecure(f.registry), oci.WithKeychain(authn.NewMultiKeychain()))}
}

func (d *direct) backend(ws string) *state.Registry {
	b, err := state.NewRegistry(d.registry+"/factory/state", ws, state.WithClient(d.client))
	if err != nil {
		d.t.Fatal(err)
	}
	return b
}

// state reads workspace default's state (nil when there is none).
func (d *direct) state() *state.State {
	d.t.Helper()
	s, _, err := d.backend("default").Read(context.Background())
	if err != nil {
		d.t.Fatalf("reading the state: %v", err)
	}
	return s
}

func (d *direct) locks() []*state.LockInfo {
	d.t.Helper()
	l, err := d.backend("default").Locks(context.Background())
	if err != nil {
		d.t.Fatalf("reading the locks: %v", err)
	}
	return l
}

// stable returns the digest repo:stable points at ("" when absent).
func (d *direct) stable(repo string) string {
	d.t.Helper()
	ref, _ := name.NewTag(d.registry+"/factory/"+repo+":stable", name.Insecure)
	desc, err := remote.Head(ref)
	if err != nil {
		return ""
	}
	return desc.Digest.String()
}

// stableRepos are the factory's resources with stable tags, by repository.
var stableRepos = map[string]string{"kernel": "kernel.k", "ext": "extension.e", "installer": "installer.i", "cm5": "profile.cm5"}

// checkStableFromState checks every stable tag points at the digest the state records
// for its resource, and the state says so.
func (d *direct) checkStableFromState(s *state.State) {
	d.t.Helper()
	for repo, addr := range stableRepos {
		r := s.Resource(addr)
		if r == nil {
			d.t.Errorf("%s is not in the state", addr)
			continue
		}
		if got := d.stable(repo); got != r.Digest || r.Tags["stable"] != r.Digest {
			d.t.Errorf("%s:stable is %s, the state records %s (tags %v)", repo, got, r.Digest, r.Tags)
		}
	}
}

// planChanges runs plan -format=json and returns each change's action and reason kinds.
func planChanges(t *testing.T, c *testenv.CLI, args ...string) map[string]string {
	t.Helper()
	out, errOut, code := c.Run(append([]string{"plan", "-format=json"}, args...)...)
	if code != 0 {
		t.Fatalf("plan: exit %d\n%s", code, errOut)
	}
	var doc struct {
		ResourceChanges []struct {
			Address, Action string
			Reasons         []struct{ Kind, Message string }
		} `json:"resource_changes"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("plan -format=json: %v\n%s", err, out)
	}
	got := map[string]string{}
	for _, ch := range doc.ResourceChanges {
		var kinds []string
		for _, r := range ch.Reasons {
			kinds = append(kinds, r.Kind)
		}
		got[ch.Address] = ch.Action + " " + strings.Join(kinds, ",")
	}
	return got
}

func editFile(t *testing.T, c *testenv.CLI, rel string, edit func(string) string) {
	t.Helper()
	p := filepath.Join(c.Dir, rel)
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(edit(string(data))), 0o644); err != nil {
		t.Fatal(err)
	}
}

// bumpExtension changes the extension's version: it and the profile using it are
// rebuilt, nothing else.
func bumpExtension(t *testing.T, c *testenv.CLI, version string) {
	editFile(t, c, "ext/manifest.yaml", func(s string) string {
		i := strings.Index(s, "  version: ")
		j := strings.Index(s[i:], "\n")
		return s[:i] + "  version: " + version + s[i+j:]
	})
}

var lockPuts = testenv.AllOf(testenv.Methods(http.MethodPut), testenv.PathContains("/factory/state/manifests/default.lock."))

// TestCLITwoAppliesOneLock starts two applies together, several rounds, with every lock
// PUT delayed by a second (as long as the settle delay): exactly one builds, the other
// fails naming it (its pid), the serial only grows, and every stable tag comes from the
// winner's state.
//
// Two attempts whose locks exist at once both back off (a random 1–5 s): started
// together, they always do at first, and the -lock-timeout lets them try again apart.
// The winner's apply (a 15 s build) outlasts the other's -lock-timeout. When both time
// out backing off from each other, the round is tried again: nothing was built.
func TestCLITwoAppliesOneLock(t *testing.T) {
	// Mostly waiting (sleeping builds, TTLs, settle delays): it overlaps the others.
	t.Parallel()
	f := newFaultFactory(t, true)
	d := newDirect(t, f)
	f.proxy.Delay(lockPuts, time.Second)
	args := []string{"apply", f.state, "-auto-approve", "-promote", "-progress=plain", "-lock-timeout=12s"}
	serial := uint64(0)
	var installer string
	editFile(t, f.cli, "installer/Dockerfile", func(s string) string { installer = s; return s })
	for round := 1; round <= 3; round++ {
		// Every round has work: the extension, and the installer's slow build.
		bumpExtension(t, f.cli, fmt.Sprintf("1.0.%d", round))
		editFile(t, f.cli, "installer/Dockerfile", func(string) string { return installer + fmt.Sprintf("RUN sleep 15 # round %d\n", round) })
		var winner, loser *run
		for try := 1; winner == nil; try++ {
			if try > 5 {
				t.Fatalf("round %d: every try ended with both applies backing off", round)
			}
			a, b := start(t, f.cli, args...), start(t, f.cli, args...)
			ca, cb := a.wait(t, 5*time.Minute), b.wait(t, 5*time.Minute)
			switch {
			case ca == 0 && cb == 0:
				t.Fatalf("round %d: both applies succeeded\n%s\n%s", round, a, b)
			case ca == 0:
				winner, loser = a, b
			case cb == 0:
				winner, loser = b, a
			default:
				// Both backed off: each names the other, nothing was built.
				for _, p := range [][2]*run{{a, b}, {b, a}} {
					if !strings.Contains(p[0].stderr.String(), fmt.Sprintf("(pid %d)", p[1].cmd.Process.Pid)) || strings.Contains(p[0].stdout.String(), ": built") {
						t.Fatalf("round %d: both failed, but not as two contenders backing off\n%s\n%s", round, a, b)
					}
				}
				t.Logf("round %d, try %d: both backed off until their -lock-timeout", round, try)
			}
		}
		t.Logf("round %d: pid %d built, pid %d was refused", round, winner.cmd.Process.Pid, loser.cmd.Process.Pid)
		le := loser.stderr.String()
		for _, want := range []string{"state is locked by", fmt.Sprintf("(pid %d)", winner.cmd.Process.Pid), "operation apply", "sovos force-unlock "} {
			if !strings.Contains(le, want) {
				t.Errorf("round %d: the loser's error lacks %q\n%s", round, want, loser)
			}
		}
		if strings.Contains(loser.stdout.String(), ": built") || strings.Contains(loser.stdout.String(), "promoted") {
			t.Errorf("round %d: the loser built or promoted\n%s", round, loser)
		}
		if out := winner.stdout.String(); !strings.Contains(out, "extension.e: built") || !strings.Contains(out, "installer.i: built") || !strings.Contains(out, "promoted") {
			t.Errorf("round %d: the winner\n%s", round, winner)
		}
		s := d.state()
		if s == nil || s.Serial <= serial {
			t.Fatalf("round %d: the serial went from %d to %+v", round, serial, s)
		}
		serial = s.Serial
		d.checkStableFromState(s)
		if l := d.locks(); len(l) != 0 {
			t.Errorf("round %d: locks left: %+v", round, l)
		}
	}
}

// TestCLILockWaitLongerThanTTL: an apply that waited longer than the lock TTL for the
// lock holds a lock as good as any (the first release's was born expired): a third
// apply fails at once naming it, and it completes.
func TestCLILockWaitLongerThanTTL(t *testing.T) {
	// Mostly waiting (sleeping builds, TTLs, settle delays): it overlaps the others.
	t.Parallel()
	f := newFaultFactory(t, true)
	d := newDirect(t, f)
	const ttl = 8 * time.Second // W = 3 × 1s + 0.75s; 2W = 7.5s
	c := f.cli.With("SOVOS_REGISTRY_TIMEOUT=1s", "SOVOS_LOCK_TTL="+ttl.String())
	c.OK("apply", f.state, "-auto-approve", "-progress=quiet")
	// The installer's image build now takes 12 s (the imager stage sleeps).
	editFile(t, c, "installer/Dockerfile", func(s string) string { return s + "RUN sleep 12\n" })

	// An apply prints its plan once it holds the lock (taken before the state is read).
	holds := func(r *run) func() bool { return func() bool { return strings.Contains(r.stdout.String(), "Plan:") } }
	a := start(t, c, "apply", f.state, "-auto-approve", "-progress=plain")
	waitFor(t, time.Minute, "the first apply holding the lock", holds(a), a)
	bStart := time.Now()
	// The second rebuilds the installer again, without BuildKit's cache: as long.
	b := start(t, c, "apply", f.state, "-auto-approve", "-progress=plain", "-lock-timeout=3m", "-replace=installer.i")
	if code := a.wait(t, 3*time.Minute); code != 0 {
		t.Fatalf("first apply: exit %d\n%s", code, a)
	}
	bPid := fmt.Sprintf("(pid %d)", b.cmd.Process.Pid)
	waitFor(t, time.Minute, "the second apply holding the lock", holds(b), b)
	if l := d.locks(); len(l) != 1 || !strings.Contains(l[0].Who, bPid) {
		t.Fatalf("locks: %+v", l)
	}
	if waited := time.Since(bStart); waited < ttl {
		t.Fatalf("the second apply got the lock after %v, less than the TTL (%v): the test did not test a long wait", waited, ttl)
	} else {
		t.Logf("the second apply waited %v for the lock (TTL %v)", waited, ttl)
	}
	begin := time.Now()
	_, errOut, code := c.Run("apply", f.state, "-auto-approve", "-progress=quiet")
	if code != 1 || !strings.Contains(errOut, "state is locked by") || !strings.Contains(errOut, bPid) {
		t.Errorf("third apply: exit %d\n%s", code, errOut)
	}
	if took := time.Since(begin); took > 10*time.Second {
		t.Errorf("the third apply took %v to give up", took)
	}
	if code := b.wait(t, 3*time.Minute); code != 0 || !strings.Contains(b.stdout.String(), "installer.i: built") {
		t.Fatalf("second apply: exit %d\n%s", code, b)
	}
	if !strings.Contains(b.stderr.String(), "state is locked by") {
		t.Errorf("the second apply did not say it was waiting:\n%s", b)
	}
}

// TestCLILayoutTwoWorkspaces runs applies of two workspaces of one local layout at the
// same time, ten rounds: both states read back after each, serials growing, lineages
// kept. Each apply writes its state (outputs, data sources) in every round. The first
// applies, which build, run one after the other: two daemons' worth of identical
// concurrent pushes trip the CNCF registry's own race on one blob ("provided digest did
// not match uploaded content"), which is not what this test is about.
func TestCLILayoutTwoWorkspaces(t *testing.T) {
	// Mostly waiting (sleeping builds, TTLs, settle delays): it overlaps the others.
	t.Parallel()
	c := setup(t)
	layout := filepath.Join(t.TempDir(), "shared-state")
	serial := map[string]uint64{}
	lineage := map[string]string{}
	for _, ws := range []string{"a", "b"} {
		c.OK("apply", "-auto-approve", "-progress=quiet", "-state-path="+layout, "-workspace="+ws)
	}
	for round := 1; round <= 10; round++ {
		runs := map[string]*run{}
		for _, ws := range []string{"a", "b"} {
			runs[ws] = start(t, c, "apply", "-auto-approve", "-progress=quiet", "-state-path="+layout, "-workspace="+ws)
		}
		for ws, r := range runs {
			if code := r.wait(t, 5*time.Minute); code != 0 {
				t.Fatalf("round %d, workspace %s: exit %d\n%s", round, ws, code, r)
			}
		}
		for _, ws := range []string{"a", "b"} {
			b, err := state.NewLayout(layout, ws)
			if err != nil {
				t.Fatal(err)
			}
			s, _, err := b.Read(context.Background())
			if err != nil || s == nil {
				t.Fatalf("round %d: workspace %s reads back %v, %v", round, ws, s, err)
			}
			if s.Serial <= serial[ws] || (lineage[ws] != "" && s.Lineage != lineage[ws]) || s.Workspace != ws || s.Resource("profile.cm5") == nil {
				t.Fatalf("round %d: workspace %s: serial %d after %d, lineage %s (was %s), workspace %s, %d resources",
					round, ws, s.Serial, serial[ws], s.Lineage, lineage[ws], s.Workspace, len(s.Resources))
			}
			serial[ws], lineage[ws] = s.Serial, s.Lineage
		}
	}
	t.Logf("serials after ten rounds: %v", serial)
}

// TestCLIKilled kills `sovos apply` (SIGKILL) at the points where a crash could lose or
// corrupt something: after the kernel's push, before its certificate's; during a state
// write; during promotion. Each time the killed apply's lock is left behind and the next
// apply waits it out (a short TTL), the next plan adopts or rebuilds what it must (the
// kernel with its certificate), and nothing the state recorded is lost. SIGTERM, last,
// is a clean stop: the state is written and the lock released.
func TestCLIKilled(t *testing.T) {
	// Mostly waiting (sleeping builds, TTLs, settle delays): it overlaps the others.
	t.Parallel()
	f := newFaultFactory(t, true)
	d := newDirect(t, f)
	c := f.cli.With("SOVOS_REGISTRY_TIMEOUT=1s", "SOVOS_LOCK_TTL=8s")
	apply := []string{"apply", f.state, "-auto-approve", "-progress=plain"}
	// The next apply waits for the dead one's lock to go stale.
	again := append(apply, "-lock-timeout=2m")

	t.Run("after the kernel push, before its certificate", func(t *testing.T) {
		certWrites := testenv.AllOf(sovosRequests, testenv.PathContains("/v2/factory/kernel/"),
			testenv.Methods(http.MethodPost, http.MethodPut, http.MethodPatch))
		f.proxy.Silence(certWrites)
		seen := f.proxy.Count(certWrites)
		r := start(t, c, apply...)
		waitFor(t, 3*time.Minute, "the certificate upload", func() bool { return f.proxy.Count(certWrites) > seen }, r)
		r.kill(t)
		f.proxy.Clear()
		if s := d.state(); s != nil && s.Resource("kernel.k") != nil {
			t.Fatalf("the kernel was recorded without its certificate: %+v", s.Resource("kernel.k"))
		}
		got := planChanges(t, c, f.state)
		if got["kernel.k"] != "rebuild signing_cert_missing" || !strings.HasPrefix(got["extension.e"], "create") {
			t.Errorf("plan after the kill: %v", got)
		}
		out, errOut, code := c.Run(again...)
		if code != 0 || !strings.Contains(errOut, "released the stale state lock") || !strings.Contains(out, "kernel.k: built") {
			t.Fatalf("apply after the kill: exit %d\n%s\n%s", code, out, errOut)
		}
		k := d.state().Resource("kernel.k")
		if k == nil || len(k.SigningCert) == 0 {
			t.Fatalf("kernel recorded: %+v", k)
		}
		if out := c.OK("verify", f.state); !strings.Contains(out, "extension.e: OK") {
			t.Errorf("verify:\n%s", out)
		}
		// Its certificate is in the registry now: a new workspace adopts the kernel.
		if got := planChanges(t, c, f.state, "-workspace=fresh"); got["kernel.k"] != "adopt found_in_registry" {
			t.Errorf("plan of a new workspace: %v", got)
		}
	})

	t.Run("during a state write", func(t *testing.T) {
		before := d.state()
		bumpExtension(t, c, "1.0.7")
		statePuts := testenv.AllOf(sovosRequests, testenv.Methods(http.MethodPut), func(r *http.Request) bool {
			return strings.HasSuffix(r.URL.Path, "/factory/state/manifests/default")
		})
		f.proxy.Silence(statePuts)
		seen := f.proxy.Count(statePuts)
		r := start(t, c, apply...)
		waitFor(t, 3*time.Minute, "a state write", func() bool { return f.proxy.Count(statePuts) > seen }, r)
		r.kill(t)
		f.proxy.Clear()
		after := d.state()
		if after.Serial != before.Serial || after.Lineage != before.Lineage || digestsOf(after) != digestsOf(before) {
			t.Fatalf("the state changed: serial %d -> %d\n%s\n%s", before.Serial, after.Serial, digestsOf(before), digestsOf(after))
		}
		if got := planChanges(t, c, f.state); !strings.HasPrefix(got["extension.e"], "rebuild") || got["kernel.k"] != "no-op " {
			t.Errorf("plan after the kill: %v", got)
		}
		if out, errOut, code := c.Run(again...); code != 0 || !strings.Contains(out, "extension.e: built") || !strings.Contains(errOut, "released the stale state lock") {
			t.Fatalf("apply after the kill: exit %d\n%s\n%s", code, out, errOut)
		}
		s := d.state()
		if e := s.Resource("extension.e"); e.Verified == nil || !e.Verified.OK || e.Verified.Digest != e.Digest || s.Serial <= before.Serial {
			t.Errorf("extension after the second apply: %+v (serial %d)", e.Verified, s.Serial)
		}
	})

	t.Run("during promotion", func(t *testing.T) {
		before := d.state()
		extStable := testenv.AllOf(sovosRequests, testenv.Methods(http.MethodPut), testenv.PathContains("/v2/factory/ext/manifests/stable"))
		f.proxy.Silence(extStable)
		seen := f.proxy.Count(extStable)
		r := start(t, c, append(apply, "-promote")...)
		waitFor(t, 3*time.Minute, "the extension's promotion", func() bool { return f.proxy.Count(extStable) > seen }, r)
		r.kill(t)
		f.proxy.Clear()
		// The kernel's tag moved before the kill; the state lost nothing it had.
		if got := d.stable("kernel"); got != before.Resource("kernel.k").Digest {
			t.Errorf("kernel:stable = %q, want %s", got, before.Resource("kernel.k").Digest)
		}
		after := d.state()
		if after.Serial < before.Serial || digestsOf(after) != digestsOf(before) {
			t.Fatalf("the state lost something:\n%s\n%s", digestsOf(before), digestsOf(after))
		}
		got := planChanges(t, c, f.state, "-promote")
		if !strings.HasPrefix(got["extension.e"], "promote") {
			t.Errorf("plan -promote after the kill: %v", got)
		}
		if out, errOut, code := c.Run(append(again, "-promote")...); code != 0 || !strings.Contains(out, "promoted") || !strings.Contains(errOut, "released the stale state lock") {
			t.Fatalf("apply -promote after the kill: exit %d\n%s\n%s", code, out, errOut)
		}
		d.checkStableFromState(d.state())
	})

	t.Run("SIGTERM", func(t *testing.T) {
		before := d.state()
		editFile(t, c, "installer/Dockerfile", func(s string) string { return s + "RUN sleep 300\n" })
		r := start(t, c, apply...)
		// The installer's slow build is running once the lock is held and the plan shown.
		waitFor(t, time.Minute, "the apply's plan", func() bool { return strings.Contains(r.stdout.String(), "Plan:") }, r)
		time.Sleep(3 * time.Second)
		if err := r.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		if code := r.wait(t, time.Minute); code != 1 || !strings.Contains(r.stderr.String(), "apply interrupted") {
			t.Errorf("SIGTERM: exit %d\n%s", code, r)
		}
		if s := d.state(); s.Serial <= before.Serial || s.Resource("installer.i").Digest != before.Resource("installer.i").Digest {
			t.Errorf("after SIGTERM: serial %d (was %d), installer %s (was %s)", s.Serial, before.Serial, s.Resource("installer.i").Digest, before.Resource("installer.i").Digest)
		}
		if l := d.locks(); len(l) != 0 {
			t.Errorf("the lock was not released: %+v", l)
		}
	})
}

// digestsOf lists a state's resources with their digests, for comparisons.
func digestsOf(s *state.State) string {
	var b strings.Builder
	for _, r := range s.Resources {
		fmt.Fprintf(&b, "%s=%s ", r.Address, r.Digest)
	}
	return b.String()
}

// TestCLILoserStops: an apply whose lock is taken from it (force-unlock, then another
// sovos writes the state) stops at once: its running build is cancelled, it promotes
// nothing, writes nothing more, and says what happened.
func TestCLILoserStops(t *testing.T) {
	// Mostly waiting (sleeping builds, TTLs, settle delays): it overlaps the others.
	t.Parallel()
	f := newFaultFactory(t, true)
	d := newDirect(t, f)
	c := f.cli.With("SOVOS_REGISTRY_TIMEOUT=1s", "SOVOS_LOCK_TTL=8s")
	c.OK("apply", f.state, "-auto-approve", "-progress=quiet")
	oldExt := d.state().Resource("extension.e").Hash
	editFile(t, c, "installer/Dockerfile", func(s string) string { return s + "RUN sleep 300\n" })
	bumpExtension(t, c, "1.0.9")
	stable := map[string]string{}
	for repo := range stableRepos {
		stable[repo] = d.stable(repo)
	}

	a := start(t, c, "apply", f.state, "-auto-approve", "-promote", "-progress=plain")
	// The extension is rebuilt, verified and recorded; the installer's slow build runs.
	waitFor(t, 3*time.Minute, "the new extension recorded", func() bool {
		e := d.state().Resource("extension.e")
		return e != nil && e.Hash != oldExt && e.Verified != nil && e.Verified.Digest == e.Digest
	}, a)
	time.Sleep(2 * time.Second) // coalesced writes land
	locks := d.locks()
	if len(locks) != 1 {
		t.Fatalf("locks: %+v", locks)
	}
	held := locks[0]
	serial := d.state().Serial

	// Someone force-unlocks it and removes a resource from the state meanwhile.
	c.OK("force-unlock", f.state, "-force", held.ID)
	stopped := time.Now()
	c.OK("state", "rm", f.state, "profile.cm4")
	if code := a.wait(t, time.Minute); code != 1 {
		t.Fatalf("the apply that lost its lock: exit %d\n%s", code, a)
	}
	took := time.Since(stopped)
	t.Logf("stopped %v after the force-unlock", took)
	if took > 30*time.Second {
		t.Errorf("it took %v to stop", took)
	}
	for _, want := range []string{"apply stopped: lost the state lock " + held.ID, "released by someone else", "no tag was promoted", "Tags not promoted: the state lock was lost"} {
		if !strings.Contains(a.stderr.String()+a.stdout.String(), want) {
			t.Errorf("the output lacks %q", want)
		}
	}
	if strings.Contains(a.stdout.String(), "installer.i: built") || strings.Contains(a.stdout.String(), ": promoted") {
		t.Errorf("the loser went on:\n%s", a)
	}
	for repo, before := range stable {
		if got := d.stable(repo); got != before {
			t.Errorf("%s:stable moved from %s to %s", repo, before, got)
		}
	}
	// The state is the one `state rm` wrote: one write after the loser's last.
	if s := d.state(); s.Serial != serial+1 || s.Resource("profile.cm4") != nil {
		t.Errorf("state serial %d (the loser's last write was %d), cm4 %v", s.Serial, serial, s.Resource("profile.cm4"))
	}
}
