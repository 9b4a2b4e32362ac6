package operation

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/urmanac/sovos/config"
	"github.com/urmanac/sovos/gc"
	"github.com/urmanac/sovos/state"
)

// DefaultKeep is how many history entries per workspace `sovos gc` keeps (the current
// state counting as the first).
const DefaultKeep = 10

// GCRequest is `sovos gc`.
type GCRequest struct {
	Inputs
	Lock LockOptions
	// Keep is how many of each workspace's newest history entries keep what they refer
	// to, the current state counting as the first (at least 1).
	Keep int
	// MinAge keeps what is younger than it.
	MinAge time.Duration
	// DryRun lists what would be deleted and changes nothing (it takes no lock).
	DryRun bool
	// Approve is shown the plan (and the workspaces that kept what it keeps) before
	// anything is deleted; false cancels (ErrCancelled). nil approves.
	Approve func(*GCResult) (bool, error)
}

// GCResult is what a collection found and did.
type GCResult struct {
	Backend state.Backend
	Plan    *gc.Plan
	// Workspaces are those whose states kept artifacts.
	Workspaces []string
	// Deleted are the manifests deleted (repository@digest); Remaining those a person
	// must delete by hand after the registry refused or an error stopped gc.
	Deleted, Remaining []string
	// Serial is the serial of the history entry written; 0 when none was.
	Serial uint64
}

// GC deletes the content-tagged artifacts of the configuration's repositories that
// nothing keeps (SPEC §10): not the state of any workspace in the state store nor its
// req.Keep newest history entries, not anything another tag points at, nothing younger
// than req.MinAge. It takes this workspace's lock (not for a dry run) and refuses while
// another workspace's lock is live. What it deleted is recorded as a history entry.
// Cancelling ctx (Ctrl-C) stops it between two deletions: what was deleted is recorded,
// the lock released, and the error (ErrInterrupted) says what was deleted and what not.
func GC(ctx context.Context, req GCRequest) (res *GCResult, err error) {
	if req.Keep < 1 {
		return nil, fmt.Errorf("-keep=%d: keep at least 1 history entry (the current state)", req.Keep)
	}
	if req.MinAge < 0 {
		return nil, fmt.Errorf("-min-age=%s: give 0 or a positive duration", req.MinAge)
	}
	note := &beforeChange{operation: "gc", nothing: "nothing was deleted", next: gcAgain}
	defer func() { err = note.stopped(ctx, err) }()
	cfg, reg, b, err := openHistory(ctx, req.Inputs, false)
	if err != nil {
		return nil, err
	}
	own := cfg.Settings.State.Workspace
	var lk *heldLock
	if !req.DryRun {
		if lk, err = takeLock(ctx, b, req.Lock, "gc"); err != nil {
			return nil, err
		}
		defer func() { err = note.finish(ctx, err, lk) }()
	}
	res = &GCResult{Backend: b}
	keep := gc.Keep{}
	workspaces, err := b.Workspaces(ctx)
	if err != nil {
		return nil, fmt.Errorf("listing the workspaces of %s: %w", b, err)
	}
	cur, _, err := b.Read(ctx)
	if err != nil {
		return nil, stateReadError(b, err)
	}
	for _, ws := range append([]string{own}, workspaces...) {
		if ws == own && len(res.Workspaces) > 0 {
			continue // listed again
		}
		wb := b
		if ws != own {
			if wb, err = b.ForWorkspace(ws); err != nil {
				return nil, err
			}
		}
		if ws != own || lk == nil {
			if err := refuseLocked(ctx, wb, ws); err != nil {
				return nil, err
			}
		}
		states, _, err := state.HistoryStates(ctx, wb, req.Keep)
		if err != nil {
			return nil, stateReadError(wb, err)
		}
		for i, s := range states {
			why := fmt.Sprintf("workspace %s's state (serial %d)", ws, s.Serial)
			if i > 0 {
				why = fmt.Sprintf("workspace %s's history (serial %d)", ws, s.Serial)
			}
			keep.AddState(s, why)
		}
		res.Workspaces = append(res.Workspaces, ws)
	}
	res.Plan, err = gc.MakePlan(ctx, gc.Request{
		Registry:     reg,
		Repositories: repositories(cfg),
		Keep:         keep,
		MinAge:       req.MinAge,
	})
	if err != nil {
		return nil, err
	}
	if req.DryRun || res.Plan.Count() == 0 {
		return res, nil
	}
	if err := approved(req.Approve, res); err != nil {
		return res, err
	}
	if err := lk.stillHeld(ctx, "deleting anything"); err != nil {
		return res, err
	}
	note.changed = true
	done, delErr := gc.Delete(lk.guard(ctx), reg, res.Plan)
	res.Deleted, res.Remaining = done.Deleted, done.Remaining
	var stopped *InterruptedError
	if ctx.Err() != nil && len(done.Remaining) > 0 && errors.Is(delErr, context.Cause(ctx)) {
		// Interrupted: what remains is for the next gc, not for a person to delete.
		stopped = &InterruptedError{Operation: "gc", Done: "nothing was deleted",
			Left: fmt.Sprintf("%s not deleted", count(len(done.Remaining), "manifest", "manifests")), Next: gcAgain}
		delErr, res.Remaining = stopped, nil
	}
	if len(done.Deleted) == 0 || cur == nil {
		if stopped != nil && len(done.Deleted) > 0 {
			stopped.Done = fmt.Sprintf("%s deleted, not recorded (workspace %s has no state)", count(len(done.Deleted), "manifest", "manifests"), own)
		}
		return res, delErr
	}
	hist := state.NewHistory("gc")
	deleted := map[string]bool{}
	for _, r := range done.Deleted {
		deleted[r] = true
	}
	// The artifacts deleted; and, for one whose deletion an interrupt or an error
	// stopped after its referrers went, the referrers deleted.
	for _, g := range res.Plan.Delete {
		for _, a := range g.Artifacts {
			if deleted[a.Manifest()] {
				hist.Deleted = append(hist.Deleted, a.Ref())
				continue
			}
			for _, w := range a.With {
				if deleted[w] {
					hist.Deleted = append(hist.Deleted, w)
				}
			}
		}
	}
	if stopped != nil {
		stopped.Done = fmt.Sprintf("%s of %d deleted (%s)",
			count(len(done.Deleted), "manifest", "manifests"), len(done.Deleted)+len(done.Remaining), strings.Join(hist.Deleted, ", "))
	}
	// Interrupted or not, what was deleted is recorded.
	if werr := lk.write(unstoppable(ctx), cur, hist); werr != nil {
		return res, errors.Join(delErr, werr)
	}
	res.Serial = cur.Serial
	if stopped != nil {
		stopped.Done += fmt.Sprintf(", recorded in serial %d", res.Serial)
	}
	return res, delErr
}

// gcAgain is what to run after an interrupted gc.
const gcAgain = "Run `sovos gc` again: it finds what is left to delete"

// refuseLocked fails when workspace ws (whose backend is b) has a live lock: an apply
// there may have pushed artifacts no state refers to yet.
func refuseLocked(ctx context.Context, b state.Backend, ws string) error {
	lk, ok := b.(state.Locker)
	if !ok {
		return nil
	}
	// A lock is live until released: telling an abandoned one would take a TTL of
	// watching it, so a dead holder's lock is force-unlocked first (the message says so).
	locks, err := lk.Locks(ctx)
	if err != nil {
		return fmt.Errorf("reading the lock of workspace %s: %w", ws, err)
	}
	if len(locks) == 0 {
		return nil
	}
	info := locks[0]
	held := fmt.Sprintf("workspace %s is locked by %s (operation %s, since %s, lock ID %s): gc deletes nothing while another operation runs, since what it pushed is in no state yet",
		ws, info.Who, info.Operation, info.Created.UTC().Format(time.RFC3339), info.ID)
	if _, layout := b.(*state.Layout); layout {
		// A layout lists only the locks whose sovos still runs (holds the file lock).
		return fmt.Errorf("%s; that sovos is still running (it holds the file lock on %s): run gc when it has finished, or stop that process (on Ctrl-C or SIGTERM it records what it did and releases the lock)", held, info.Where)
	}
	return fmt.Errorf("%s; run gc when it has finished (or, if that sovos died, after `sovos force-unlock -workspace=%s %s`)", held, ws, info.ID)
}

// repositories are the configuration's repositories: where its builds, their stages and
// its profiles are pushed.
func repositories(cfg *config.Config) []string {
	var out []string
	for _, r := range cfg.Resources {
		switch {
		case r.Build != nil:
			out = append(out, r.Build.Image)
			for _, s := range r.Build.Stages {
				out = append(out, s.Image)
			}
		case r.Profile != nil && r.Profile.Image != "":
			out = append(out, r.Profile.Image)
		}
	}
	return out
}
