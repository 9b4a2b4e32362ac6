package views

import (
	"fmt"
	"io"
	"strings"

	"github.com/urmanac/sovos/planner"
)

// MarkdownLimit is the size a PR comment must stay under (GitHub's limit, 65,536
// characters); PlanMarkdown cuts its output below it.
const MarkdownLimit = 65536

// markdownReserve is kept free for the notes that say what was cut.
const markdownReserve = 1024

// maxCell bounds the reasons cell of one table row.
const maxCell = 160

// PlanMarkdown writes the plan for a pull-request comment: a marker line CI uses to
// find and update its own comment, the summary line, a table of the changed resources
// and the full human plan in a <details> block, cut under MarkdownLimit with a note
// saying what was left out. dir is the configuration directory relative to the
// repository root.
func PlanMarkdown(w io.Writer, p *planner.Plan, dir string) error {
	_, err := io.WriteString(w, markdown(p, dir, MarkdownLimit))
	return err
}

func markdown(p *planner.Plan, dir string, limit int) string {
	if dir == "" {
		dir = "."
	}
	var head strings.Builder
	fmt.Fprintf(&head, "<!-- sovos-plan workspace=%s dir=%s -->\n", p.Workspace, dir)
	if !p.HasChanges() {
		fmt.Fprintf(&head, "**%s**\n", NoChanges)
		return head.String()
	}
	fmt.Fprintf(&head, "**%s**\n", summaryLine(p, false))
	if n := humanNote(p); n != "" {
		fmt.Fprintf(&head, "\n_%s_\n", n)
	}
	head.WriteString("\n")

	var rows []string
	for _, c := range p.Changes {
		st, ok := actionStyles[c.Action]
		if !ok {
			continue
		}
		rows = append(rows, fmt.Sprintf("| %s %s | `%s` | %s |\n", st.symbol, c.Action, cellEscape(c.Address), cellEscape(shortReasons(c))))
	}
	const tableHead = "| Action | Resource | Reasons |\n|---|---|---|\n"

	blocks := humanBlocks(p, false)
	intro := humanIntro(p, false)
	tail := "\n" + summaryLine(p, false) + "\n"

	budget := limit - markdownReserve - head.Len()
	full := len(tableHead) + sumLen(rows) + len(intro) + sumLen(blocks) + len(tail) + 200
	tableBudget, detailBudget := budget, budget
	if full > budget {
		// Too big: the table (the part reviewers read) gets up to two fifths, the
		// details what is left.
		tableBudget = budget * 2 / 5
	}

	var b strings.Builder
	b.WriteString(head.String())
	b.WriteString(tableHead)
	shown, used := writeWithin(&b, rows, len(tableHead), tableBudget)
	if left := len(rows) - shown; left > 0 {
		fmt.Fprintf(&b, "\n… %s more changed resources not listed in this table.\n", thousands(left))
	}
	detailBudget = budget - used

	fence := "```"
	for strings.Contains(intro, fence) || anyContains(blocks, fence) {
		fence += "`"
	}
	b.WriteString("\n<details><summary>Full plan</summary>\n\n")
	b.WriteString(fence + "text\n")
	b.WriteString(intro)
	dshown, _ := writeWithin(&b, blocks, len(intro)+len(tail), detailBudget)
	if left := len(blocks) - dshown; left > 0 {
		fmt.Fprintf(&b, "\n… %s more resources not shown; run `sovos show PLANFILE` (or `sovos plan`) locally for the full plan.\n", thousands(left))
	}
	b.WriteString(tail)
	b.WriteString(fence + "\n\n</details>\n")
	return b.String()
}

// shortReasons is the first reason, and how many more there are.
func shortReasons(c *planner.ResourceChange) string {
	if len(c.Reasons) == 0 {
		return ""
	}
	s := c.Reasons[0].Message
	s = planner.Truncate(s, maxCell)
	if n := len(c.Reasons) - 1; n > 0 {
		s += fmt.Sprintf(" (+%d more)", n)
	}
	return s
}

// cellEscape keeps a value inside its table cell.
func cellEscape(s string) string {
	s = strings.ReplaceAll(s, "|", `\|`)
	return strings.ReplaceAll(s, "\n", " ")
}

func sumLen(ss []string) int {
	n := 0
	for _, s := range ss {
		n += len(s)
	}
	return n
}

func anyContains(ss []string, sub string) bool {
	for _, s := range ss {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

// thousands writes n with comma separators: 1,234.
func thousands(n int) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// writeWithin writes items in order while used stays within budget, and returns how many
// it wrote and the characters used then.
func writeWithin(b *strings.Builder, items []string, used, budget int) (int, int) {
	n := 0
	for _, it := range items {
		if used+len(it) > budget {
			break
		}
		b.WriteString(it)
		used += len(it)
		n++
	}
	return n, used
}
