package views

import (
	"bufio"
	"fmt"
	"io"
	"iter"
	"maps"
	"slices"
	"strings"

	"github.com/urmanac/sovos/planner"
)

// ANSI colours of the human renderer, one per action as in Terraform.
const (
	ansiReset   = "\x1b[0m"
	ansiBold    = "\x1b[1m"
	ansiRed     = "\x1b[31m"
	ansiGreen   = "\x1b[32m"
	ansiYellow  = "\x1b[33m"
	ansiMagenta = "\x1b[35m"
	ansiCyan    = "\x1b[36m"
)

// NoChanges is the human rendering of an empty plan.
const NoChanges = "No changes. All artifacts match the configuration."

type actionStyle struct {
	symbol, verb, colour string
}

var actionStyles = map[planner.Action]actionStyle{
	planner.ActionCreate:  {"+", "created", ansiGreen},
	planner.ActionAdopt:   {"=", "adopted", ansiCyan},
	planner.ActionRebuild: {"~", "rebuilt", ansiYellow},
	planner.ActionPromote: {">", "promoted", ansiMagenta},
	planner.ActionForget:  {"-", "forgotten", ansiRed},
}

// PlanHuman writes the plan the way Terraform does: a block per changed resource with
// its reasons, then the summary line.
func PlanHuman(w io.Writer, p *planner.Plan, color bool) error {
	// Written through a buffer of its own size rather than built whole first: a
	// matrix renders thousands of blocks.
	b := bufio.NewWriterSize(w, 64<<10)
	shown := false
	for c, st := range humanChanges(p) {
		if !shown {
			b.WriteString(humanIntro(p, color))
			shown = true
		}
		writeHumanBlock(b, c, st, color)
	}
	if shown {
		b.WriteString("\n")
	}
	b.WriteString(summaryLine(p, color))
	b.WriteString("\n")
	if n := humanNote(p); n != "" {
		b.WriteString("\n" + n + "\n")
	}
	return b.Flush()
}

// humanIntro is Terraform's legend (only the symbols the plan uses) and the heading.
func humanIntro(p *planner.Plan, color bool) string {
	var b strings.Builder
	b.WriteString("Resource actions are indicated with the following symbols:\n")
	for _, a := range []planner.Action{planner.ActionCreate, planner.ActionAdopt, planner.ActionRebuild, planner.ActionPromote, planner.ActionForget} {
		for _, c := range p.Changes {
			if c.Action == a {
				st := actionStyles[a]
				fmt.Fprintf(&b, "  %s %s\n", paint(color, st.colour, st.symbol), a)
				break
			}
		}
	}
	b.WriteString("\nSovos will perform the following actions")
	if p.Workspace != "" {
		fmt.Fprintf(&b, " in workspace %q", p.Workspace)
	}
	b.WriteString(":\n")
	return b.String()
}

func humanNote(p *planner.Plan) string {
	if len(p.Targets) == 0 {
		return ""
	}
	return "Note: this plan is limited by -target=" + strings.Join(p.Targets, ", -target=") +
		"; resources outside it were not considered."
}

// summaryLine is `Plan: 1 to create, 2 to rebuild, 1 to promote, 0 to forget.` (adopt
// counted when non-zero), or NoChanges.
func summaryLine(p *planner.Plan, color bool) string {
	if !p.HasChanges() {
		return paint(color, ansiBold, NoChanges)
	}
	s := p.Summary
	parts := []string{fmt.Sprintf("%d to create", s.Create)}
	if s.Adopt > 0 {
		parts = append(parts, fmt.Sprintf("%d to adopt", s.Adopt))
	}
	parts = append(parts,
		fmt.Sprintf("%d to rebuild", s.Rebuild),
		fmt.Sprintf("%d to promote", s.Promote),
		fmt.Sprintf("%d to forget", s.Forget))
	return paint(color, ansiBold, "Plan:") + " " + strings.Join(parts, ", ") + "."
}

// humanChanges yields the changes the human renderer shows a block for, with their
// style.
func humanChanges(p *planner.Plan) iter.Seq2[*planner.ResourceChange, actionStyle] {
	return func(yield func(*planner.ResourceChange, actionStyle) bool) {
		for _, c := range p.Changes {
			if st, ok := actionStyles[c.Action]; ok && !yield(c, st) {
				return
			}
		}
	}
}

// humanBlocks renders each changed resource as one block, so the markdown renderer can
// cut between blocks.
func humanBlocks(p *planner.Plan, color bool) []string {
	var out []string
	for c, st := range humanChanges(p) {
		var b strings.Builder
		writeHumanBlock(&b, c, st, color)
		out = append(out, b.String())
	}
	return out
}

// writeHumanBlock writes one changed resource's block (a blank line first).
func writeHumanBlock(b io.StringWriter, c *planner.ResourceChange, st actionStyle, color bool) {
	b.WriteString("\n")
	if color {
		b.WriteString(ansiBold)
	}
	// Piece by piece: a string built to be written would be allocated for each block.
	writeStrings(b, "  # ", c.Address, " will be ", st.verb)
	if color {
		b.WriteString(ansiReset)
	}
	writeStrings(b, "\n  ", paint(color, st.colour, st.symbol), " ", c.Address)
	if c.Builder != "" && (c.Action == planner.ActionCreate || c.Action == planner.ActionRebuild) {
		writeStrings(b, " (on ", c.Builder, ")")
	}
	b.WriteString("\n")
	line := func(label, colon, value string) {
		// "%-10s": labels are ASCII, so bytes are columns.
		pad := "          "[min(len(label)+len(colon), 10):]
		writeStrings(b, "      ", label, colon, pad, " ", value, "\n")
	}
	field := func(label, value string) { line(label, ":", value) }
	switch {
	case c.Action == planner.ActionForget && c.Before != nil:
		if c.Before.Ref != "" {
			field("ref", c.Before.Ref)
		}
	case c.Action == planner.ActionAdopt && c.After != nil:
		field("ref", c.After.Ref+"@"+c.AdoptDigest)
	case c.After != nil && c.After.Ref != "":
		if c.Before != nil && c.Before.Ref != "" && c.Before.Ref != c.After.Ref {
			field("ref", c.Before.Ref+" -> "+c.After.Ref)
		} else {
			field("ref", c.After.Ref)
		}
	}
	if pr := c.Boots; pr != nil && (c.Action == planner.ActionCreate || c.Action == planner.ActionRebuild) {
		// What the profile boots is what a reviewer checks first (upstream or sovereign).
		if pr.Installer != "" {
			field("installer", pr.Installer)
		}
		if pr.Imager != "" {
			field("imager", pr.Imager)
		}
		for _, e := range pr.Extensions {
			field("extension", e)
		}
	}
	for i, r := range c.Reasons {
		label := ""
		if i == 0 {
			label = "because:"
		}
		line(label, "", r.Message)
	}
	// A promotion's tag moves are its reasons already.
	if c.Action != planner.ActionPromote && len(c.Tags) > 0 {
		for _, t := range slices.Sorted(maps.Keys(c.Tags)) {
			if tc := c.Tags[t]; tc.Moves() {
				field("tag", tc.Text(t))
			}
		}
	}
}

func paint(color bool, code, s string) string {
	if !color {
		return s
	}
	return code + s + ansiReset
}

// writeStrings writes ss to b one after the other.
func writeStrings(b io.StringWriter, ss ...string) {
	for _, s := range ss {
		b.WriteString(s)
	}
}
