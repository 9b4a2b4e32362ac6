package operation

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/urmanac/sovos/config"
	"github.com/urmanac/sovos/internal/oci"
	"github.com/urmanac/sovos/state"
)

// Stored is a workspace's state as read, with the configuration (unhashed) that says
// where it is.
type Stored struct {
	Config *config.Config
	// State is nil when nothing was applied to the workspace yet.
	State   *state.State
	Backend state.Backend
}

// ReadState evaluates the configuration without hashing (only its settings are needed)
// and reads the state it names. No state yet is not an error: State is nil.
func ReadState(ctx context.Context, in Inputs) (*Stored, error) {
	cfg, b, err := openState(ctx, in)
	if err != nil {
		return nil, err
	}
	s, _, err := b.Read(ctx)
	if err != nil {
		return nil, stateReadError(b, err)
	}
	return &Stored{Config: cfg, State: s, Backend: b}, nil
}

// openState evaluates the configuration (without hashing, required variables may lack
// a value: readOptions) and opens its backend. The registry client is made only for a
// registry backend.
func openState(ctx context.Context, in Inputs) (*config.Config, state.Backend, error) {
	cfg, err := loadConfig(ctx, in, true)
	if err != nil {
		return nil, nil, err
	}
	b, err := openBackend(in, cfg.Settings, func() (*oci.Client, error) { return registryClient(cfg.Settings) })
	if err != nil {
		return nil, nil, err
	}
	return cfg, b, nil
}

// openStore is openState, with the registry client the backend was opened with, for
// the operations that make registry calls of their own (rollback, gc). With readOnly
// false every required variable needs a value (gc reads the configuration's
// repositories).
func openStore(ctx context.Context, in Inputs, readOnly bool) (*config.Config, *oci.Client, state.Backend, error) {
	cfg, err := loadConfig(ctx, in, readOnly)
	if err != nil {
		return nil, nil, nil, err
	}
	reg, err := registryClient(cfg.Settings)
	if err != nil {
		return nil, nil, nil, err
	}
	b, err := openBackend(in, cfg.Settings, func() (*oci.Client, error) { return reg, nil })
	if err != nil {
		return nil, nil, nil, err
	}
	return cfg, reg, b, nil
}

// openHistory is openStore for the operations that read the history and the other
// workspaces of the store (rollback, gc): both of sovos's backends keep them.
func openHistory(ctx context.Context, in Inputs, readOnly bool) (*config.Config, *oci.Client, state.Historian, error) {
	cfg, reg, b, err := openStore(ctx, in, readOnly)
	if err != nil {
		return nil, nil, nil, err
	}
	h, ok := b.(state.Historian)
	if !ok {
		return nil, nil, nil, fmt.Errorf("%s keeps no history", b)
	}
	return cfg, reg, h, nil
}

// errNoState is the error of a command that needs a state where there is none.
func errNoState(b state.Backend) error {
	return fmt.Errorf("no state in %s: nothing has been applied to this workspace yet", b)
}

// StateListRequest is `sovos state list [ADDR]...`.
type StateListRequest struct {
	Inputs
	// Prefixes keep the addresses equal to or inside one of them (`profile.talos`
	// matches `profile.talos["cm5"]`, `kernel` every kernel); none keeps all.
	Prefixes []string
}

// StateList returns the recorded addresses, sorted; none when there is no state.
func StateList(ctx context.Context, req StateListRequest) ([]string, error) {
	st, err := ReadState(ctx, req.Inputs)
	if err != nil || st.State == nil {
		return nil, err
	}
	var addrs []string
	for _, r := range st.State.Resources {
		if matchesAny(r.Address, req.Prefixes) {
			addrs = append(addrs, r.Address)
		}
	}
	sort.Strings(addrs)
	return addrs, nil
}

// matchesAny reports whether addr is one of prefixes or inside one.
func matchesAny(addr string, prefixes []string) bool {
	if len(prefixes) == 0 {
		return true
	}
	for _, p := range prefixes {
		if addr == p || strings.HasPrefix(addr, p+".") || strings.HasPrefix(addr, p+"[") {
			return true
		}
	}
	return false
}

// StateShow returns what the state records about one resource.
func StateShow(ctx context.Context, in Inputs, addr string) (*state.Resource, error) {
	st, err := ReadState(ctx, in)
	if err != nil {
		return nil, err
	}
	if st.State == nil {
		return nil, errNoState(st.Backend)
	}
	r := st.State.Resource(addr)
	if r == nil {
		return nil, fmt.Errorf("no resource %s in the state in %s; `sovos state list` shows what is recorded", addr, st.Backend)
	}
	return r, nil
}

// StatePull returns the state document as stored (nil when there is none) and where
// it was read.
func StatePull(ctx context.Context, in Inputs) ([]byte, state.Backend, error) {
	st, err := ReadState(ctx, in)
	if err != nil || st.State == nil {
		if st != nil {
			return nil, st.Backend, err
		}
		return nil, nil, err
	}
	data, err := state.Encode(st.State)
	return data, st.Backend, err
}

// StateWrite is what a state-writing command did.
type StateWrite struct {
	Backend state.Backend
	// Serial is the serial written.
	Serial uint64
	// Resources counts the resources of the state written.
	Resources int
	// Removed counts the resources state rm removed.
	Removed int
	// From names the document state push stored (a file, or "standard input").
	From string
	// Warnings are what the command did that a person should know.
	Warnings []string
}

// StateRmRequest is `sovos state rm ADDR...`.
type StateRmRequest struct {
	Inputs
	Lock      LockOptions
	Addresses []string
}

// StateRm forgets resources: the next apply rebuilds (or adopts) them; their images stay
// in the registry. Every address must be recorded, or nothing is removed. Cancelling
// ctx (Ctrl-C) before the write removes nothing (ErrInterrupted); a write begun finishes.
func StateRm(ctx context.Context, req StateRmRequest) (_ *StateWrite, err error) {
	if len(req.Addresses) == 0 {
		return nil, errors.New("state rm needs at least one resource address")
	}
	note := &beforeChange{operation: "state rm", nothing: "nothing was removed", next: "Run the same `sovos state rm` again"}
	defer func() { err = note.stopped(ctx, err) }()
	_, b, err := openState(ctx, req.Inputs)
	if err != nil {
		return nil, err
	}
	lk, err := takeLock(ctx, b, req.Lock, "state rm")
	if err != nil {
		return nil, err
	}
	defer func() { err = note.finish(ctx, err, lk) }()
	s, _, err := lk.backend.Read(ctx)
	if err != nil {
		return nil, stateReadError(b, err)
	}
	if s == nil {
		return nil, errNoState(b)
	}
	recorded := state.NewIndex(s)
	drop := map[string]bool{}
	for _, a := range req.Addresses {
		if recorded.Get(a) == nil {
			return nil, fmt.Errorf("no resource %s in the state in %s; nothing was removed (`sovos state list` shows what is recorded)", a, b)
		}
		drop[a] = true
	}
	for a := range drop {
		recorded.Remove(a)
	}
	hist := state.NewHistory("state rm")
	hist.Forgotten = slices.Sorted(maps.Keys(drop))
	if err := ctx.Err(); err != nil {
		return nil, err // interrupted before the write
	}
	note.changed = true
	if err := lk.write(unstoppable(ctx), s, hist); err != nil {
		return nil, err
	}
	return &StateWrite{Backend: b, Serial: s.Serial, Resources: len(s.Resources), Removed: len(drop)}, nil
}

// StatePushRequest is `sovos state push [-force] FILE`.
type StatePushRequest struct {
	Inputs
	Lock LockOptions
	// File is the state document to store; "-" reads Stdin. A relative name not found
	// in the working directory is looked up in Dir (where a failed apply saved its
	// errored state).
	File  string
	Stdin io.Reader
	// Force skips the lineage and serial checks, replaces a damaged stored state, and
	// stores a state of another workspace under this one.
	Force bool
}

// StatePush stores a state document (a `state pull` backup, an errored state) as the
// workspace's state, as the next serial: only when its lineage is the stored one's and
// its serial is not lower (an unchanged pulled state may be pushed back), unless Force.
// The serial never moves back. Cancelling ctx (Ctrl-C) before the write stores nothing
// (ErrInterrupted); a write begun finishes.
func StatePush(ctx context.Context, req StatePushRequest) (_ *StateWrite, err error) {
	data, where, err := readPushed(req)
	if err != nil {
		return nil, err
	}
	pushed, err := state.Decode(data, where)
	if err != nil {
		if errors.Is(err, state.ErrNotState) || errors.Is(err, state.ErrCorrupt) {
			return nil, fmt.Errorf("%w; push a state written by `sovos state pull`, or the errored state a failed apply saved", err)
		}
		return nil, err
	}
	note := &beforeChange{operation: "state push", nothing: "nothing was stored", next: "Run the same `sovos state push` again"}
	defer func() { err = note.stopped(ctx, err) }()
	_, b, err := openState(ctx, req.Inputs)
	if err != nil {
		return nil, err
	}
	lk, err := takeLock(ctx, b, req.Lock, "state push")
	if err != nil {
		return nil, err
	}
	defer func() { err = note.finish(ctx, err, lk) }()
	res := &StateWrite{Backend: b, From: where}
	cur, _, err := lk.backend.Read(ctx)
	if err != nil {
		// A damaged state is what Force is for: stateReadError points here.
		if !req.Force || !errors.Is(err, state.ErrCorrupt) {
			return nil, stateReadError(b, err)
		}
		res.Warnings = append(res.Warnings, fmt.Sprintf("the state in %s is damaged and cannot be read; replacing it with %s (-force)", b, where))
		cur = nil
	}
	if err := checkPush(cur, pushed, b, where, req.Force); err != nil {
		return nil, err
	}
	if ws := workspaceOf(b); ws != "" && pushed.Workspace != ws {
		if !req.Force {
			return nil, fmt.Errorf("%s is the state of workspace %q, not %q; use -workspace=%s, or -force to push it here", where, pushed.Workspace, ws, pushed.Workspace)
		}
		pushed.Workspace = ws
	}
	if err := ctx.Err(); err != nil {
		return nil, err // interrupted before the write
	}
	note.changed = true
	if err := lk.write(unstoppable(ctx), pushed, state.NewHistory("state push")); err != nil {
		return nil, err
	}
	res.Serial, res.Resources = pushed.Serial, len(pushed.Resources)
	return res, nil
}

// checkPush applies the rules of SPEC §7 to a state pushed over cur, the same as
// Terraform's: another lineage is another workspace's history; a lower serial is an
// older copy that would undo later applies. Force skips both. In every case the
// serial written grows: pushed takes cur's serial when it is lower, and the write
// adds one.
func checkPush(cur, pushed *state.State, b state.Backend, where string, force bool) error {
	if cur == nil {
		return nil
	}
	if !force {
		switch {
		case cur.Lineage != pushed.Lineage:
			return fmt.Errorf("%s has lineage %s but the state in %s has lineage %s: it is another state's history; use -force to replace it anyway", where, pushed.Lineage, b, cur.Lineage)
		case pushed.Serial < cur.Serial:
			return fmt.Errorf("%s has serial %d, older than the state in %s (serial %d): pushing it would undo later changes; use -force to push it anyway", where, pushed.Serial, b, cur.Serial)
		}
	}
	if cur.Serial > pushed.Serial {
		pushed.Serial = cur.Serial
	}
	return nil
}

// readPushed reads the document StatePush stores, and names it for messages.
func readPushed(req StatePushRequest) ([]byte, string, error) {
	if req.File == "" {
		return nil, "", errors.New("state push needs the file to push (- for standard input)")
	}
	if req.File == "-" {
		if req.Stdin == nil {
			return nil, "", errors.New("state push -: no standard input")
		}
		data, err := io.ReadAll(req.Stdin)
		if err != nil {
			return nil, "", fmt.Errorf("reading the state to push: %w", err)
		}
		return data, "standard input", nil
	}
	file := req.File
	data, err := os.ReadFile(file)
	if errors.Is(err, os.ErrNotExist) && !filepath.IsAbs(file) && req.dir() != "." {
		// With -chdir, the errored state the failed apply named is in that directory.
		if d, derr := os.ReadFile(filepath.Join(req.dir(), file)); derr == nil {
			data, err, file = d, nil, filepath.Join(req.dir(), file)
		}
	}
	if err != nil {
		return nil, "", fmt.Errorf("reading the state to push: %w", err)
	}
	return data, file, nil
}

// workspaceOf returns the workspace a backend stores, for the push check.
func workspaceOf(b state.Backend) string {
	if w, ok := b.(interface{ Workspace() string }); ok {
		return w.Workspace()
	}
	return ""
}

// ForceUnlockRequest is `sovos force-unlock LOCK_ID`.
type ForceUnlockRequest struct {
	Inputs
	ID string
	// Confirm is shown the lock before it is removed; false leaves it
	// (ErrNotConfirmed). nil removes it.
	Confirm func(*state.LockInfo) bool
}

// ErrNotConfirmed is a force-unlock that Confirm refused.
var ErrNotConfirmed = errors.New("force-unlock cancelled")

// ForceUnlock removes the state lock ID left by a sovos that died. It returns where
// the lock was. A sovos still holding it stops at its next renewal, state write or tag
// move.
func ForceUnlock(ctx context.Context, req ForceUnlockRequest) (state.Backend, error) {
	_, b, err := openState(ctx, req.Inputs)
	if err != nil {
		return nil, err
	}
	lk, ok := b.(state.Locker)
	if !ok {
		return nil, fmt.Errorf("%s has no lock", b)
	}
	locks, err := lk.Locks(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading the lock of %s: %w", b, err)
	}
	var cur *state.LockInfo
	var others []string
	for _, l := range locks {
		if l.ID == req.ID {
			cur = l
		} else {
			others = append(others, l.ID+" (by "+l.Who+")")
		}
	}
	switch {
	case cur == nil && len(others) == 0:
		return nil, fmt.Errorf("%s is not locked; nothing to unlock", b)
	case cur == nil:
		return nil, fmt.Errorf("%s is locked with ID %s, not %s; nothing was unlocked", b, strings.Join(others, ", "), req.ID)
	}
	if req.Confirm != nil && !req.Confirm(cur) {
		return nil, ErrNotConfirmed
	}
	if err := lk.Unlock(ctx, req.ID); err != nil {
		return nil, fmt.Errorf("force-unlock: %w", err)
	}
	return b, nil
}

// StateHistoryRequest is `sovos state history`.
type StateHistoryRequest struct {
	Inputs
	// Limit keeps the newest entries only (0: all).
	Limit int
}

// StateHistory returns the workspace's history entries, newest first (SPEC §10), and
// where they were read.
func StateHistory(ctx context.Context, req StateHistoryRequest) ([]state.Entry, state.Backend, error) {
	_, b, err := openState(ctx, req.Inputs)
	if err != nil {
		return nil, nil, err
	}
	entries, err := state.ListHistory(ctx, b, req.Limit)
	if err != nil {
		return nil, b, stateReadError(b, err)
	}
	return entries, b, nil
}
