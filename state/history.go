package state

import (
	"context"
	"os"
	"os/user"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/urmanac/sovos/internal/grammar"
)

// History is what one state-writing operation did (SPEC §10): the entry `sovos state
// history` shows for the serial it wrote. Every write of an operation carries it (an
// apply's intermediate writes a partial one); the final write is also tagged
// WORKSPACE.v<SERIAL>, which is what makes it a history entry.
type History struct {
	// Operation is the command: apply, state push, state rm, rollback, gc.
	Operation string `json:"operation"`
	// Who ran it (user@host, as in a lock), and when the state was written.
	Who  string    `json:"who"`
	Time time.Time `json:"time"`
	// Built, Adopted and Forgotten are the addresses an apply built (a profile's imager
	// run included), adopted from the registry, and dropped from the state.
	Built     []string `json:"built,omitempty"`
	Adopted   []string `json:"adopted,omitempty"`
	Forgotten []string `json:"forgotten,omitempty"`
	// Promoted maps every stable tag the operation moved (image:tag) to the digest it
	// now points at: apply -promote's moves forward, rollback's moves back.
	Promoted map[string]string `json:"promoted,omitempty"`
	// RolledBackTo is the serial a rollback took the stable tags from.
	RolledBackTo uint64 `json:"rolled_back_to,omitempty"`
	// Deleted lists what gc deleted (image@digest).
	Deleted []string `json:"deleted,omitempty"`
}

// NewHistory starts the history entry of an operation run by this user on this host.
// The time is set when the state is written.
func NewHistory(operation string) *History {
	return &History{Operation: operation, Who: Who()}
}

// Who names the person running sovos as locks and history record them: user@host.
func Who() string {
	who := "unknown"
	if u, err := user.Current(); err == nil {
		who = u.Username
	}
	if h, err := os.Hostname(); err == nil {
		who += "@" + h
	}
	return who
}

// HistoryTag is the tag of a workspace's state at serial (SPEC §10): WORKSPACE.v<SERIAL>.
// Workspace names have no '.', so it can never be another workspace's tag.
func HistoryTag(workspace string, serial uint64) string {
	return workspace + ".v" + strconv.FormatUint(serial, 10)
}

// parseHistoryTag returns the serial of workspace's history tag t, and whether t is one.
func parseHistoryTag(workspace, t string) (uint64, bool) {
	rest, ok := strings.CutPrefix(t, workspace+".v")
	if !ok || rest == "" || (len(rest) > 1 && rest[0] == '0') {
		return 0, false
	}
	n, err := strconv.ParseUint(rest, 10, 64)
	return n, err == nil
}

// Historian is a Backend that keeps history: both of sovos's backends are. A store
// (a registry repository, a layout directory) may hold several workspaces.
type Historian interface {
	Backend
	// TagHistory tags the state written at serial (its manifest digest) as
	// WORKSPACE.v<SERIAL>.
	TagHistory(ctx context.Context, serial uint64, digest string) error
	// HistorySerials lists the serials of the workspace's history tags, newest first.
	HistorySerials(ctx context.Context) ([]uint64, error)
	// ReadHistory reads the state tagged WORKSPACE.v<serial>: (nil, "", nil) when there
	// is no such tag.
	ReadHistory(ctx context.Context, serial uint64) (*State, string, error)
	// Workspaces lists the workspaces of the same store that have a state or a lock (a
	// first apply holds one before there is any state), sorted.
	Workspaces(ctx context.Context) ([]string, error)
	// ForWorkspace returns the backend of another workspace in the same store.
	ForWorkspace(workspace string) (Historian, error)
}

// Entry is one history entry as `sovos state history` lists it.
type Entry struct {
	Serial uint64
	// Digest is the manifest digest of the state at that serial.
	Digest string
	// History is nil for a state written before history existed (a version-1 state,
	// which only the current state can be).
	*History
}

// ListHistory returns b's history entries, newest first, at most limit of them (0: all).
// The current state counts as the newest entry even when it has no history tag (a state
// written by a sovos without history). It reads one state document per entry.
func ListHistory(ctx context.Context, b Backend, limit int) ([]Entry, error) {
	states, digests, err := HistoryStates(ctx, b, limit)
	if err != nil {
		return nil, err
	}
	out := make([]Entry, len(states))
	for i, s := range states {
		out[i] = Entry{Serial: s.Serial, Digest: digests[i], History: s.History}
	}
	return out, nil
}

// HistoryStates returns the states of b's newest history entries (as ListHistory counts
// them) and their manifest digests: what `sovos gc -keep=N` keeps.
func HistoryStates(ctx context.Context, b Backend, limit int) ([]*State, []string, error) {
	cur, curDigest, err := b.Read(ctx)
	if err != nil {
		return nil, nil, err
	}
	var states []*State
	var digests []string
	if cur != nil {
		states, digests = append(states, cur), append(digests, curDigest)
	}
	h, ok := b.(Historian)
	if !ok {
		return states, digests, nil
	}
	serials, err := h.HistorySerials(ctx)
	if err != nil {
		return nil, nil, err
	}
	var todo []uint64
	for _, n := range serials {
		if cur == nil || n < cur.Serial { // the current state is already the first entry
			todo = append(todo, n)
		}
	}
	if limit > 0 {
		todo = todo[:min(len(todo), max(limit-len(states), 0))]
	}
	// The entries are read a few at a time: on a registry each read is a few round trips.
	read := make([]*State, len(todo))
	readDigests := make([]string, len(todo))
	errs := make([]error, len(todo))
	sem := make(chan struct{}, historyReaders)
	var wg sync.WaitGroup
	for i, n := range todo {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			read[i], readDigests[i], errs[i] = h.ReadHistory(ctx, n)
		}()
	}
	wg.Wait()
	for i := range todo {
		if errs[i] != nil {
			return nil, nil, errs[i]
		}
		if read[i] != nil { // nil: removed since the listing
			states, digests = append(states, read[i]), append(digests, readDigests[i])
		}
	}
	return states, digests, nil
}

// historyReaders is how many history entries HistoryStates reads at once.
const historyReaders = 8

// sortSerials sorts serials newest first, without duplicates.
func sortSerials(serials []uint64) []uint64 {
	slices.Sort(serials)
	serials = slices.Compact(serials)
	slices.Reverse(serials)
	return serials
}

// lockOwner returns the workspace whose lock tag or file name n is (WORKSPACE.lock, or
// WORKSPACE.lock.<...> on a registry).
func lockOwner(n string) (string, bool) {
	ws, _, ok := strings.Cut(n, ".lock")
	if !ok || !grammar.IsWorkspace(ws) {
		return "", false
	}
	rest := strings.TrimPrefix(n, ws+".lock")
	return ws, rest == "" || strings.HasPrefix(rest, ".")
}
