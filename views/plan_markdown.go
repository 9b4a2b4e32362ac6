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
	fmt.Fprintf(&head, "<!-- sovos-plan workspace=%s dir=%s -->\n", markerEscape(p.Workspace), markerEscape(dir))
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
		rows = append(rows, fmt.Sprintf("| %s %s | %s | %s |\n", st.symbol, c.Action, cellEscape(codeSpan(c.Address)), cellEscape(textEscape(shortReasons(c)))))
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

// markerEscape percent-encodes every byte of a marker field outside
// [A-Za-z0-9._~/-], so a directory with a space (or "-->") stays one field of one HTML
// comment; sticky-comment.js builds the marker the same way.
func markerEscape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("._~/-", c) >= 0 {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "%%%02X", c)
	}
	return b.String()
}

// codeSpan writes s as one markdown code span whatever backticks it holds: its fence
// is one backtick longer than the longest run inside, and a space pads a backtick at
// either end (CommonMark).
func codeSpan(s string) string {
	longest, run := 0, 0
	for i := 0; i < len(s); i++ {
		if s[i] == '`' {
			run++
			longest = max(longest, run)
		} else {
			run = 0
		}
	}
	fence := strings.Repeat("`", longest+1)
	if strings.HasPrefix(s, "`") || strings.HasSuffix(s, "`") {
		s = " " + s + " "
	}
	return fence + s + fence
}

// textEscape keeps a backtick in markdown text from opening a code span (one in an
// instance key would swallow the rest of the row) and a '<' from opening an HTML tag.
func textEscape(s string) string {
	return strings.NewReplacer("`", "\\`", "<", "&lt;").Replace(s)
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
