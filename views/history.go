package views

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"time"

	"github.com/urmanac/sovos/planner"
	"github.com/urmanac/sovos/state"
)

// HistoryHuman writes `sovos state history`: one block per entry, newest first, with
// what the operation built, adopted, forgot and promoted (tag -> digest). where names
// the backend, for an empty history.
func HistoryHuman(w io.Writer, entries []state.Entry, where string) error {
	if len(entries) == 0 {
		_, err := fmt.Fprintf(w, "No history in %s: nothing has been applied yet.\n", where)
		return err
	}
	for i, e := range entries {
		if i > 0 {
			fmt.Fprintln(w)
		}
		if e.History == nil {
			fmt.Fprintf(w, "serial %d  (written by a sovos that recorded no history)\n", e.Serial)
			continue
		}
		fmt.Fprintf(w, "serial %d  %s  %s  by %s\n", e.Serial, e.Time.UTC().Format(time.RFC3339), e.Operation, e.Who)
		if e.RolledBackTo != 0 {
			fmt.Fprintf(w, "  rolled back to serial %d\n", e.RolledBackTo)
		}
		list := func(label string, items []string) {
			for j, it := range items {
				if j == 0 {
					fmt.Fprintf(w, "  %-10s %s\n", label+":", it)
				} else {
					fmt.Fprintf(w, "  %-10s %s\n", "", it)
				}
			}
		}
		list("built", e.Built)
		list("adopted", e.Adopted)
		list("forgotten", e.Forgotten)
		var promoted []string
		for _, ref := range slices.Sorted(maps.Keys(e.Promoted)) {
			promoted = append(promoted, ref+" -> "+planner.ShortDigest(e.Promoted[ref]))
		}
		list("promoted", promoted)
		list("deleted", e.Deleted)
		if len(e.Built)+len(e.Adopted)+len(e.Forgotten)+len(e.Promoted)+len(e.Deleted) == 0 && e.RolledBackTo == 0 {
			fmt.Fprintln(w, "  (no change to any artifact)")
		}
	}
	return nil
}

// historyJSON is one entry of `sovos state history -json` (SPEC §10): the lists are
// always present, empty when there is nothing in them.
type historyJSON struct {
	Serial       uint64            `json:"serial"`
	Time         *time.Time        `json:"time"`
	Who          string            `json:"who"`
	Operation    string            `json:"operation"`
	Built        []string          `json:"built"`
	Adopted      []string          `json:"adopted"`
	Forgotten    []string          `json:"forgotten"`
	Promoted     map[string]string `json:"promoted"`
	RolledBackTo uint64            `json:"rolled_back_to,omitempty"`
	Deleted      []string          `json:"deleted,omitempty"`
	// Digest is the state manifest's digest at that serial.
	Digest string `json:"state_digest"`
}

// HistoryJSON writes the entries as a JSON array, newest first. An entry written
// before history existed has a null time and empty who and operation.
func HistoryJSON(w io.Writer, entries []state.Entry) error {
	out := make([]historyJSON, 0, len(entries))
	for _, e := range entries {
		j := historyJSON{Serial: e.Serial, Digest: e.Digest, Built: []string{}, Adopted: []string{}, Forgotten: []string{}, Promoted: map[string]string{}}
		if h := e.History; h != nil {
			t := h.Time.UTC()
			j.Time, j.Who, j.Operation = &t, h.Who, h.Operation
			j.Built = append(j.Built, h.Built...)
			j.Adopted = append(j.Adopted, h.Adopted...)
			j.Forgotten = append(j.Forgotten, h.Forgotten...)
			maps.Copy(j.Promoted, h.Promoted)
			j.RolledBackTo, j.Deleted = h.RolledBackTo, h.Deleted
		}
		out = append(out, j)
	}
	data, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(w, string(data))
	return err
}
