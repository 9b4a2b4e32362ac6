package state

import (
	"context"
	"time"
)

// Backend stores the state of one workspace and its lock. Implementations: the OCI
// registry backend and the local OCI image layout backend.
type Backend interface {
	// Read returns the stored state and the digest of the manifest it was read from.
	// A workspace with no state yet returns (nil, "", nil). A corrupted or foreign
	// document is an error that names where it was read from.
	Read(ctx context.Context) (*State, string, error)
	// Write stores s (the caller has already incremented Serial) and returns the new
	// manifest digest.
	Write(ctx context.Context, s *State) (string, error)
	// Lock takes the workspace lock for info, or fails with a *LockError naming the
	// holder. Implementations write, read back and give up if the lock is not theirs.
	Lock(ctx context.Context, info *LockInfo) error
	// Unlock releases the lock with the given ID (force-unlock passes the holder's ID).
	Unlock(ctx context.Context, id string) error
	// String names the backend for messages ("registry ghcr.io/x/state:main",
	// "layout .sovos/state (workspace main)").
	String() string
}

// LockInfo describes a lock holder (SPEC §7).
type LockInfo struct {
	ID        string    `json:"id"`
	Operation string    `json:"operation"`
	Who       string    `json:"who"`
	Version   string    `json:"version,omitempty"`
	Created   time.Time `json:"created"`
	Expires   time.Time `json:"expires"`
}

// LockError is returned when the lock is held by someone else.
type LockError struct {
	Info *LockInfo // the holder, when known
	Err  error
}

func (e *LockError) Error() string {
	if e.Info == nil {
		return "state is locked: " + e.Err.Error()
	}
	return "state is locked by " + e.Info.Who + " (lock ID " + e.Info.ID + ", operation " +
		e.Info.Operation + ", since " + e.Info.Created.UTC().Format(time.RFC3339) +
		"); wait for it to finish, or if it is stale run `sovos force-unlock " + e.Info.ID + "`"
}

func (e *LockError) Unwrap() error { return e.Err }
