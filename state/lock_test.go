package state

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/v1/random"

	"github.com/urmanac/sovos/internal/oci"
	"github.com/urmanac/sovos/internal/testenv"
)

// The lock tests run with a short registry timeout, so that the fencing window W (3 ×
// timeout + 0.75 s = 1.65 s) and with it the lock TTL (at least 2W) fit in a test.
const (
	testTimeout = 300 * time.Millisecond
	testTTL     = 4 * time.Second
	testSettle  = 200 * time.Millisecond
)

// quick is the wait between attempts in tests, instead of a random 1–5 s.
var quick = withBackoff(func() time.Duration { return 100 * time.Millisecond })

// lockRegistry opens workspace main in host/sovos/state as a sovos process would, with
// its own client (User-Agent ua, for the fault proxy to tell processes apart).
func lockRegistry(t *testing.T, host, ua string) *Registry {
	return lockRegistryTimeout(t, host, ua, testTimeout)
}

func lockRegistryTimeout(t *testing.T, host, ua string, timeout time.Duration) *Registry {
	t.Helper()
	c := oci.New(oci.WithInsecure(host), oci.WithKeychain(authn.NewMultiKeychain()),
		oci.WithTimeout(timeout), oci.WithUserAgent(ua))
	r, err := NewRegistry(host+"/sovos/state", "main", WithClient(c), WithLockSettle(testSettle))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// lockStores returns, per backend, a function opening the same store as another sovos
// process would, every time it is called.
func lockStores(t *testing.T) map[string]func(who string) Locker {
	return map[string]func(string) Locker{
		"registry": func() func(string) Locker {
			host := testenv.MemRegistry(t)
			return func(who string) Locker { return lockRegistry(t, host, who) }
		}(),
		"layout": func() func(string) Locker {
			dir := filepath.Join(t.TempDir(), "state")
			return func(string) Locker {
				l, err := NewLayout(dir, "main")
				if err != nil {
					t.Fatal(err)
				}
				return l
			}
		}(),
	}
}

func lockInfo(who string) *LockInfo {
	i := NewLockInfo("apply", "0.1.0")
	i.Who = who
	return i
}

func TestLockExcludes(t *testing.T) {
	for name, open := range lockStores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			ia := lockInfo("ci@runner-1")
			ha, err := Hold(ctx, open("a"), ia, WithTTL(testTTL))
			if err != nil {
				t.Fatal(err)
			}
			b := open("b")
			_, err = Hold(ctx, b, lockInfo("ci@runner-2"), WithTTL(testTTL))
			var le *LockError
			if !errors.As(err, &le) || le.Info == nil || le.Info.ID != ia.ID {
				t.Fatalf("second locker: %v, want a LockError naming %s", err, ia.ID)
			}
			for _, want := range []string{"ci@runner-1", ia.ID, "operation apply", "force-unlock " + ia.ID} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("lock error %q does not mention %q", err, want)
				}
			}
			// It waits with a timeout, then gives up with the same error.
			start := time.Now()
			if _, err := Hold(ctx, b, lockInfo("ci@runner-2"), WithTTL(testTTL), WithTimeout(time.Second), quick); !errors.As(err, &le) {
				t.Errorf("Hold with a timeout: %v", err)
			}
			if el := time.Since(start); el < 800*time.Millisecond {
				t.Errorf("Hold gave up after %v with a 1s timeout", el)
			}
			if locks, err := b.Locks(ctx); err != nil || len(locks) != 1 || locks[0].ID != ia.ID {
				t.Errorf("Locks = %v, %v", locks, err)
			}
			if err := b.Unlock(ctx, "wrong-id"); err == nil || !strings.Contains(err.Error(), ia.ID) {
				t.Errorf("Unlock with a foreign ID: %v", err)
			}
			if err := ha.Release(ctx); err != nil {
				t.Fatal(err)
			}
			if err := ha.Release(ctx); err != nil {
				t.Errorf("second Release: %v", err)
			}
			if locks, err := b.Locks(ctx); err != nil || len(locks) != 0 {
				t.Errorf("Locks after release = %v, %v", locks, err)
			}
			hb, err := Hold(ctx, b, lockInfo("ci@runner-2"), WithTTL(testTTL))
			if err != nil {
				t.Fatalf("locking after release: %v", err)
			}
			if err := hb.Release(ctx); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestLockWaitLongerThanTTL: a lock acquired after waiting longer than the TTL is as
// good as any (the first release's was born expired): its holder writes, and a third
// sovos fails at once naming it. The first holder, renewing, was never taken over.
func TestLockWaitLongerThanTTL(t *testing.T) {
	for name, open := range lockStores(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			ha, err := Hold(ctx, open("a"), lockInfo("a"), WithTTL(testTTL))
			if err != nil {
				t.Fatal(err)
			}
			hold := testTTL + testTTL/2
			aErr := make(chan error, 1)
			go func() {
				time.Sleep(hold)
				s := New("main", "0.1.0")
				s.Serial = 1
				_, err := ha.Write(ctx, s)
				ha.Release(ctx)
				aErr <- err
			}()
			start := time.Now()
			hb, err := Hold(ctx, open("b"), lockInfo("b"), WithTTL(testTTL), WithTimeout(4*testTTL), quick)
			waited := time.Since(start)
			if err != nil {
				t.Fatalf("b waiting %v: %v", waited, err)
			}
			defer hb.Release(ctx)
			if err := <-aErr; err != nil {
				t.Fatalf("a's write at the end of its hold: %v (taken over?)", err)
			}
			if waited < hold {
				t.Fatalf("b got the lock after %v, while a held it for %v", waited, hold)
			}
			// b holds a lock taken after waiting longer than the TTL: not expired.
			start = time.Now()
			_, err = Hold(ctx, open("c"), lockInfo("c"), WithTTL(testTTL))
			var le *LockError
			if !errors.As(err, &le) || le.Info.ID != hb.Info().ID {
				t.Fatalf("third locker: %v, want a LockError naming b", err)
			}
			if took := time.Since(start); took > 2*time.Second {
				t.Errorf("the third locker took %v to fail", took)
			}
			time.Sleep(testTTL / 2)
			s := New("main", "0.1.0")
			s.Serial = 2
			if _, _, err := hb.Read(ctx); err != nil {
				t.Fatal(err)
			}
			if _, err := hb.Write(ctx, s); err != nil {
				t.Errorf("b's write: %v", err)
			}
		})
	}
}

// TestRegistryLockRace starts two lockers together, one of them with a lock PUT slower
// than the settle delay (the first release crowned two winners that way): never more
// than one holds the lock.
func TestRegistryLockRace(t *testing.T) {
	proxy := testenv.StartFaultProxy(t, testenv.MemRegistry(t))
	lockPut := testenv.AllOf(testenv.Methods(http.MethodPut), testenv.PathContains("/manifests/main.lock."))
	// Slower than the settle delay, well within the request deadline (2s here).
	proxy.Delay(testenv.AllOf(lockPut, testenv.UserAgentContains("slow")), 2*testSettle+100*time.Millisecond)
	ctx := context.Background()
	winners := 0
	for round := range 8 {
		// Alternate who starts first.
		names := []string{"fast", "slow"}
		if round%2 == 1 {
			names[0], names[1] = names[1], names[0]
		}
		var wg sync.WaitGroup
		held := make([]*Held, 2)
		errs := make([]error, 2)
		for i, ua := range names {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := lockRegistryTimeout(t, proxy.Host, ua, 2*time.Second)
				held[i], errs[i] = Hold(ctx, r, lockInfo(ua), WithTTL(15*time.Second))
			}()
			time.Sleep(time.Duration(round%3) * 20 * time.Millisecond)
		}
		wg.Wait()
		n := 0
		for i, h := range held {
			if h != nil {
				n++
				continue
			}
			var le *LockError
			if !errors.As(errs[i], &le) {
				t.Errorf("round %d: %s failed with %v, want a LockError", round, names[i], errs[i])
			}
		}
		t.Logf("round %d: %d winner(s); %v", round, n, errs)
		if n > 1 {
			t.Fatalf("round %d: both lockers hold the lock", round)
		}
		winners += n
		for _, h := range held {
			if h != nil {
				h.Release(ctx)
			}
		}
	}
	if winners == 0 {
		t.Error("nobody ever got the lock")
	}
}

// TestRegistryStaleLock: a lock nobody renews counts for one TTL from when an observer
// first sees it; a waiter with a shorter timeout fails naming it, a longer one releases
// it and takes the lock.
func TestRegistryStaleLock(t *testing.T) {
	ctx := context.Background()
	host := testenv.MemRegistry(t)
	dead := lockRegistry(t, host, "dead")
	info := lockInfo("dead@host")
	if _, err := dead.pushLock(ctx, dead.repo.Tag("main.lock.1700000000000.dead"), info); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err := Hold(ctx, lockRegistry(t, host, "b"), lockInfo("b"), WithTTL(testTTL), WithTimeout(testTTL/2), quick)
	var le *LockError
	if !errors.As(err, &le) || le.Info.ID != info.ID || !strings.Contains(err.Error(), "force-unlock "+info.ID) {
		t.Fatalf("waiting less than the TTL: %v", err)
	}
	if took := time.Since(start); took > testTTL {
		t.Errorf("gave up after %v", took)
	}
	var logs []string
	var mu sync.Mutex
	logf := func(f string, a ...any) { mu.Lock(); logs = append(logs, fmt.Sprintf(f, a...)); mu.Unlock() }
	start = time.Now()
	h, err := Hold(ctx, lockRegistry(t, host, "c"), lockInfo("c"), WithTTL(testTTL), WithTimeout(3*testTTL), quick, WithLogf(logf))
	if err != nil {
		t.Fatalf("waiting longer than the TTL: %v", err)
	}
	defer h.Release(ctx)
	if took := time.Since(start); took < testTTL {
		t.Errorf("the dead lock was released after %v, before a TTL (%v) of observation", took, testTTL)
	}
	if !strings.Contains(strings.Join(logs, "\n"), "released the stale state lock main.lock.1700000000000.dead") {
		t.Errorf("logs: %q", logs)
	}
	if locks, err := dead.Locks(ctx); err != nil || len(locks) != 1 || locks[0].ID != h.Info().ID {
		t.Errorf("locks after the takeover: %v, %v", locks, err)
	}
}

// TestRegistryLegacyLock: a live first-release lock (the tag WORKSPACE.lock) is honoured
// until it is released.
func TestRegistryLegacyLock(t *testing.T) {
	ctx := context.Background()
	host := testenv.MemRegistry(t)
	old := lockRegistry(t, host, "old")
	// What the first release wrote, an expiry in the past included: expiries mean
	// nothing any more.
	data := []byte(`{"id": "0d5e1b5e-9b43-4a1e-8b1e-3b6c0b8f7a11", "operation": "apply", "who": "old@ci",
		"version": "0.1.0", "created": "2026-01-01T00:00:00Z", "expires": "2026-01-01T00:05:00Z"}`)
	img, _ := newArtifact(LockArtifactType, LockLayerMediaType, data)
	if err := old.client.Write(ctx, old.repo.Tag("main.lock"), img); err != nil {
		t.Fatal(err)
	}
	r := lockRegistry(t, host, "new")
	_, err := Hold(ctx, r, lockInfo("new"), WithTTL(testTTL))
	var le *LockError
	if !errors.As(err, &le) || le.Info.ID != "0d5e1b5e-9b43-4a1e-8b1e-3b6c0b8f7a11" || le.Info.Who != "old@ci" {
		t.Fatalf("Hold over a first-release lock: %v", err)
	}
	if err := r.Unlock(ctx, le.Info.ID); err != nil {
		t.Fatal(err)
	}
	h, err := Hold(ctx, r, lockInfo("new"), WithTTL(testTTL))
	if err != nil {
		t.Fatalf("Hold after force-unlock: %v", err)
	}
	h.Release(ctx)
}

func TestLockTTLShorterThanTwoWindows(t *testing.T) {
	r := lockRegistry(t, testenv.MemRegistry(t), "a")
	_, err := Hold(context.Background(), r, lockInfo("a"), WithTTL(3*time.Second))
	for _, want := range []string{"SOVOS_LOCK_TTL=3s", "W = 3 × SOVOS_REGISTRY_TIMEOUT + 0.75s = 1.65s", "at least 3.3s"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Hold with a TTL under 2W: %v, want it to say %q", err, want)
		}
	}
}

// tagMover pushes an image to host/x/img:src and returns a function moving the tag
// host/x/img:stable to it with ctx, as promotion does.
func tagMover(t *testing.T, host string) (move func(ctx context.Context) error, moved func() bool) {
	t.Helper()
	c := oci.New(oci.WithInsecure(host), oci.WithKeychain(authn.NewMultiKeychain()))
	img, err := random.Image(16, 1)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	src, _ := c.NewTag(host + "/x/img:src")
	dst, _ := c.NewTag(host + "/x/img:stable")
	if err := c.Write(ctx, src, img); err != nil {
		t.Fatal(err)
	}
	desc, err := c.Get(ctx, src)
	if err != nil {
		t.Fatal(err)
	}
	return func(ctx context.Context) error { return c.Tag(ctx, dst, desc) },
		func() bool { _, err := c.Head(ctx, dst); return err == nil }
}

// TestFenceForceUnlocked: a holder whose lock was force-unlocked writes nothing and
// moves no tag; a registry holder notices at its next renewal and says so (Lost).
func TestFenceForceUnlocked(t *testing.T) {
	for name, open := range lockStores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			a := open("a")
			h, err := Hold(ctx, a, lockInfo("a"), WithTTL(testTTL))
			if err != nil {
				t.Fatal(err)
			}
			defer h.Release(ctx)
			s := New("main", "0.1.0")
			s.Serial = 1
			if _, err := h.Write(ctx, s); err != nil {
				t.Fatal(err)
			}
			if err := open("b").Unlock(ctx, h.Info().ID); err != nil {
				t.Fatal(err)
			}
			if name == "registry" {
				select {
				case <-h.Lost():
				case <-time.After(testTTL):
					t.Fatal("the holder did not notice its lock was released")
				}
			}
			s.Serial = 2
			if _, err := h.Write(ctx, s); !errors.Is(err, ErrLockLost) || !strings.Contains(err.Error(), "force-unlock") {
				t.Errorf("write after force-unlock: %v", err)
			}
			move, moved := tagMover(t, testenv.MemRegistry(t))
			if err := move(h.Guard(ctx)); !errors.Is(err, ErrLockLost) {
				t.Errorf("tag move after force-unlock: %v", err)
			}
			if moved() {
				t.Error("the tag was moved")
			}
			if got, _, err := a.Read(ctx); err != nil || got.Serial != 1 {
				t.Errorf("stored state: %+v, %v", got, err)
			}
		})
	}
}

// TestFenceStateChanged: a state written under the holder's feet (-lock=false) stops it.
func TestFenceStateChanged(t *testing.T) {
	for name, open := range lockStores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			h, err := Hold(ctx, open("a"), lockInfo("a"), WithTTL(testTTL))
			if err != nil {
				t.Fatal(err)
			}
			defer h.Release(ctx)
			s := New("main", "0.1.0")
			s.Serial = 1
			if _, err := h.Write(ctx, s); err != nil {
				t.Fatal(err)
			}
			intruder := New("main", "0.1.0")
			intruder.Serial = 5
			b := open("b")
			if _, err := b.Write(ctx, intruder); err != nil {
				t.Fatal(err)
			}
			move, _ := tagMover(t, testenv.MemRegistry(t))
			if err := move(h.Guard(ctx)); !errors.Is(err, ErrLockLost) || !strings.Contains(err.Error(), "changed under the lock") {
				t.Errorf("tag move: %v", err)
			}
			s.Serial = 2
			if _, err := h.Write(ctx, s); !errors.Is(err, ErrLockLost) {
				t.Errorf("write: %v", err)
			}
			if got, _, err := b.Read(ctx); err != nil || got.Serial != 5 {
				t.Errorf("stored state: %+v, %v", got, err)
			}
		})
	}
}

// TestFenceRenewalFails: a holder that cannot renew (its lock PUTs go unanswered) stops
// itself once its last renewal began TTL − W ago, before anyone may find its lock stale:
// no write, no tag move, and Lost says why.
func TestFenceRenewalFails(t *testing.T) {
	ctx := context.Background()
	mem := testenv.MemRegistry(t)
	proxy := testenv.StartFaultProxy(t, mem)
	r := lockRegistry(t, proxy.Host, "holder")
	h, err := Hold(ctx, r, lockInfo("holder"), WithTTL(testTTL))
	if err != nil {
		t.Fatal(err)
	}
	defer h.Release(ctx)
	start := time.Now()
	proxy.Silence(testenv.AllOf(testenv.Methods(http.MethodPut), testenv.PathContains("/manifests/main.lock.")))
	select {
	case <-h.Lost():
	case <-time.After(2 * testTTL):
		t.Fatal("the holder never stopped")
	}
	limit := testTTL - FenceWindow(testTimeout)
	if took := time.Since(start); took > limit+500*time.Millisecond {
		t.Errorf("stopped after %v; the limit is %v", took, limit)
	}
	t.Log(h.Err())
	if !strings.Contains(h.Err().Error(), "last successful renewal began") {
		t.Errorf("Err = %v", h.Err())
	}
	proxy.Clear()
	statePuts := testenv.AllOf(testenv.Methods(http.MethodPut), testenv.PathContains("/sovos/state/manifests/main"))
	before := proxy.Count(statePuts)
	if _, err := h.Write(ctx, New("main", "0.1.0")); !errors.Is(err, ErrLockLost) {
		t.Errorf("write: %v", err)
	}
	move, moved := tagMover(t, mem)
	if err := move(h.Guard(ctx)); !errors.Is(err, ErrLockLost) || moved() {
		t.Errorf("tag move: %v", err)
	}
	if n := proxy.Count(statePuts) - before; n != 0 {
		t.Errorf("%d state PUTs reached the registry", n)
	}
}

// TestLayoutConcurrentWorkspaces writes two workspaces of one layout at once, 200 times:
// every write is there to read back (the first release lost a quarter of them).
func TestLayoutConcurrentWorkspaces(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "state")
	open := func(ws string) *Layout {
		l, err := NewLayout(dir, ws)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	states := map[string]*State{"a": New("a", "0.1.0"), "b": New("b", "0.1.0")}
	var readErrs, lost int
	for round := 1; round <= 200; round++ {
		var wg sync.WaitGroup
		errs := make(chan error, 3)
		for ws, s := range states {
			s.Serial = uint64(round)
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := open(ws).Write(ctx, s); err != nil {
					errs <- err
				}
			}()
		}
		wg.Add(1)
		go func() { // a reader meanwhile
			defer wg.Done()
			if _, _, err := open("a").Read(ctx); err != nil {
				errs <- err
			}
		}()
		wg.Wait()
		close(errs)
		for err := range errs {
			readErrs++
			t.Errorf("round %d: %v", round, err)
		}
		for ws := range states {
			got, _, err := open(ws).Read(ctx)
			if err != nil || got == nil || got.Serial != uint64(round) || got.Lineage != states[ws].Lineage {
				lost++
				t.Errorf("round %d: workspace %s reads back %+v, %v", round, ws, got, err)
			}
		}
		if t.Failed() {
			t.Fatalf("%d errors, %d writes lost", readErrs, lost)
		}
	}
}

// TestLayoutLockNeverTakenOver: a lock file whose flock is held (its sovos runs) is never
// taken over, however long one waits; one whose holder died is taken over at once.
func TestLayoutLockNeverTakenOver(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	open := func() *Layout { l, _ := NewLayout(dir, "main"); return l }
	dead := lockInfo("dead@host")
	data, _ := json.Marshal(dead)
	if err := os.WriteFile(filepath.Join(dir, "main.lock"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	var logs []string
	h, err := Hold(ctx, open(), lockInfo("a"), WithLogf(func(f string, a ...any) { logs = append(logs, fmt.Sprintf(f, a...)) }))
	if err != nil {
		t.Fatalf("taking over a dead holder's lock: %v", err)
	}
	if len(logs) != 1 || !strings.Contains(logs[0], dead.ID) {
		t.Errorf("logs: %q", logs)
	}
	_, err = Hold(ctx, open(), lockInfo("b"), WithTTL(time.Second), WithTimeout(2*time.Second), quick)
	var le *LockError
	if !errors.As(err, &le) || le.Info.ID != h.Info().ID || !strings.Contains(err.Error(), "that sovos is still running") || strings.Contains(err.Error(), "if its sovos is dead") {
		t.Errorf("second locker: %v", err)
	}
	if err := h.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "main.lock")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("lock file left after release: %v", err)
	}
}

// TestFenceOwnWritesMeanwhile: the holder's own state writes, running while it moves
// tags (the apply's coalesced writes during promotion), never fail its fence.
func TestFenceOwnWritesMeanwhile(t *testing.T) {
	for name, open := range lockStores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			h, err := Hold(ctx, open("a"), lockInfo("a"), WithTTL(testTTL))
			if err != nil {
				t.Fatal(err)
			}
			defer h.Release(ctx)
			move, _ := tagMover(t, testenv.MemRegistry(t))
			done := make(chan error, 1)
			go func() {
				s := New("main", "0.1.0")
				for i := range 30 {
					s.Serial = uint64(i + 1)
					if _, err := h.Write(ctx, s); err != nil {
						done <- err
						return
					}
				}
				done <- nil
			}()
			for range 30 {
				if err := move(h.Guard(ctx)); err != nil {
					t.Fatalf("tag move while writing: %v", err)
				}
			}
			if err := <-done; err != nil {
				t.Fatalf("write while moving tags: %v", err)
			}
		})
	}
}

// TestReleaseLetsRenewalFinish: Release lets a renewal in flight finish before it
// re-points the lock tag at the released marker, rather than abandoning it: a registry
// that stores the abandoned renewal after the release leaves a live lock behind, and
// every other sovos finds the state locked until that lock is stale (one TTL).
func TestReleaseLetsRenewalFinish(t *testing.T) {
	ctx := context.Background()
	// The lock's first PUT, then its first renewal, stored only after the next PUT of
	// the lock tag (the release) was.
	late, arrived := storeLate(t, func(p string) bool { return strings.Contains(p, "/manifests/main.lock.") }, 2)
	host := testenv.MemRegistry(t, late)
	// A 1 s registry timeout: W = 3.75 s, the TTL at least 7.5 s, a renewal every 1.6 s.
	const ttl = 8 * time.Second
	h, err := Hold(ctx, lockRegistryTimeout(t, host, "a", time.Second), lockInfo("a"), WithTTL(ttl))
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-arrived: // a renewal is in flight
	case <-time.After(ttl):
		t.Fatal("no renewal")
	}
	if err := h.Release(ctx); err != nil {
		t.Fatal(err)
	}
	b := lockRegistryTimeout(t, host, "b", time.Second)
	if locks, err := b.Locks(ctx); err != nil || len(locks) != 0 {
		t.Errorf("live locks after Release: %v, %v", locks, err)
	}
	h2, err := Hold(ctx, b, lockInfo("b"), WithTTL(ttl))
	if err != nil {
		t.Fatalf("locking after Release: %v", err)
	}
	_ = h2.Release(ctx)
}
