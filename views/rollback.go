package views

import (
	"fmt"
	"io"

	"github.com/urmanac/sovos/planner"
	"github.com/urmanac/sovos/rollback"
)

// RollbackPlan writes the moves of `sovos rollback` as a plan: one `>` line per stable
// tag (the reference, its digest now -> the one it had, and the serial that comes from),
// what is left as it is, and a summary line.
func RollbackPlan(w io.Writer, p *rollback.Plan) error {
	if len(p.Moves) == 0 {
		fmt.Fprintf(w, "No changes. Every stable tag already points where it did at serial %d.\n", p.To)
		notes(w, p)
		return nil
	}
	fmt.Fprintf(w, "sovos rollback moves these stable tags of workspace %q back to where they pointed at serial %d (the state is at serial %d):\n\n", p.Workspace, p.To, p.Current)
	for _, m := range p.Moves {
		from := m.From
		if from == "" {
			from = "(unset)"
		}
		fmt.Fprintf(w, "  > %s: %s -> %s (serial %d, %s)\n", m.Ref(), planner.ShortDigest(from), planner.ShortDigest(m.To), p.To, m.Address)
	}
	notes(w, p)
	_, err := fmt.Fprintf(w, "\nRollback: %d %s to move back, %d already in place. Nothing is built.\n", len(p.Moves), plural(len(p.Moves), "tag", "tags"), p.Unchanged)
	return err
}

func notes(w io.Writer, p *rollback.Plan) {
	if len(p.Notes) == 0 {
		return
	}
	fmt.Fprintln(w)
	for _, n := range p.Notes {
		fmt.Fprintf(w, "Note: %s.\n", n)
	}
}

// RollbackDone writes what a rollback did once its tags moved.
func RollbackDone(w io.Writer, p *rollback.Plan, moved []rollback.Move, serial uint64) error {
	_, err := fmt.Fprintf(w, "Rollback complete! %d %s moved back to serial %d, recorded as serial %d.\n"+
		"`sovos plan -promote` shows what a later `sovos apply -promote` moves forward again.\n",
		len(moved), plural(len(moved), "tag", "tags"), p.To, serial)
	return err
}
