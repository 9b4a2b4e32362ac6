package config

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"
)

// Bounds on what one diagnostic prints, so that a multi-megabyte line (a minified file,
// a huge literal) shows as a readable cut around the error, not as the whole line.
const (
	// maxSnippetLine is the longest source line a snippet shows whole.
	maxSnippetLine = 200
	// maxMessageLine is the longest line of any other part of a diagnostic (a detail
	// quoting a huge value).
	maxMessageLine = 2000
)

// WriteDiagnostics renders diagnostics with HCL's text writer: file:line:col, the
// source snippet (a long line cut around the error) and the detail.
func WriteDiagnostics(w io.Writer, files map[string]*hcl.File, diags hcl.Diagnostics, color bool) error {
	if len(diags) == 0 {
		return nil
	}
	var buf bytes.Buffer
	for _, d := range diags {
		fs := files
		if f, cut, ok := cutSnippet(files, d); ok {
			fs, d = map[string]*hcl.File{d.Subject.Filename: f}, cut
		}
		if err := hcl.NewDiagnosticTextWriter(&buf, fs, 0, color).WriteDiagnostic(d); err != nil {
			return fmt.Errorf("writing diagnostics: %w", err)
		}
	}
	sc := bufio.NewScanner(&buf)
	sc.Buffer(make([]byte, 0, 64<<10), buf.Len()+1)
	bw := bufio.NewWriter(w)
	for sc.Scan() {
		line := sc.Text()
		if len(line) > maxMessageLine {
			line = cutText(line, 0, maxMessageLine)
		}
		bw.WriteString(line)
		bw.WriteByte('\n')
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("writing diagnostics: %w", err)
	}
	return nil
}

// cutSnippet returns, for a diagnostic whose snippet has a line longer than
// maxSnippetLine, a stand-in for its file holding only the snippet's lines (each cut
// to a window around the error, at their own line numbers) and the diagnostic with its
// ranges moved onto it.
func cutSnippet(files map[string]*hcl.File, d *hcl.Diagnostic) (*hcl.File, *hcl.Diagnostic, bool) {
	if d.Subject == nil {
		return nil, nil, false
	}
	f := files[d.Subject.Filename]
	if f == nil || f.Bytes == nil {
		return nil, nil, false
	}
	src := f.Bytes
	snip := *d.Subject
	if d.Context != nil {
		snip = hcl.RangeOver(snip, *d.Context)
	}
	clamp := func(i int) int { return min(max(i, 0), len(src)) }
	start := bytes.LastIndexByte(src[:clamp(snip.Start.Byte)], '\n') + 1
	end := clamp(snip.End.Byte)
	if i := bytes.IndexByte(src[end:], '\n'); i >= 0 {
		end += i
	} else {
		end = len(src)
	}
	long := false
	for _, l := range bytes.Split(src[start:end], []byte("\n")) {
		long = long || len(l) > maxSnippetLine
	}
	if !long {
		return nil, nil, false
	}
	// The stand-in: empty lines up to the snippet, so line numbers stay; then each line,
	// cut. offsets maps a byte offset of src in the snippet to one of the stand-in.
	line := snip.Start.Line
	if d.Context != nil && d.Context.Start.Line < line {
		line = d.Context.Start.Line
	}
	var out bytes.Buffer
	out.WriteString(strings.Repeat("\n", max(line-1, 0)))
	// A source line [from,to) is kept as [lo,hi), written at offset at of the stand-in,
	// whose line starts at start.
	type cut struct{ from, to, start, at, lo, hi int }
	var cuts []cut
	for from := start; from <= end; {
		to := from + bytes.IndexByte(src[from:end], '\n')
		if to < from {
			to = end
		}
		lo, hi := from, to
		if to-from > maxSnippetLine {
			center := from
			if s := d.Subject.Start.Byte; s >= from && s <= to {
				center = s
			}
			l, h := window(src[from:to], center-from, maxSnippetLine)
			lo, hi = from+l, from+h
		}
		lineStart := out.Len()
		if lo > from {
			out.WriteString("…")
		}
		cuts = append(cuts, cut{from, to, lineStart, out.Len(), lo, hi})
		out.Write(src[lo:hi])
		if hi < to {
			out.WriteString("…")
		}
		out.WriteByte('\n')
		from = to + 1
	}
	move := func(p hcl.Pos) hcl.Pos {
		for _, c := range cuts {
			if p.Byte >= c.from && p.Byte <= c.to {
				b := min(max(p.Byte, c.lo), c.hi)
				p.Byte = c.at + b - c.lo
				p.Column = utf8.RuneCount(out.Bytes()[c.start:p.Byte]) + 1
				return p
			}
		}
		return p
	}
	moveRange := func(r hcl.Range) *hcl.Range {
		r.Start, r.End = move(r.Start), move(r.End)
		return &r
	}
	nd := *d
	nd.Subject = moveRange(*d.Subject)
	if d.Context != nil {
		nd.Context = moveRange(*d.Context)
	}
	return &hcl.File{Bytes: out.Bytes(), Nav: navAt{f.Nav, d.Subject.Start.Byte}}, &nd, true
}

// navAt answers the snippet's "in BLOCK" context from the original file, whatever
// offset the stand-in asks about.
type navAt struct {
	nav any
	at  int
}

func (n navAt) ContextString(int) string {
	if cs, ok := n.nav.(interface{ ContextString(int) string }); ok {
		return cs.ContextString(n.at)
	}
	return ""
}

// cutText cuts s to about width bytes around byte offset center, marking the cuts.
func cutText(s string, center, width int) string {
	lo, hi := window(s, center, width)
	out := s[lo:hi]
	if lo > 0 {
		out = "…" + out
	}
	if hi < len(s) {
		out += fmt.Sprintf("… (%d more characters)", utf8.RuneCountInString(s[hi:]))
	}
	return out
}

// window is the part s[lo:hi] of s, about width bytes around byte offset center and on
// character boundaries, that cutText, Snippet and cutSnippet keep of a long line.
func window[T ~string | ~[]byte](s T, center, width int) (lo, hi int) {
	lo = max(0, min(center-width/3, len(s)-width))
	hi = min(len(s), lo+width)
	for lo > 0 && !utf8.RuneStart(s[lo]) {
		lo--
	}
	for hi < len(s) && !utf8.RuneStart(s[hi]) {
		hi--
	}
	return lo, hi
}

// Snippet returns the source lines from a range's start line to its end line in src,
// each line longer than maxSnippetLine cut to a window around the range's start column
// (the first line) or its beginning (the others), as WriteDiagnostics shows them: for
// renderers of their own (validate -json). ok is false when the lines are not in src.
func Snippet(src []byte, rng hcl.Range) (code string, ok bool) {
	first, last := rng.Start.Line, max(rng.End.Line, rng.Start.Line)
	if first < 1 {
		return "", false
	}
	var lines []string
	for n, rest := 1, src; n <= last; n++ {
		l, after, found := bytes.Cut(rest, []byte("\n"))
		if n >= first {
			lines = append(lines, string(l))
		}
		if !found {
			break
		}
		rest = after
	}
	if len(lines) == 0 {
		return "", false
	}
	for i, l := range lines {
		if len(l) <= maxSnippetLine {
			continue
		}
		center := 0
		if i == 0 {
			// Columns count characters; near enough to bytes to place the window.
			center = min(max(rng.Start.Column-1, 0), len(l))
		}
		lo, hi := window(l, center, maxSnippetLine)
		cut := l[lo:hi]
		if lo > 0 {
			cut = "…" + cut
		}
		if hi < len(l) {
			cut += "…"
		}
		lines[i] = cut
	}
	return strings.Join(lines, "\n"), true
}
