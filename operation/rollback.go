package operation

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/urmanac/sovos/rollback"
	"github.com/urmanac/sovos/state"
)

// RollbackRequest is `sovos rollback -to=SERIAL`.
type RollbackRequest struct {
	Inputs
	Lock LockOptions
	// To is the serial whose stable tags are restored (a history entry).
	To uint64
	// Approve is shown the moves before anything moves; false cancels (ErrCancelled).
	// nil approves.
	Approve func(*rollback.Plan) (bool, error)
}

// RollbackResult is what a rollback did.
type RollbackResult struct {
	Backend state.Backend
	Plan    *rollback.Plan
	// Moved are the tags moved (all of the plan's, unless an error stopped it).
	Moved []rollback.Move
	// Serial is the serial written with the result; 0 when nothing moved.
	Serial uint64
}

// Rollback moves every stable tag back to the digest it pointed at in serial req.To
// (SPEC §10): it reads the state and that history entry under the lock, plans the moves
// (refusing, before anything moves, an extension not checked against the kernel it
// would run with, or a digest that no longer exists), asks, moves the tags through the
// registry client, and records them as a new serial. It builds nothing and needs no
// builder. Cancelling ctx (Ctrl-C) stops it between two moves: the tags moved so far are
// recorded as a new serial, the lock released, and the error (ErrInterrupted) says what
// moved and what did not.
func Rollback(ctx context.Context, req RollbackRequest) (res *RollbackResult, err error) {
	if req.To == 0 {
		return nil, errors.New("rollback needs -to=SERIAL: the serial to roll back to (`sovos state history` lists them)")
	}
	again := fmt.Sprintf("Run `sovos rollback -to=%d` again to roll back", req.To)
	note := &beforeChange{operation: "rollback", nothing: "no tag was moved", next: again}
	defer func() { err = note.stopped(ctx, err) }()
	cfg, reg, b, err := openHistory(ctx, req.Inputs, true)
	if err != nil {
		return nil, err
	}
	sig, err := loadSigning(req.Inputs, cfg, false)
	if err != nil {
		return nil, err
	}
	lk, err := takeLock(ctx, b, req.Lock, "rollback")
	if err != nil {
		return nil, err
	}
	defer func() { err = note.finish(ctx, err, lk) }()
	cur, _, err := b.Read(ctx)
	if err != nil {
		return nil, stateReadError(b, err)
	}
	if cur == nil {
		return nil, errNoState(b)
	}
	target, err := historyEntry(ctx, b, cur, req.To)
	if err != nil {
		return nil, err
	}
	res = &RollbackResult{Backend: b}
	res.Plan, err = rollback.MakePlan(ctx, rollback.Request{
		Current:  cur,
		Target:   target,
		Registry: reg,
		Attested: attested(sig.verifier),
		Earlier:  func(ctx context.Context) ([]*state.State, error) { return olderEntries(ctx, b, req.To) },
	})
	if err != nil {
		return nil, err
	}
	if len(res.Plan.Moves) == 0 {
		return res, nil
	}
	if err := approved(req.Approve, res.Plan); err != nil {
		return res, err
	}
	if err := lk.stillHeld(ctx, "moving any tag"); err != nil {
		return res, err
	}
	note.changed = true
	moved, moveErr := rollback.Apply(lk.guard(ctx), reg, res.Plan)
	res.Moved = moved
	stopped := ctx.Err() != nil && len(moved) < len(res.Plan.Moves)
	if stopped && errors.Is(moveErr, context.Cause(ctx)) {
		moveErr = nil // the interruption, said below
	}
	if len(moved) == 0 {
		if stopped {
			return res, errors.Join(moveErr, &InterruptedError{Operation: "rollback", Done: "no tag was moved", Next: again})
		}
		return res, moveErr
	}
	hist := state.NewHistory("rollback")
	hist.RolledBackTo = req.To
	hist.Promoted = rollback.Record(cur, res.Plan, moved, cur.Serial+1)
	// Interrupted or not, what moved is recorded.
	if werr := lk.write(unstoppable(ctx), cur, hist); werr != nil {
		if stopped {
			moveErr = errors.Join(moveErr, rollbackInterrupted(res, req.To))
		}
		return res, errors.Join(moveErr, unrecorded(req.Inputs, b, cur, werr))
	}
	res.Serial = cur.Serial
	if stopped {
		return res, errors.Join(moveErr, rollbackInterrupted(res, req.To))
	}
	if moveErr != nil {
		return res, fmt.Errorf("%w; the tags moved before it are recorded in serial %d: run the same rollback again to move the others", moveErr, cur.Serial)
	}
	return res, nil
}

// historyEntry reads the state at serial n: the current state itself, or its history
// entry.
func historyEntry(ctx context.Context, h state.Historian, cur *state.State, n uint64) (*state.State, error) {
	switch {
	case n == cur.Serial:
		return cur, nil
	case n > cur.Serial:
		return nil, fmt.Errorf("there is no serial %d yet: the state in %s is at serial %d (`sovos state history` lists the serials to roll back to)", n, h, cur.Serial)
	}
	s, _, err := h.ReadHistory(ctx, n)
	if err != nil {
		return nil, stateReadError(h, err)
	}
	if s == nil {
		return nil, fmt.Errorf("%s has no history entry for serial %d (only the final write of each operation is one): `sovos state history` lists the serials to roll back to", h, n)
	}
	return s, nil
}

// olderEntries reads every history entry older than serial n, newest first.
func olderEntries(ctx context.Context, h state.Historian, n uint64) ([]*state.State, error) {
	serials, err := h.HistorySerials(ctx)
	if err != nil {
		return nil, err
	}
	var out []*state.State
	for _, s := range serials {
		if s >= n {
			continue
		}
		st, _, err := h.ReadHistory(ctx, s)
		if err != nil {
			return nil, err
		}
		if st != nil {
			out = append(out, st)
		}
	}
	return out, nil
}

// unrecorded is the error of registry changes made (tags moved, artifacts deleted) whose
// state could not be written: the state is saved locally, as a failed apply's is.
func unrecorded(in Inputs, b state.Backend, s *state.State, err error) error {
	var notTagged *state.HistoryTagError
	if errors.As(err, &notTagged) {
		return err
	}
	path, serr := state.WriteErrored(in.dir(), s)
	if serr != nil {
		return fmt.Errorf("the registry was changed but the state could not be written to %s (%v), nor saved locally: %v", b, err, serr)
	}
	return fmt.Errorf("the registry was changed but the state could not be written to %s: %v; it was saved to %s: store it with `sovos state push %s` once the backend is reachable, before anything else", b, err, path, path)
}

// rollbackInterrupted says what an interrupted rollback moved and recorded, and what
// it left.
func rollbackInterrupted(res *RollbackResult, to uint64) error {
	var moved, left []string
	done := map[string]bool{}
	for _, m := range res.Moved {
		moved = append(moved, m.Ref())
		done[m.Ref()] = true
	}
	for _, m := range res.Plan.Moves {
		if !done[m.Ref()] {
			left = append(left, m.Ref())
		}
	}
	recorded := fmt.Sprintf("recorded in serial %d", res.Serial)
	if res.Serial == 0 {
		recorded = "not recorded (below)"
	}
	return &InterruptedError{
		Operation: "rollback",
		Done: fmt.Sprintf("%s of %d moved back to serial %d (%s) and %s",
			count(len(moved), "tag", "tags"), len(res.Plan.Moves), to, strings.Join(moved, ", "), recorded),
		Left: fmt.Sprintf("%s not moved (%s)", count(len(left), "tag", "tags"), strings.Join(left, ", ")),
		Next: fmt.Sprintf("Run `sovos rollback -to=%d` again to move the others", to),
	}
}
