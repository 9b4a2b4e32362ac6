package state

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/urmanac/sovos/internal/oci"
)

// Lock timing (SPEC §7): see docs/state.md for what each one guarantees.
const (
	// DefaultLockTTL is how long a registry lock whose digest does not change counts as
	// live for an observer; its holder renews it every fifth of that.
	DefaultLockTTL = 5 * time.Minute
	// DefaultLockSettle is the wait between a lock's PUT returning and the listing of the
	// lock tags: at least the registry's tag-list lag.
	DefaultLockSettle = time.Second

	// LockTTLEnv and LockSettleEnv name the environment variables overriding them (Go
	// durations).
	LockTTLEnv    = "SOVOS_LOCK_TTL"
	LockSettleEnv = "SOVOS_LOCK_SETTLE"
)

// LockTTLFromEnv reads SOVOS_LOCK_TTL: DefaultLockTTL when unset.
func LockTTLFromEnv() (time.Duration, error) {
	return durationEnv(LockTTLEnv, DefaultLockTTL, false)
}

// LockSettleFromEnv reads SOVOS_LOCK_SETTLE: DefaultLockSettle when unset; 0 is allowed
// (a registry whose tag list is never late).
func LockSettleFromEnv() (time.Duration, error) {
	return durationEnv(LockSettleEnv, DefaultLockSettle, true)
}

func durationEnv(name string, def time.Duration, zero bool) (time.Duration, error) {
	v := strings.TrimSpace(os.Getenv(name))
	if v == "" {
		return def, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 || (d == 0 && !zero) {
		return 0, fmt.Errorf("%s=%q is not a positive duration: write it as Go does, e.g. 5m or 90s (default %s)", name, v, def)
	}
	return d, nil
}

// FenceWindow is W of SPEC §7: the most one registry write with its retries can take
// (3 attempts of at most timeout each, 250 ms and 500 ms apart). A holder starts no
// write unless its last renewal began less than TTL − W ago.
func FenceWindow(registryTimeout time.Duration) time.Duration {
	return 3*registryTimeout + 750*time.Millisecond
}

// NewLockInfo describes a new lock for operation ("apply", "state rm") taken by this
// process of this user on this host.
func NewLockInfo(operation, sovosVersion string) *LockInfo {
	return &LockInfo{
		ID:        uuid.NewString(),
		Operation: operation,
		// Several runs share a CI runner: the process tells them apart.
		Who:     fmt.Sprintf("%s (pid %d)", Who(), os.Getpid()),
		Version: sovosVersion,
		Created: time.Now().UTC().Truncate(time.Second),
	}
}

// HoldOption configures Hold.
type HoldOption func(*lockOptions)

type lockOptions struct {
	timeout time.Duration
	ttl     time.Duration
	// backoff returns the wait before the next attempt (tests shorten it).
	backoff func() time.Duration
	logf    func(format string, args ...any)
}

// WithTimeout makes Hold retry, while the lock is held by someone else, until d has
// passed (-lock-timeout). Zero tries once.
func WithTimeout(d time.Duration) HoldOption { return func(o *lockOptions) { o.timeout = d } }

// WithTTL sets the lock TTL (default DefaultLockTTL, SOVOS_LOCK_TTL).
func WithTTL(d time.Duration) HoldOption {
	return func(o *lockOptions) {
		if d > 0 {
			o.ttl = d
		}
	}
}

// WithLogf makes Hold report its waiting (one line per attempt that found the lock
// held) and the holder's renewal failures.
func WithLogf(logf func(format string, args ...any)) HoldOption {
	return func(o *lockOptions) { o.logf = logf }
}

// withBackoff replaces the random 1–5 s between attempts (tests only).
func withBackoff(f func() time.Duration) HoldOption { return func(o *lockOptions) { o.backoff = f } }

// backoff is SPEC §7's wait between attempts: random, 1 to 5 seconds, so two contenders
// that backed off together do not collide again.
func backoff() time.Duration {
	return time.Second + rand.N(4*time.Second)
}

// Held is a lock taken by Hold. It renews the lock in the background (a registry
// lock, every TTL/5) and fences the holder's writes: Read, Write and Guard are the
// way to use the state under the lock. It implements Backend, so code that writes the
// state can be given the Held instead of its backend.
type Held struct {
	b      Locker
	lease  lease
	ttl    time.Duration
	window time.Duration
	logf   func(format string, args ...any)

	stop     chan struct{}
	done     chan struct{}
	ctx      context.Context // renewals; cancelled by Release
	cancel   context.CancelFunc
	lostCh   chan struct{}
	once     sync.Once
	lostOnce sync.Once
	writeMu  sync.Mutex // one fenced state write at a time, and no fence check during one

	mu      sync.Mutex
	info    LockInfo
	renewed time.Time // when the last successful renewal (or the lock's first PUT) began
	state   string    // the state digest last read or written
	unsure  []string  // digests of writes whose outcome is unknown (failed, maybe committed)
	lost    error
}

// Hold takes the lock for info on b, which must be a Locker (both of sovos's backends
// are). While the lock is held by someone else it fails with a *LockError naming the
// holder, or, with WithTimeout, retries after a random 1–5 s until the timeout. Release
// the Held when done.
func Hold(ctx context.Context, b Backend, info *LockInfo, opts ...HoldOption) (*Held, error) {
	o := &lockOptions{ttl: DefaultLockTTL, backoff: backoff}
	for _, opt := range opts {
		opt(o)
	}
	lk, ok := b.(Locker)
	if !ok {
		return nil, fmt.Errorf("%s cannot be locked", b)
	}
	if info == nil || info.ID == "" {
		return nil, errors.New("lock: no lock ID")
	}
	window := time.Duration(0)
	if r, ok := b.(*Registry); ok {
		window = FenceWindow(r.client.Timeout())
		if o.ttl < 2*window {
			return nil, fmt.Errorf("%s=%s is too short for registry requests that may take %s each (%s): the lock TTL must be at least twice the fencing window W = 3 × %s + 0.75s = %s, so at least %s; raise %s or lower %s",
				LockTTLEnv, o.ttl, r.client.Timeout(), oci.TimeoutEnv, oci.TimeoutEnv, window, 2*window, LockTTLEnv, oci.TimeoutEnv)
		}
	}
	deadline := time.Now().Add(o.timeout)
	for {
		began := time.Now()
		l, err := lk.tryLock(ctx, info, o)
		if err == nil {
			h := &Held{b: lk, lease: l, ttl: o.ttl, window: window, logf: o.logf, info: *info, renewed: began,
				stop: make(chan struct{}), done: make(chan struct{}), lostCh: make(chan struct{})}
			h.ctx, h.cancel = context.WithCancel(context.WithoutCancel(ctx))
			d, err := l.stateDigest(ctx)
			if err != nil {
				_ = l.release(context.WithoutCancel(ctx))
				h.cancel()
				return nil, fmt.Errorf("reading the state's digest after locking: %w", err)
			}
			h.state = d
			go h.renewLoop()
			return h, nil
		}
		var le *LockError
		if !errors.As(err, &le) {
			return nil, err
		}
		wait := o.backoff()
		if time.Now().Add(wait).After(deadline) {
			return nil, err
		}
		if o.logf != nil {
			o.logf("%v; trying again in %s", err, wait.Round(100*time.Millisecond))
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("waiting for the state lock: %w (%v)", ctx.Err(), err)
		case <-t.C:
		}
	}
}

// Info returns the lock as last pushed.
func (h *Held) Info() LockInfo {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.info
}

// String implements Backend.
func (h *Held) String() string { return h.b.String() }

// Lost is closed when the holder lost its lock or its fence failed (Err says why).
// A nil Held's channel is never closed.
func (h *Held) Lost() <-chan struct{} {
	if h == nil {
		return nil
	}
	return h.lostCh
}

// Err returns why the lock was lost (a *LockLostError), or nil.
func (h *Held) Err() error {
	if h == nil {
		return nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.lost
}

// lose records that the lock is lost (the first reason wins) and closes Lost.
func (h *Held) lose(err error) error {
	h.mu.Lock()
	if h.lost == nil {
		h.lost = err
	}
	err = h.lost
	h.mu.Unlock()
	h.lostOnce.Do(func() { close(h.lostCh) })
	return err
}

// lostReason wraps reason as this holder's *LockLostError.
func (h *Held) lostReason(format string, args ...any) error {
	return &LockLostError{ID: h.Info().ID, Reason: fmt.Sprintf(format, args...)}
}

// observe turns a lease's *LockLostError into the lost state.
func (h *Held) observe(err error) error {
	var lle *LockLostError
	if errors.As(err, &lle) {
		return h.lose(lle)
	}
	return err
}

// fenceTime checks the first fencing condition: the last successful renewal began less
// than TTL − W ago (always true for a lock that lives as long as its process).
func (h *Held) fenceTime() error {
	h.mu.Lock()
	lost, renewed := h.lost, h.renewed
	h.mu.Unlock()
	if lost != nil {
		return lost
	}
	if !h.lease.renewable() {
		return nil
	}
	if age, limit := time.Since(renewed), h.ttl-h.window; age >= limit {
		return h.lose(h.lostReason("its last successful renewal began %s ago, and a holder writes nothing once that reaches the lock TTL minus the fencing window (%s − %s = %s): another sovos may find the lock stale (is the registry reachable?)",
			age.Round(100*time.Millisecond), h.ttl, h.window, limit))
	}
	return nil
}

// accepted reports whether the state having digest d is consistent with what this
// holder last read or wrote.
func (h *Held) accepted(d string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if d == h.state {
		return true
	}
	for _, u := range h.unsure {
		if d == u {
			return true
		}
	}
	return false
}

// fence checks all three conditions of SPEC §7 before a tag move: renewal age, the
// lock still the one last pushed, the state still at the digest last read or written.
func (h *Held) fence(ctx context.Context) error {
	// Not while this holder's own state write runs: the state is then moving to a digest
	// the holder has not recorded yet.
	h.writeMu.Lock()
	defer h.writeMu.Unlock()
	if err := h.fenceTime(); err != nil {
		return err
	}
	if err := h.lease.check(ctx, h.accepted); err != nil {
		return h.observe(err)
	}
	// The checks above took time.
	return h.fenceTime()
}

// stateIs checks, for the holder of lock id on b, that the state's digest cur is one it
// accepts (what it last read or wrote): else the lock counts as lost, since someone wrote
// the state without it. Both leases' fences end with it.
func stateIs(id string, b Backend, cur string, accepted func(string) bool) error {
	if accepted(cur) {
		return nil
	}
	if cur == "" {
		cur = "(no state)"
	}
	return &LockLostError{ID: id, Reason: fmt.Sprintf("the state in %s changed under the lock: it is at %s, not at the digest this sovos last read or wrote; someone wrote it without the lock (-lock=false, or an older sovos)", b, cur)}
}

// Check checks the fence now: nil while this holder may still write the state and move
// tags, an error matching ErrLockLost once it may not. A nil Held passes.
func (h *Held) Check(ctx context.Context) error {
	if h == nil {
		return nil
	}
	return h.fence(ctx)
}

// Guard returns ctx with the fence attached: every tag move or manifest write made
// with it (through the internal/oci client) first checks that this holder may still
// write, before each attempt. A nil Held returns ctx unchanged.
func (h *Held) Guard(ctx context.Context) context.Context {
	if h == nil {
		return ctx
	}
	return oci.WithGuard(ctx, h.fence)
}

// Read implements Backend: it reads the state and remembers its digest as the one the
// fence expects.
func (h *Held) Read(ctx context.Context) (*State, string, error) {
	s, d, err := h.b.Read(ctx)
	if err == nil {
		h.mu.Lock()
		h.state, h.unsure = d, nil
		h.mu.Unlock()
	}
	return s, d, err
}

// Write implements Backend, fenced: the lock must still be this holder's and the
// state still at the digest it last read or wrote, else nothing is written and the
// error (matching ErrLockLost) says why.
func (h *Held) Write(ctx context.Context, s *State) (string, error) {
	h.writeMu.Lock()
	defer h.writeMu.Unlock()
	if err := h.fenceTime(); err != nil {
		return "", err
	}
	d, err := h.lease.write(ctx, s, h.accepted, h.fenceTime)
	if err != nil {
		if d != "" { // sent, outcome unknown: the registry may have stored it
			h.mu.Lock()
			h.unsure = append(h.unsure, d)
			h.mu.Unlock()
		}
		return "", h.observe(err)
	}
	h.mu.Lock()
	h.state, h.unsure = d, nil
	h.mu.Unlock()
	return d, nil
}

// errReleasing is a renewal not sent because Release came.
var errReleasing = errors.New("the state lock is being released")

// renewLoop renews a renewable lock every TTL/5 and declares it lost as soon as it is
// (released by someone else) or may be (no successful renewal began within TTL − W),
// even while a renewal hangs: renewals run beside the loop, one at a time.
func (h *Held) renewLoop() {
	defer close(h.done)
	if !h.lease.renewable() {
		<-h.stop
		return
	}
	every := h.ttl / 5
	next := time.Now().Add(every)
	var renewing sync.WaitGroup
	defer renewing.Wait()
	busy := make(chan struct{}, 1)
	for {
		h.mu.Lock()
		limit := h.renewed.Add(h.ttl - h.window)
		h.mu.Unlock()
		wake := next
		if limit.Before(wake) {
			wake = limit
		}
		t := time.NewTimer(time.Until(wake))
		select {
		case <-h.stop:
			t.Stop()
			return
		case <-h.lostCh:
			t.Stop()
			<-h.stop
			return
		case <-t.C:
		}
		if time.Now().Before(next) {
			// Woken by the limit: no renewal succeeded in time.
			_ = h.fenceTime()
			continue
		}
		next = time.Now().Add(every)
		select {
		case busy <- struct{}{}:
			renewing.Add(1)
			go func() {
				defer renewing.Done()
				defer func() { <-busy }()
				h.renew()
			}()
		default: // the last renewal still runs
		}
	}
}

func (h *Held) renew() {
	if h.fenceTime() != nil {
		return
	}
	began := time.Now()
	info := h.Info()
	info.Renewed = began.UTC()
	// A renewal that would end after the lock may be found stale is pointless, and so
	// is one not sent yet when Release comes (a PUT already sent is waited for: see
	// Release).
	ctx, cancel := context.WithTimeout(h.ctx, h.ttl-h.window)
	defer cancel()
	err := h.lease.renew(oci.WithGuard(ctx, func(context.Context) error {
		select {
		case <-h.stop:
			return errReleasing
		default:
		}
		return h.fenceTime()
	}), &info)
	if err != nil {
		if errors.Is(h.observe(err), ErrLockLost) || errors.Is(err, errReleasing) {
			return
		}
		if h.logf != nil {
			h.logf("renewing the state lock %s failed (will retry in %s): %v", info.ID, h.ttl/5, err)
		}
		return
	}
	h.mu.Lock()
	h.info = info
	h.renewed = began
	h.mu.Unlock()
}

// Release stops renewing and gives the lock up. A lost lock is given up too where it is
// still this holder's own (a registry lock tag is nobody else's; a layout's lock file
// is removed only if it is still the one this holder created). It is safe to call more
// than once.
//
// A renewal in flight is not abandoned but waited for (it ends within the registry
// client's deadlines and retries): a registry may store an abandoned renewal after the
// release, leaving a live lock that every other sovos waits for until it is stale.
func (h *Held) Release(ctx context.Context) error {
	first := false
	h.once.Do(func() {
		first = true
		close(h.stop)
	})
	<-h.done
	h.cancel()
	if !first {
		return nil
	}
	err := h.lease.release(ctx)
	if h.Err() != nil {
		return nil // the loss is what gets reported
	}
	return err
}
