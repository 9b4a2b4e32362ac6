package views

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/urmanac/sovos/executor"
)

// ApplySummary writes the end-of-apply report: one line per resource that did something
// or failed, then the counts.
func ApplySummary(w io.Writer, s *executor.Summary) {
	for _, r := range s.Resources {
		switch r.Outcome {
		case executor.Unchanged:
			continue
		case executor.Failed, executor.Canceled:
			// Errors name their resource already (the driver's do): say it once.
			msg := strings.TrimPrefix(fmt.Sprint(r.Err), r.Address+": ")
			fmt.Fprintf(w, "%s: %s: %s\n", r.Address, r.Outcome, msg)
		case executor.Skipped:
			fmt.Fprintf(w, "%s: %v\n", r.Address, r.Err)
		default:
			line := fmt.Sprintf("%s: %s", r.Address, r.Outcome)
			if r.Digest != "" {
				line += " " + r.Digest
			}
			if len(r.Files) > 0 {
				line += " -> " + strings.Join(r.Files, ", ")
			}
			if r.Duration > 0 {
				line += fmt.Sprintf(" (%s)", r.Duration.Round(100*time.Millisecond))
			}
			fmt.Fprintln(w, line)
		}
	}
	for _, p := range s.Promoted {
		fmt.Fprintf(w, "%s: promoted %s -> %s\n", p.Address, p.Ref, p.Digest)
	}
	for _, r := range s.Renamed {
		fmt.Fprintf(w, "%s: renamed %s -> %s (profile file names are now file-safe: every character outside A-Za-z0-9._- becomes _)\n", r.Address, r.From, r.To)
	}
	if s.PromoteSkipped != "" {
		fmt.Fprintf(w, "Tags not promoted: %s\n", s.PromoteSkipped)
	}
	fmt.Fprintf(w, "\nApply %s! %d built, ", map[bool]string{true: "failed", false: "complete"}[s.Failed()], s.Count(executor.Built))
	// A profile whose YAML only was written built nothing: counted apart, when there is one.
	if n := s.Count(executor.Rendered); n > 0 {
		fmt.Fprintf(w, "%d rendered, ", n)
	}
	fmt.Fprintf(w, "%d adopted, %d forgotten, %d unchanged, %d failed, %d skipped",
		s.Count(executor.Adopted), s.Count(executor.Forgotten), s.Count(executor.Unchanged), s.Count(executor.Failed), s.Count(executor.Skipped))
	if n := s.Count(executor.Canceled); n > 0 {
		fmt.Fprintf(w, ", %d canceled", n)
	}
	if len(s.Promoted) > 0 {
		fmt.Fprintf(w, ", %d tags promoted", len(s.Promoted))
	}
	fmt.Fprintf(w, " (%s).\n", s.Duration.Round(100*time.Millisecond))
}
