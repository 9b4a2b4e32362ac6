package pin

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	hcljson "github.com/hashicorp/hcl/v2/json"
)

// edit replaces src[start:end] with text.
type edit struct {
	start, end int
	text       string
}

// newFile is a configuration file's new content, and the content it replaces.
type newFile struct {
	name     string
	old, new []byte
}

// splice computes the new content of every file that holds a changed pin. hclwrite would
// re-format the whole file; instead each pin's bytes are replaced at the range the
// syntax tree gives, or a new line is inserted after the block's ref.
func splice(targets []*target) ([]newFile, hcl.Diagnostics) {
	byFile := map[string][]*target{}
	var names []string
	for _, t := range targets {
		if !t.changed {
			continue
		}
		name := t.block.DefRange.Filename
		if byFile[name] == nil {
			names = append(names, name)
		}
		byFile[name] = append(byFile[name], t)
	}
	sort.Strings(names)
	var (
		out   []newFile
		diags hcl.Diagnostics
	)
	for _, name := range names {
		ts := byFile[name]
		src := ts[0].file.Bytes
		var edits []edit
		for _, t := range ts {
			e, err := pinEdit(src, t)
			if err != nil {
				rng := t.refAttr.Range
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Cannot write the pin",
					Detail: fmt.Sprintf("%s (%s:%d): %s. Nothing was written.", t.addr, rng.Filename, rng.Start.Line, err), Subject: &rng})
				continue
			}
			edits = append(edits, e)
		}
		if diags.HasErrors() {
			continue
		}
		b := apply(src, edits)
		if err := recheck(name, b, ts); err != nil {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Cannot write the pins",
				Detail: fmt.Sprintf("%s: the file would not read back with the new pins (%s); nothing was written. Please report this with the file.", name, err)})
			continue
		}
		out = append(out, newFile{name: name, old: src, new: b})
	}
	return out, diags
}

// pinEdit is the edit that sets t's pin to t.resolved.
func pinEdit(src []byte, t *target) (edit, error) {
	quoted := `"` + t.resolved + `"` // hex digits and "sha256:": nothing to escape
	if t.pin != nil {
		r := t.pin.attr.Expr.Range()
		return edit{start: r.Start.Byte, end: r.End.Byte, text: quoted}, nil
	}
	if t.json {
		return jsonInsert(src, t.refAttr, t.attr, quoted), nil
	}
	return nativeInsert(src, t, quoted)
}

// nativeInsert puts t's pin `NAME = VALUE` on the line after its ref, indented like ref
// and, when ref's `=` is padded for alignment, with its `=` in the same column. A
// one-line block (`image "x" { ref = "..." }`) has no such line, and HCL allows one
// argument in it: the block itself is expanded (oneLineExpand).
func nativeInsert(src []byte, t *target, value string) (edit, error) {
	ref, name := t.refAttr, t.attr
	if b := syntaxBlock(t.file, t.block); b != nil && b.OpenBraceRange.Start.Line == b.CloseBraceRange.Start.Line {
		return oneLineExpand(src, t, b, value)
	}
	nameStart := ref.NameRange.Start.Byte
	lineStart := bytes.LastIndexByte(src[:nameStart], '\n') + 1
	indent := src[lineStart:nameStart]
	if len(bytes.Trim(indent, " \t")) > 0 {
		return edit{}, errors.New("ref does not stand on a line of its own, so there is no line after it to put the pin on; put ref on its own line")
	}
	at, err := lineEnd(src, ref)
	if err != nil {
		return edit{}, err
	}
	nl := "\n"
	if at >= 2 && src[at-2] == '\r' {
		nl = "\r\n"
	}

	pad, gap := " ", " "
	eq := ref.NameRange.End.Byte
	for eq < len(src) && src[eq] == ' ' {
		eq++
	}
	if eq < len(src) && src[eq] == '=' {
		if w := eq - nameStart; w > len(name) {
			pad = strings.Repeat(" ", w-len(name))
		}
		if g := src[eq+1 : ref.Expr.Range().Start.Byte]; len(g) > 0 && len(bytes.Trim(g, " \t")) == 0 {
			gap = string(g)
		}
	}
	return edit{start: at, end: at, text: string(indent) + name + pad + "=" + gap + value + nl}, nil
}

// oneLineExpand rewrites a one-line block's own bytes, from `{` to `}`, as a multi-line
// block holding its ref and the pin, aligned as `sovos fmt` would and indented by the
// file's convention (indentUnit) one level deeper than the line the block starts on.
// Every byte outside the braces stays: a comment after `}` stays after it, on its line.
// A comment inside the braces after ref stays after ref.
func oneLineExpand(src []byte, t *target, b *hclsyntax.Block, value string) (edit, error) {
	ref := t.refAttr
	open, closing := b.OpenBraceRange, b.CloseBraceRange
	if len(bytes.TrimSpace(src[open.End.Byte:ref.Range.Start.Byte])) > 0 {
		return edit{}, errors.New("something stands between the block's { and ref, so the block cannot be rewritten around the pin; put ref on a line of its own")
	}
	after := string(bytes.TrimSpace(src[ref.Range.End.Byte:closing.Start.Byte]))
	lineStart := bytes.LastIndexByte(src[:open.Start.Byte], '\n') + 1
	outer := leadingSpace(src[lineStart:])
	inner := outer + indentUnit(t.file)
	nl := "\n"
	if i := bytes.IndexByte(src[closing.End.Byte:], '\n'); i > 0 && src[closing.End.Byte+i-1] == '\r' {
		nl = "\r\n"
	}
	w := max(len("ref"), len(t.attr))
	refLine := inner + "ref" + strings.Repeat(" ", w-len("ref")) + " = " + string(src[ref.Expr.Range().Start.Byte:ref.Expr.Range().End.Byte])
	if after != "" {
		refLine += " " + after
	}
	pinLine := inner + t.attr + strings.Repeat(" ", w-len(t.attr)) + " = " + value
	return edit{start: open.Start.Byte, end: closing.End.Byte, text: "{" + nl + refLine + nl + pinLine + nl + outer + "}"}, nil
}

// syntaxBlock is b in f's native syntax tree; nil when f is not native syntax.
func syntaxBlock(f *hcl.File, b *hcl.Block) *hclsyntax.Block {
	body, ok := f.Body.(*hclsyntax.Body)
	if !ok {
		return nil
	}
	for _, sb := range body.Blocks {
		if sb.TypeRange.Start.Byte == b.TypeRange.Start.Byte {
			return sb
		}
	}
	return nil
}

// leadingSpace is the run of spaces and tabs that starts line.
func leadingSpace(line []byte) string {
	n := 0
	for n < len(line) && (line[n] == ' ' || line[n] == '\t') {
		n++
	}
	return string(line[:n])
}

// indentUnit is the file's indentation step: how much deeper than its block's line the
// first argument of a multi-line block stands (a tab, two spaces, four ...); two spaces,
// as `sovos fmt` writes, when the file has no such block.
func indentUnit(f *hcl.File) string {
	body, ok := f.Body.(*hclsyntax.Body)
	if !ok {
		return "  "
	}
	for _, blk := range body.Blocks {
		if blk.OpenBraceRange.Start.Line == blk.CloseBraceRange.Start.Line {
			continue
		}
		outerStart := bytes.LastIndexByte(f.Bytes[:blk.TypeRange.Start.Byte], '\n') + 1
		outer := leadingSpace(f.Bytes[outerStart:])
		for _, a := range blk.Body.Attributes {
			lineStart := bytes.LastIndexByte(f.Bytes[:a.NameRange.Start.Byte], '\n') + 1
			if in := leadingSpace(f.Bytes[lineStart:]); lineStart > outerStart && strings.HasPrefix(in, outer) && len(in) > len(outer) {
				return in[len(outer):]
			}
		}
	}
	return "  "
}

// lineEnd returns the offset just after the newline that ends ref's line (after any
// comment on it), found with the HCL lexer so that a block comment is not cut.
func lineEnd(src []byte, ref *hcl.Attribute) (int, error) {
	end := ref.Expr.Range().End.Byte
	tokens, _ := hclsyntax.LexConfig(src, ref.Range.Filename, hcl.InitialPos)
	for _, tok := range tokens {
		if tok.Range.Start.Byte < end {
			continue
		}
		switch {
		case tok.Type == hclsyntax.TokenNewline,
			tok.Type == hclsyntax.TokenComment && bytes.HasSuffix(tok.Bytes, []byte("\n")):
			return tok.Range.End.Byte, nil
		case tok.Type == hclsyntax.TokenComment:
			continue
		default:
			return 0, fmt.Errorf("ref is followed by %q on its line, so there is no line after it to put the pin on; put ref on its own line", tok.Bytes)
		}
	}
	return 0, errors.New("ref's line has no end")
}

// jsonInsert adds a "NAME": VALUE member right after ref's value, separated from it the
// way ref is separated from the member before it.
func jsonInsert(src []byte, ref *hcl.Attribute, name, value string) edit {
	keyStart := ref.NameRange.Start.Byte
	i := keyStart
	for i > 0 && strings.IndexByte(" \t\r\n", src[i-1]) >= 0 {
		i--
	}
	lead := string(src[i:keyStart]) // "\n    " in an indented object, "" in a compact one
	if i > 0 && src[i-1] == '{' && !strings.Contains(lead, "\n") {
		lead = " " // ref opens a one-line object: separate the new member as JSON usually is
	}
	colon := string(src[ref.NameRange.End.Byte:ref.Expr.Range().Start.Byte])
	at := ref.Expr.Range().End.Byte
	return edit{start: at, end: at, text: "," + lead + `"` + name + `"` + colon + value}
}

// apply returns src with the (non-overlapping) edits made.
func apply(src []byte, edits []edit) []byte {
	sort.Slice(edits, func(i, j int) bool { return edits[i].start < edits[j].start })
	var b bytes.Buffer
	b.Grow(len(src) + 128*len(edits))
	last := 0
	for _, e := range edits {
		b.Write(src[last:e.start])
		b.WriteString(e.text)
		last = e.end
	}
	b.Write(src[last:])
	return b.Bytes()
}

// recheck parses the new content and reads every changed pin back from it: the last
// guard before a file is replaced.
func recheck(name string, b []byte, ts []*target) error {
	var (
		f     *hcl.File
		diags hcl.Diagnostics
	)
	isJSON := strings.HasSuffix(name, ".json")
	if isJSON {
		f, diags = hcljson.Parse(b, name)
	} else {
		f, diags = hclsyntax.ParseConfig(b, name, hcl.InitialPos)
	}
	if diags.HasErrors() {
		return diags
	}
	for _, t := range ts {
		blk := findBlock(f, t.block.Type, t.block.Labels[0], hcl.Range{Start: hcl.Pos{Byte: -1}})
		if blk == nil {
			return fmt.Errorf("%s is gone", t.addr)
		}
		content, _, _ := blk.Body.PartialContent(&hcl.BodySchema{Attributes: []hcl.AttributeSchema{{Name: t.attr}}})
		a := content.Attributes[t.attr]
		if a == nil {
			return fmt.Errorf("%s has no %s", t.addr, t.attr)
		}
		if v, ok := literal(b, a.Expr, isJSON); !ok || v != t.resolved {
			return fmt.Errorf("%s.%s reads back as %q", t.addr, t.attr, v)
		}
	}
	return nil
}

// writeAll replaces every file, or none when any can not be prepared: each new content
// is written to a temporary file next to its target first (with the target's mode), and
// only then are they renamed over their targets. A file that changed on disk since it
// was read is not overwritten.
func writeAll(files []newFile) error {
	type prepared struct{ tmp, dst string }
	var ready []prepared
	cleanup := func() {
		for _, p := range ready {
			os.Remove(p.tmp)
		}
	}
	for _, f := range files {
		dst, err := filepath.EvalSymlinks(f.name) // write through a symlink, not over it
		if err != nil {
			cleanup()
			return err
		}
		cur, err := os.ReadFile(dst)
		if err != nil {
			cleanup()
			return err
		}
		if !bytes.Equal(cur, f.old) {
			cleanup()
			return fmt.Errorf("%s changed on disk while sovos pin ran; run it again", f.name)
		}
		tmp, err := writeTemp(dst, f.new)
		if err != nil {
			cleanup()
			return err
		}
		ready = append(ready, prepared{tmp: tmp, dst: dst})
	}
	for i, p := range ready {
		if err := os.Rename(p.tmp, p.dst); err != nil {
			for _, q := range ready[i:] {
				os.Remove(q.tmp)
			}
			if i > 0 {
				return fmt.Errorf("replacing %s: %w (%d file(s) before it were already written)", p.dst, err, i)
			}
			return fmt.Errorf("replacing %s: %w", p.dst, err)
		}
	}
	return nil
}

// writeTemp writes b to a new hidden file in dst's directory (a name the configuration
// loader ignores) with dst's permissions, synced to disk.
func writeTemp(dst string, b []byte) (string, error) {
	fi, err := os.Stat(dst)
	if err != nil {
		return "", err
	}
	f, err := os.CreateTemp(filepath.Dir(dst), "."+filepath.Base(dst)+".*.pin")
	if err != nil {
		return "", err
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Chmod(fi.Mode().Perm())
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		return "", fmt.Errorf("writing %s: %w", dst, err)
	}
	return f.Name(), nil
}
