package operation

import (
	"context"
	"errors"
	"fmt"
)

// ErrInterrupted is matched (errors.Is) by the error of an operation stopped by the
// cancellation of its context (Ctrl-C, SIGTERM) before it finished: it started no new
// tag move, delete or state write after the cancellation, let the one in flight finish
// or fail, recorded what it did and released its lock. The error is an
// *InterruptedError saying what was done, what was not, and what to run next.
var ErrInterrupted = errors.New("interrupted")

// InterruptedError is an operation stopped by the cancellation of its context.
type InterruptedError struct {
	// Operation is the command ("rollback", "gc", "state rm", "state push").
	Operation string
	// Done says what was done and where it is recorded; Left what was not; Next what to
	// run next.
	Done, Left, Next string
}

func (e *InterruptedError) Error() string {
	msg := e.Operation + " interrupted: " + e.Done
	if e.Left != "" {
		msg += "; " + e.Left
	}
	if e.Next != "" {
		msg += ". " + e.Next
	}
	return msg
}

func (e *InterruptedError) Is(target error) bool { return target == ErrInterrupted }

// beforeChange is what an operation says when it is interrupted before it changed
// anything (a lock wait, a registry read cut short): nothing says what was not done,
// next what to run. Set changed before the first change (a tag move, a delete, a state
// write): from then on the operation says itself what it did.
type beforeChange struct {
	operation, nothing, next string
	changed                  bool
}

// stopped turns err, when ctx was cancelled and nothing was changed yet, into an
// *InterruptedError saying so; other errors (and nil) are returned as they are.
func (b *beforeChange) stopped(ctx context.Context, err error) error {
	if err == nil || b.changed || ctx.Err() == nil || errors.Is(err, ErrInterrupted) {
		return err
	}
	return &InterruptedError{Operation: b.operation, Done: b.nothing, Next: b.next}
}

// finish ends an operation that took lk: err as stopped makes it, then the lock
// released (also when ctx was cancelled).
func (b *beforeChange) finish(ctx context.Context, err error, lk *heldLock) error {
	return errors.Join(b.stopped(ctx, err), lk.release(ctx))
}

// unstoppable returns ctx without its cancellation, for the work an interrupted
// operation still does: the step in flight, the final state write.
func unstoppable(ctx context.Context) context.Context { return context.WithoutCancel(ctx) }

// count words n things.
func count(n int, one, many string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, one)
	}
	return fmt.Sprintf("%d %s", n, many)
}
