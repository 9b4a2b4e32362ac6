package state

import (
	"context"
	"errors"
	"time"
)

// Backend stores the state of one workspace. Implementations: the OCI registry backend
// and the local OCI image layout backend; both also implement Locker.
type Backend interface {
	// Read returns the stored state and the digest of the manifest it was read from.
	// A workspace with no state yet returns (nil, "", nil). A corrupted or foreign
	// document is an error that names where it was read from.
	Read(ctx context.Context) (*State, string, error)
	// Write stores s (the caller has already incremented Serial) and returns the new
	// manifest digest. It is not fenced: under a lock, write through the Held.
	Write(ctx context.Context, s *State) (string, error)
	// String names the backend for messages ("registry ghcr.io/x/state:main",
	// "layout .sovos/state (workspace main)").
	String() string
}

// Locker is a Backend with a workspace lock (SPEC §7 "Locking"). Hold takes it; the
// methods here are what a person needs around it: who holds it, and force-unlock.
type Locker interface {
	Backend
	// Locks returns the live locks of the workspace: none when it is free. More than one
	// is possible on a registry for the moment two contenders race (both then back off).
	Locks(ctx context.Context) ([]*LockInfo, error)
	// Unlock releases the lock with the given ID (force-unlock): it names no lock is an
	// error, so is an ID that matches none.
	Unlock(ctx context.Context, id string) error

	// tryLock makes one attempt to take the lock: a lease, or a *LockError naming the
	// live holder. Both of sovos's backends implement it, and only they can.
	tryLock(ctx context.Context, info *LockInfo, o *lockOptions) (lease, error)
}

// lease is a lock held: what Held needs of its backend to renew, fence and release it.
type lease interface {
	// renewable reports whether the lock lives by renewal (a registry) rather than for as long
	// as the process runs (a layout's flock).
	renewable() bool
	// renew re-pushes the lock with info's new Renewed time, after checking that the
	// lock is still the one last pushed. A *LockLostError when it is not.
	renew(ctx context.Context, info *LockInfo) error
	// check returns a *LockLostError when the lock is no longer the one last pushed (or
	// created): released by force-unlock, or found stale and released by someone else;
	// and, when accepted is not nil, when the state's digest is not one it accepts.
	check(ctx context.Context, accepted func(string) bool) error
	// stateDigest returns the digest the state currently has ("" for none).
	stateDigest(ctx context.Context) (string, error)
	// write stores s after checking, right before the write commits (before each
	// attempt, on a registry), that fence allows it, that the lock is still the one
	// last pushed, and that the state is still at a digest accepted. It returns the new
	// digest, also with an error when the write may have been stored all the same; a
	// *LockLostError when the lock or the state is not what the holder last saw.
	write(ctx context.Context, s *State, accepted func(string) bool, fence func() error) (string, error)
	// release gives the lock up (best effort where the registry refuses deletes).
	release(ctx context.Context) error
}

// LockInfo describes a lock holder (SPEC §7). Created and Renewed are for people to
// read: no decision compares them with a clock.
type LockInfo struct {
	ID        string    `json:"id"`
	Operation string    `json:"operation"`
	Who       string    `json:"who"`
	Version   string    `json:"version,omitempty"`
	Created   time.Time `json:"created"`
	// Renewed is when the holder last re-pushed its lock (registry backend): every
	// renewal changes the lock's digest, which is what observers watch.
	Renewed time.Time `json:"renewed,omitzero"`

	// Where the lock is stored: its tag in a registry, its file in a layout.
	Where string `json:"-"`
}

// LockError is returned when the lock is held by someone else.
type LockError struct {
	Info *LockInfo // the holder, when known
	Err  error
	// Stale says how the holder's lock stops counting if it was abandoned.
	Stale string
	// Running says the holder is known to be running (a layout's lock file whose file
	// lock is held): the message says to wait for it or stop it, not that it may be dead.
	Running bool
}

func (e *LockError) Error() string {
	if e.Info == nil {
		return "state is locked: " + e.Err.Error()
	}
	msg := "state is locked by " + e.Info.Who + " (lock ID " + e.Info.ID + ", operation " +
		e.Info.Operation + ", since " + e.Info.Created.UTC().Format(time.RFC3339) + ")"
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	if e.Running {
		return msg + ". Wait for it to finish (-lock-timeout=DURATION waits), or stop that process: on Ctrl-C or SIGTERM it records what it did and releases the lock, and if it is killed the next sovos takes its lock over. Only if it hangs and cannot be stopped, `sovos force-unlock " + e.Info.ID + "` removes the lock; it then stops at its next state write"
	}
	msg += "; wait for it to finish (-lock-timeout=DURATION waits)"
	if e.Stale != "" {
		msg += "; " + e.Stale
	}
	return msg + ", or if its sovos is dead run `sovos force-unlock " + e.Info.ID + "`"
}

func (e *LockError) Unwrap() error { return e.Err }

// ErrLockLost is matched (errors.Is) by the errors of a holder that lost its lock, or
// whose fence failed: it wrote nothing, moved no tag, and should stop.
var ErrLockLost = errors.New("the state lock was lost")

// LockLostError says why a holder stopped: its lock released by someone else, not
// renewed in time, or the state changed under it.
type LockLostError struct {
	ID     string // the holder's lock ID
	Reason string
}

func (e *LockLostError) Error() string {
	return "lost the state lock " + e.ID + ": " + e.Reason
}

func (e *LockLostError) Is(target error) bool { return target == ErrLockLost }
