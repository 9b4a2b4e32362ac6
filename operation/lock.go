package operation

import (
	"context"
	"fmt"
	"time"

	"github.com/urmanac/sovos/config"
	"github.com/urmanac/sovos/state"
)

// LockOptions say how an operation that writes the state locks it (SPEC §7).
type LockOptions struct {
	// Skip writes without a lock (-lock=false).
	Skip bool
	// Timeout is how long to wait for a lock someone else holds (-lock-timeout); 0
	// tries once.
	Timeout time.Duration
	// Logf, when set, is told about the wait (who holds the lock, when the next try is),
	// stale locks released and renewals that failed.
	Logf func(format string, args ...any)
}

// heldLock is the lock an operation holds on its backend. backend is where to read and
// write the state under it: the Held, whose writes are fenced; held is nil with Skip,
// and backend then the backend itself.
type heldLock struct {
	backend state.Backend
	held    *state.Held
}

// takeLock takes the state lock of b for operation, unless o.Skip. SOVOS_LOCK_TTL sets
// the lock's TTL.
func takeLock(ctx context.Context, b state.Backend, o LockOptions, operation string) (*heldLock, error) {
	if o.Skip {
		return &heldLock{backend: b}, nil
	}
	ttl, err := state.LockTTLFromEnv()
	if err != nil {
		return nil, err
	}
	opts := []state.HoldOption{state.WithTTL(ttl), state.WithTimeout(o.Timeout)}
	if o.Logf != nil {
		opts = append(opts, state.WithLogf(o.Logf))
	}
	held, err := state.Hold(ctx, b, state.NewLockInfo(operation, config.SovosVersion), opts...)
	if err != nil {
		return nil, fmt.Errorf("locking the state in %s: %w", b, err)
	}
	return &heldLock{backend: held, held: held}, nil
}

// release gives the lock up, also when ctx was cancelled (an interrupted apply).
func (h *heldLock) release(ctx context.Context) error {
	if h == nil || h.held == nil {
		return nil
	}
	if err := h.held.Release(context.WithoutCancel(ctx)); err != nil {
		return fmt.Errorf("releasing the state lock in %s: %w", h.backend, err)
	}
	return nil
}

// write stores s as the next serial, with hist as its history entry, fenced by the
// lock: state.Writer makes the one serial increment (and updates s.Serial) and tags the
// write as a history entry.
func (h *heldLock) write(ctx context.Context, s *state.State, hist *state.History) error {
	w := state.NewWriter(h.backend, s, h.held)
	w.Update(func(s *state.State) {
		s.SovosVersion = config.SovosVersion
		s.History = hist
	})
	return w.Close(ctx)
}

// stillHeld checks, before an operation changes the registry (tags moved, artifacts
// deleted), that the lock is still its own; what names the change for the error.
func (h *heldLock) stillHeld(ctx context.Context, what string) error {
	if h == nil || h.held == nil {
		return nil
	}
	if err := h.held.Check(ctx); err != nil {
		return fmt.Errorf("not %s: %w", what, err)
	}
	return nil
}

// guard returns ctx fencing every tag move and manifest delete made with it by the
// lock (state.Held.Guard): each attempt starts only while the lock is still ours.
func (h *heldLock) guard(ctx context.Context) context.Context {
	if h == nil {
		return ctx
	}
	return h.held.Guard(ctx)
}

// approved asks approve (a request's Approve callback; nil approves) about v:
// ErrCancelled when it says no.
func approved[T any](approve func(T) (bool, error), v T) error {
	if approve == nil {
		return nil
	}
	ok, err := approve(v)
	if err != nil {
		return err
	}
	if !ok {
		return ErrCancelled
	}
	return nil
}
