package state

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"
)

// readLock reads the lock file; nil when there is none. Another process may be writing
// it right now (a takeover), so an unreadable file gets a few more chances.
func (l *Layout) readLock() (*LockInfo, error) {
	var err error
	for try := range 5 {
		if try > 0 {
			time.Sleep(20 * time.Millisecond)
		}
		var data []byte
		data, err = os.ReadFile(l.lockPath())
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		var info *LockInfo
		if info, err = decodeLock(data, "lock "+l.lockPath()); err == nil {
			info.Where = l.lockPath()
			return info, nil
		}
	}
	return nil, err
}

// sameFile reports whether path still names the file f has open.
func sameFile(path string, f *os.File) bool {
	a, err := os.Stat(path)
	if err != nil {
		return false
	}
	b, err := f.Stat()
	return err == nil && os.SameFile(a, b)
}

// tryLock implements Locker: create DIR/WORKSPACE.lock exclusively and flock it, or take
// over a lock file whose holder died (nobody holds its flock). A lock file whose flock
// is held is never taken over.
func (l *Layout) tryLock(ctx context.Context, info *LockInfo, o *lockOptions) (lease, error) {
	data, err := encodeLock(info)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(l.dir, 0o755); err != nil {
		return nil, fmt.Errorf("%s: %w", l, err)
	}
	path := l.lockPath()
	held := func(why string, running bool) error {
		cur, _ := l.readLock() // unreadable: being written right now
		return &LockError{Info: cur, Err: errors.New(why), Running: running}
	}
	for range 3 {
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
		if err == nil {
			ok, err := tryFlock(f)
			if err != nil {
				f.Close()
				return nil, fmt.Errorf("locking %s: %w", path, err)
			}
			if !ok && flockSupported {
				// Another process flocked our new file first and took it: it holds it.
				f.Close()
				continue
			}
			if err := rewrite(f, data); err != nil {
				f.Close()
				return nil, fmt.Errorf("writing %s: %w", path, err)
			}
			return &layoutLease{l: l, f: f, id: info.ID}, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("creating %s: %w", path, err)
		}
		g, err := os.OpenFile(path, os.O_RDWR, 0)
		if errors.Is(err, fs.ErrNotExist) {
			continue // released meanwhile
		}
		if err != nil {
			return nil, fmt.Errorf("opening %s: %w", path, err)
		}
		free, err := tryFlock(g)
		if err != nil || !free {
			g.Close()
			if !flockSupported {
				return nil, held(path+" exists (this platform cannot tell whether its sovos still runs)", false)
			}
			return nil, held("that sovos is still running (it holds the file lock on "+path+")", true)
		}
		// Nobody held it: its sovos died. We now hold its flock; it is ours if the path
		// still names that file (not removed and recreated meanwhile).
		if !sameFile(path, g) {
			g.Close()
			continue
		}
		if o != nil && o.logf != nil {
			if dead, _ := l.readLock(); dead != nil {
				o.logf("took over the lock %s left by a sovos that is no longer running (lock ID %s, by %s)", path, dead.ID, dead.Who)
			}
		}
		if err := rewrite(g, data); err != nil {
			g.Close()
			return nil, fmt.Errorf("writing %s: %w", path, err)
		}
		return &layoutLease{l: l, f: g, id: info.ID}, nil
	}
	return nil, held("another process took the lock at the same time", false)
}

func rewrite(f *os.File, data []byte) error {
	if _, err := f.WriteAt(data, 0); err != nil {
		return err
	}
	if err := f.Truncate(int64(len(data))); err != nil {
		return err
	}
	return f.Sync()
}

// Locks implements Locker: the lock file's holder, if its sovos still runs (holds the
// file's flock); a lock file left by a dead sovos is no lock (the next locker takes it
// over).
func (l *Layout) Locks(ctx context.Context) ([]*LockInfo, error) {
	cur, err := l.readLock()
	if err != nil || cur == nil {
		return nil, err
	}
	if f, err := os.Open(l.lockPath()); err == nil {
		free, _ := tryFlock(f)
		f.Close() // drops the flock if we got it
		if free {
			return nil, nil
		}
	}
	return []*LockInfo{cur}, nil
}

// Unlock implements Locker (force-unlock): it removes the lock file if it holds id. A
// holder still running finds out at its next write (its lock file is gone) and stops.
func (l *Layout) Unlock(ctx context.Context, id string) error {
	cur, err := l.readLock()
	if err != nil {
		return fmt.Errorf("%w (if no sovos is running, delete the file)", err)
	}
	if cur == nil {
		return fmt.Errorf("%s is not locked; nothing to unlock", l)
	}
	if cur.ID != id {
		return fmt.Errorf("%s is locked with ID %s (by %s), not %s; nothing was unlocked", l, cur.ID, cur.Who, id)
	}
	if err := os.Remove(l.lockPath()); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("unlocking: %w", err)
	}
	return nil
}

// layoutLease is a layout lock held: the flocked lock file. It lives as long as the
// process, so it needs no renewal.
type layoutLease struct {
	l  *Layout
	f  *os.File
	id string
}

func (ll *layoutLease) renewable() bool                             { return false }
func (ll *layoutLease) renew(context.Context, *LockInfo) error      { return nil }
func (ll *layoutLease) stateDigest(context.Context) (string, error) { return ll.l.digest() }

func (ll *layoutLease) check(ctx context.Context, accepted func(string) bool) error {
	if !sameFile(ll.l.lockPath(), ll.f) {
		return &LockLostError{ID: ll.id, Reason: "its lock file " + ll.l.lockPath() + " was removed (`sovos force-unlock`)"}
	}
	if accepted == nil {
		return nil
	}
	cur, err := ll.l.digest()
	if err != nil {
		return err
	}
	return stateIs(ll.id, ll.l, cur, accepted)
}

// write is a compare-and-swap: under the layout's exclusive lock, the lock file still
// ours and the state still at an accepted digest.
func (ll *layoutLease) write(ctx context.Context, s *State, accepted func(string) bool, fence func() error) (d string, err error) {
	err = ll.l.locked(true, func() error {
		d, err = ll.l.write(s, func(cur string) error {
			if err := ll.check(ctx, nil); err != nil {
				return err
			}
			if err := stateIs(ll.id, ll.l, cur, accepted); err != nil {
				return err
			}
			return fence()
		})
		return err
	})
	return d, err
}

// release removes the lock file if it is still ours (after a force-unlock, the file at
// that path may be another holder's), then closes it, which drops the flock.
func (ll *layoutLease) release(context.Context) error {
	defer ll.f.Close()
	if !sameFile(ll.l.lockPath(), ll.f) {
		return nil
	}
	if err := os.Remove(ll.l.lockPath()); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("unlocking %s: %w", ll.l, err)
	}
	return nil
}
