package state

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Writer keeps the state of a running apply and stores it as resources finish: at most one
// write per interval (a second), and always on Flush and Close, so an interrupted apply
// keeps what finished without a registry round trip per resource. Each write increments
// Serial; Lineage never changes. It is safe for concurrent use.
type Writer struct {
	b        Backend
	held     *Held
	interval time.Duration

	mu     sync.Mutex // guards s, dirty, err, digest, serial
	s      *State
	dirty  bool
	err    error // the last failed write, until a later write succeeds
	digest string
	serial uint64 // the serial of the last successful write

	writeMu   sync.Mutex // one write at a time
	lastWrite time.Time  // guarded by writeMu

	kick chan struct{}
	stop chan struct{} // closed by Close: no background write starts after it
	done chan struct{} // closed when the background loop ended, its last write too
	once sync.Once
}

// NewWriter returns a Writer storing s (the state as read, or New) to b. held, when not
// nil, is the lock on b: every write goes through it, fenced, and none is made once the
// lock is lost.
func NewWriter(b Backend, s *State, held *Held) *Writer {
	if h, ok := b.(*Held); ok { // given the lock as the backend
		if held == nil {
			held = h
		}
		b = h.b
	}
	return newWriter(b, s, held, time.Second)
}

func newWriter(b Backend, s *State, held *Held, interval time.Duration) *Writer {
	w := &Writer{b: b, s: s, held: held, interval: interval,
		kick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	go w.loop()
	return w
}

// Update changes the state with fn (under the Writer's lock) and schedules a write.
func (w *Writer) Update(fn func(*State)) {
	w.mu.Lock()
	fn(w.s)
	w.dirty = true
	w.mu.Unlock()
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

// State returns a copy of the current state.
func (w *Writer) State() (*State, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	c, err := clone(w.s)
	if err != nil {
		return nil, err
	}
	return c.State, nil
}

// Digest returns the manifest digest of the last successful write ("" before any).
func (w *Writer) Digest() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.digest
}

// Err returns the error of the last write if no write succeeded since.
func (w *Writer) Err() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

// loop makes the background writes. Close stops it between writes, never during one:
// a manifest PUT abandoned mid-flight may still be stored by the registry after the
// final write, moving the state back to an older serial under the lock (the fence then
// refuses the history tag, and the next plan reads that older state). A write ends by
// itself: every registry request has a deadline and at most 3 attempts.
func (w *Writer) loop() {
	defer close(w.done)
	for {
		select {
		case <-w.stop:
			return
		case <-w.kick:
		}
		w.writeMu.Lock()
		wait := time.Until(w.lastWrite.Add(w.interval))
		w.writeMu.Unlock()
		if wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-w.stop:
				t.Stop()
				return
			case <-t.C:
			}
		}
		select {
		case <-w.stop: // Close's own write comes next
			return
		default:
		}
		// A background failure is kept for Flush and Close to report; the next Update
		// retries.
		_ = w.write(context.Background())
	}
}

// Flush writes the state now if it changed since the last write.
func (w *Writer) Flush(ctx context.Context) error {
	return w.write(ctx)
}

// Close stops background writes and flushes. The final write is also tagged as the
// workspace's history entry (WORKSPACE.v<SERIAL>, SPEC §10) when the backend keeps
// history. It returns the error of the final write, after which the caller should save
// the state with WriteErrored; or a *HistoryTagError when the state was written but not
// tagged (nothing to save then).
func (w *Writer) Close(ctx context.Context) error {
	w.once.Do(func() { close(w.stop) })
	// A background write in flight runs to its end (see loop).
	select {
	case <-w.done:
	case <-ctx.Done():
		return fmt.Errorf("waiting for the state write in progress to %s: %w", w.b, ctx.Err())
	}
	if err := w.write(ctx); err != nil {
		return err
	}
	h, ok := w.b.(Historian)
	if !ok {
		return nil
	}
	w.mu.Lock()
	serial, digest, tag := w.serial, w.digest, HistoryTag(w.s.Workspace, w.serial)
	w.mu.Unlock()
	if digest == "" {
		return nil // nothing was ever written
	}
	// A tag move like any other: fenced by the lock (Check for a layout, whose tags are
	// index.json entries; Guard for every attempt of a registry's PUT).
	if err := w.held.Check(ctx); err != nil {
		return &HistoryTagError{Tag: tag, Err: err}
	}
	if err := h.TagHistory(w.held.Guard(ctx), serial, digest); err != nil {
		return &HistoryTagError{Tag: tag, Err: err}
	}
	return nil
}

// HistoryTagError is a final state write that was stored but could not be tagged as a
// history entry: the state is safe, `sovos state history` will miss that serial.
type HistoryTagError struct {
	Tag string
	Err error
}

func (e *HistoryTagError) Error() string {
	return fmt.Sprintf("the state was written, but not tagged as its history entry %s: %v", e.Tag, e.Err)
}

func (e *HistoryTagError) Unwrap() error { return e.Err }

func (w *Writer) write(ctx context.Context) error {
	w.writeMu.Lock()
	defer w.writeMu.Unlock()
	w.mu.Lock()
	if !w.dirty {
		err := w.err
		w.mu.Unlock()
		return err
	}
	snap, err := clone(w.s)
	w.dirty = false
	w.mu.Unlock()
	if err == nil {
		snap.Serial++
		if snap.History != nil {
			snap.History.Time = time.Now().UTC().Truncate(time.Second)
		}
		err = w.store(ctx, snap)
	}
	w.lastWrite = time.Now()
	w.mu.Lock()
	defer w.mu.Unlock()
	if err != nil {
		w.dirty = true
		w.err = err
		return err
	}
	w.s.Serial = snap.Serial
	w.digest, w.serial = snap.digest, snap.Serial
	w.err = nil
	return nil
}

// snapshot is a state copy being written, with the digest the write returned.
type snapshot struct {
	*State
	digest string
}

func (w *Writer) store(ctx context.Context, snap *snapshot) error {
	b := w.b
	if w.held != nil {
		b = w.held // fenced
	}
	d, err := b.Write(ctx, snap.State)
	if errors.Is(err, ErrLockLost) {
		return fmt.Errorf("not writing the state to %s: %w", w.b, err)
	}
	if err != nil {
		return fmt.Errorf("writing the state to %s: %w", w.b, err)
	}
	snap.digest = d
	return nil
}

// Held returns the lock the Writer's writes are fenced by (nil without one): its Lost
// channel says when to stop, its Guard fences tag moves.
func (w *Writer) Held() *Held { return w.held }

// clone deep-copies s through its codec, so a write never races with Update.
func clone(s *State) (*snapshot, error) {
	if s == nil {
		return nil, errors.New("no state")
	}
	data, err := Encode(s)
	if err != nil {
		return nil, err
	}
	c, err := Decode(data, "state")
	if err != nil {
		return nil, err
	}
	return &snapshot{State: c}, nil
}
