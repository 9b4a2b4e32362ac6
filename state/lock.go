package state

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/google/uuid"
)

// DefaultLockTTL is how long a lock stays valid without renewal. Hold renews it every
// third of that, so a crashed holder blocks others for at most this long.
const DefaultLockTTL = 5 * time.Minute

// LockReader is implemented by backends that can report the current lock holder
// (both of sovos's backends do). It returns nil when the workspace is not locked.
type LockReader interface {
	ReadLock(ctx context.Context) (*LockInfo, error)
}

// Renewer is implemented by backends that can extend a lock's expiry only while the lock
// is still the caller's (both of sovos's backends do). Renew fails with a *LockError
// when the lock was released (force-unlock) or taken over; Lock would instead take it
// again.
type Renewer interface {
	Renew(ctx context.Context, info *LockInfo) error
}

// errReleased is the cause of a renewal's *LockError when the lock is gone.
var errReleased = errors.New("the lock was released by someone else (force-unlock?)")

// NewLockInfo describes a new lock for operation ("apply", "state rm") taken by this
// user on this host. Expires is set by Hold or the caller.
func NewLockInfo(operation, sovosVersion string) *LockInfo {
	return &LockInfo{
		ID:        uuid.NewString(),
		Operation: operation,
		Who:       Who(),
		Version:   sovosVersion,
		Created:   time.Now().UTC().Truncate(time.Second),
	}
}

// expired reports whether a lock may be taken over because its holder stopped renewing it.
func (i *LockInfo) expired(now time.Time) bool {
	return !i.Expires.IsZero() && now.After(i.Expires)
}

// LockWithTimeout takes the lock, retrying with exponential backoff (starting at half a
// second, capped at ten) while it is held by someone else, until timeout has passed. A
// timeout of 0 tries once. Errors other than *LockError are returned at once.
func LockWithTimeout(ctx context.Context, b Backend, info *LockInfo, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	delay := 500 * time.Millisecond
	for {
		err := b.Lock(ctx, info)
		var le *LockError
		if err == nil || !errors.As(err, &le) {
			return err
		}
		left := time.Until(deadline)
		if left <= 0 {
			return err
		}
		wait := min(delay, left)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("waiting for the state lock: %w (%v)", ctx.Err(), err)
		case <-t.C:
		}
		delay = min(delay*2, 10*time.Second)
	}
}

// Held is a lock taken by Hold: it is renewed in the background until Release.
type Held struct {
	b    Backend
	ttl  time.Duration
	stop chan struct{}
	done chan struct{}
	once sync.Once

	mu   sync.Mutex
	info LockInfo
	lost error // set when a renewal found the lock taken by someone else
}

// HoldOption configures Hold.
type HoldOption func(*holdOptions)

type holdOptions struct{ timeout time.Duration }

// WithTimeout makes Hold wait up to d for a lock held by someone else (-lock-timeout).
func WithTimeout(d time.Duration) HoldOption { return func(o *holdOptions) { o.timeout = d } }

// Hold takes the lock for info (see LockWithTimeout) with an expiry of ttl (0 means
// DefaultLockTTL) and renews it every ttl/3 until Release. The caller should call Check
// before each state write.
func Hold(ctx context.Context, b Backend, info *LockInfo, ttl time.Duration, opts ...HoldOption) (*Held, error) {
	var o holdOptions
	for _, opt := range opts {
		opt(&o)
	}
	if ttl <= 0 {
		ttl = DefaultLockTTL
	}
	info.Expires = time.Now().UTC().Add(ttl)
	if err := LockWithTimeout(ctx, b, info, o.timeout); err != nil {
		return nil, err
	}
	h := &Held{b: b, ttl: ttl, info: *info, stop: make(chan struct{}), done: make(chan struct{})}
	go h.renew()
	return h, nil
}

// Info returns the lock as last written.
func (h *Held) Info() LockInfo {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.info
}

func (h *Held) renew() {
	defer close(h.done)
	t := time.NewTicker(h.ttl / 3)
	defer t.Stop()
	for {
		select {
		case <-h.stop:
			return
		case <-t.C:
		}
		h.mu.Lock()
		info := h.info
		h.mu.Unlock()
		info.Expires = time.Now().UTC().Add(h.ttl)
		ctx, cancel := context.WithTimeout(context.Background(), h.ttl/3)
		var err error
		if r, ok := h.b.(Renewer); ok {
			err = r.Renew(ctx, &info)
		} else {
			err = h.b.Lock(ctx, &info) // with our own ID: rewrites the expiry
		}
		cancel()
		h.mu.Lock()
		var le *LockError
		switch {
		case err == nil:
			h.info = info
		case errors.As(err, &le):
			h.lost = err
		}
		// Other errors (a registry hiccup) are retried at the next tick; the lock stays
		// valid until it expires, and Check re-reads it before any state write.
		h.mu.Unlock()
	}
}

// Check re-reads the lock and returns an error if it is no longer this holder's (someone
// ran force-unlock, or took it over after it expired).
func (h *Held) Check(ctx context.Context) error {
	h.mu.Lock()
	lost, info := h.lost, h.info
	h.mu.Unlock()
	if lost != nil {
		return fmt.Errorf("lost the state lock %s: %w", info.ID, lost)
	}
	lr, ok := h.b.(LockReader)
	if !ok {
		return nil
	}
	cur, err := lr.ReadLock(ctx)
	if err != nil {
		return fmt.Errorf("checking the state lock: %w", err)
	}
	if cur == nil {
		return fmt.Errorf("lost the state lock %s: %s is no longer locked (force-unlocked?)", info.ID, h.b)
	}
	if cur.ID != info.ID {
		return fmt.Errorf("lost the state lock %s: %w", info.ID, &LockError{Info: cur, Err: errors.New("taken over")})
	}
	return nil
}

// Release stops renewing and unlocks. It is safe to call more than once.
func (h *Held) Release(ctx context.Context) error {
	first := false
	h.once.Do(func() {
		first = true
		close(h.stop)
	})
	<-h.done
	if !first {
		return nil
	}
	h.mu.Lock()
	lost, id := h.lost, h.info.ID
	h.mu.Unlock()
	if lost != nil {
		return nil // not ours to release any more
	}
	return h.b.Unlock(ctx, id)
}
