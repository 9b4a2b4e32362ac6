package views

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/urmanac/sovos/gc"
)

// GCScope is what a collection kept by: the workspaces whose states were read, how many
// history entries of each, and the minimum age.
type GCScope struct {
	Workspaces []string
	Keep       int
	MinAge     time.Duration
}

// GCPlan writes what `sovos gc` deletes: one `-` line per artifact (repository:tag@digest,
// with when it was made) and, under it, what is deleted with it; then what is kept, by
// reason, and a summary line.
func GCPlan(w io.Writer, p *gc.Plan, scope GCScope) error {
	kept := "its current state refers to"
	if scope.Keep > 1 {
		kept = fmt.Sprintf("its current state and the %d history %s before it refer to", scope.Keep-1, plural(scope.Keep-1, "entry", "entries"))
	}
	young := ""
	if scope.MinAge > 0 {
		young = fmt.Sprintf("; and anything younger than %s", scope.MinAge)
	}
	fmt.Fprintf(w, "sovos gc keeps, for each workspace (%s), what %s; anything a tag other than a content tag points at%s.\n",
		strings.Join(scope.Workspaces, ", "), kept, young)
	if p.Count() == 0 {
		fmt.Fprintf(w, "\nNothing to delete in %d %s.\n", len(p.Repositories), plural(len(p.Repositories), "repository", "repositories"))
		keptLine(w, p)
		return nil
	}
	fmt.Fprintln(w)
	with := 0
	for _, g := range p.Delete {
		for _, a := range g.Artifacts {
			made := ""
			if !a.Created.IsZero() {
				made = "  (made " + a.Created.UTC().Format(time.RFC3339) + ")"
			}
			fmt.Fprintf(w, "  - %s%s\n", a.Ref(), made)
			for _, r := range a.With {
				fmt.Fprintf(w, "      with %s\n", r)
			}
			with += len(a.With)
		}
	}
	keptLine(w, p)
	refer := ""
	if with > 0 {
		refer = fmt.Sprintf(", with %d %s that %s to them", with, plural(with, "manifest", "manifests"), plural(with, "refers", "refer"))
	}
	_, err := fmt.Fprintf(w, "\nGC: %d %s to delete%s.\n", p.Count(), plural(p.Count(), "artifact", "artifacts"), refer)
	return err
}

// keptLine counts the content-tagged artifacts kept, by reason.
func keptLine(w io.Writer, p *gc.Plan) {
	if len(p.Kept) == 0 {
		return
	}
	n := map[string]int{}
	for _, k := range p.Kept {
		n[k.Kind]++
	}
	var parts []string
	for _, k := range []struct{ kind, what string }{
		{gc.KeptByState, "in a kept state"},
		{gc.KeptByTag, "tagged otherwise"},
		{gc.KeptYoung, "too young"},
		{gc.KeptAgeUnknown, "of unknown age"},
	} {
		if n[k.kind] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n[k.kind], k.what))
		}
	}
	fmt.Fprintf(w, "\nKept: %d content-tagged %s (%s).\n", len(p.Kept), plural(len(p.Kept), "artifact", "artifacts"), strings.Join(parts, ", "))
}

// GCDone writes what a collection deleted.
func GCDone(w io.Writer, p *gc.Plan, deleted []string, serial uint64) error {
	recorded := ""
	if serial > 0 {
		recorded = fmt.Sprintf(", recorded as serial %d", serial)
	}
	_, err := fmt.Fprintf(w, "GC complete! %d %s deleted (%d manifests in all)%s.\n", p.Count(), plural(p.Count(), "artifact", "artifacts"), len(deleted), recorded)
	return err
}

// GCByHand lists the manifests a person must delete, one repository@digest per line.
func GCByHand(w io.Writer, refs []string) error {
	if len(refs) == 0 {
		return nil
	}
	fmt.Fprintln(w, "Delete these by hand, in this order:")
	for _, r := range refs {
		if _, err := fmt.Fprintf(w, "  %s\n", r); err != nil {
			return err
		}
	}
	return nil
}
