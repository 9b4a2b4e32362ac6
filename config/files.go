package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"syscall"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"
)

// Limits on what the loader reads, so that no input, however hostile, costs more than a
// diagnostic: HCL's parsers and evaluators recurse once per level of nesting and Go
// cannot recover from a stack overflow, and a file is read whole.
const (
	// MaxFileSize is the largest configuration, variable or file() file read (64 MiB,
	// hundreds of times a real configuration).
	MaxFileSize = 64 << 20
	// MaxNesting is the deepest nesting an expression may have, counting brackets,
	// parentheses, braces, template interpolations and directives, and the operators of
	// one operand chain (each of which nests one level in the syntax tree). Real
	// configurations stay under 20; 100,000 overflows the stack.
	MaxNesting = 1000
)

// IsConfigFile says whether a directory entry named name is part of a configuration:
// *.sovos.hcl and *.sovos.json, except editor files (names starting with "." or "#" or
// ending in "~"), as Terraform ignores them.
func IsConfigFile(name string) bool {
	return (strings.HasSuffix(name, ".sovos.hcl") || strings.HasSuffix(name, ".sovos.json")) && !IgnoredFile(name)
}

// IgnoredFile says whether name is an editor's or a hidden file: a backup (x~), an Emacs
// lock or autosave file (.#x, #x#) or any dotfile.
func IgnoredFile(name string) bool {
	return strings.HasPrefix(name, ".") || strings.HasPrefix(name, "#") || strings.HasSuffix(name, "~")
}

// notRegularError is what readFile returns for what it does not read.
type notRegularError struct{ kind string }

func (e *notRegularError) Error() string { return "it is " + e.kind + ", not a regular file" }

// ReadSource reads a configuration or variable file for parsing: a regular file of at
// most MaxFileSize bytes. A FIFO, device, socket or directory is never read (opening a
// FIFO blocks until a writer comes, and a device such as /dev/zero never ends): the
// diagnostic is a warning, so a loader skips it, and an error for anything else.
func ReadSource(path string) ([]byte, hcl.Diagnostics) {
	b, err := readFile(path, false)
	var nr *notRegularError
	switch {
	case errors.As(err, &nr):
		return nil, hcl.Diagnostics{{Severity: hcl.DiagWarning, Summary: "Skipped a file that is not a regular file",
			Detail: fmt.Sprintf("%s is named like a configuration file but is %s, so it was not read; remove or rename it if it is not meant to be there.", path, nr.kind)}}
	case err != nil:
		return nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Cannot read file", Detail: err.Error() + "."}}
	}
	return b, CheckSource(b, path)
}

// readFile reads path if it is a regular file (or, with pipes, a pipe) of at most
// MaxFileSize bytes. It opens the file without blocking (a FIFO swapped in after the
// check must not hang the open) and checks the opened file itself, so what it reads is
// what it checked.
func readFile(path string, pipes bool) ([]byte, error) {
	ok := func(m fs.FileMode) error {
		if m.IsRegular() || pipes && m&fs.ModeNamedPipe != 0 {
			return nil
		}
		return &notRegularError{kindOf(m)}
	}
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if err := ok(fi.Mode()); err != nil {
		return nil, err
	}
	flags := os.O_RDONLY
	if !pipes {
		flags |= syscall.O_NONBLOCK
	}
	f, err := os.OpenFile(path, flags, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if fi, err = f.Stat(); err != nil {
		return nil, err
	}
	if err := ok(fi.Mode()); err != nil {
		return nil, err
	}
	if fi.Mode().IsRegular() && fi.Size() > MaxFileSize {
		return nil, fmt.Errorf("%s is %d bytes, more than the %d a file may have here", path, fi.Size(), MaxFileSize)
	}
	b, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(b) > MaxFileSize {
		return nil, fmt.Errorf("%s is more than the %d bytes a file may have here", path, MaxFileSize)
	}
	return b, nil
}

// missing says why path is not there as a directory (dir) or a regular file: "" when it
// is.
func missing(path string, dir bool) string {
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "does not exist"
	case err != nil:
		return "cannot be read: " + err.Error()
	case dir && !fi.IsDir():
		return "is not a directory"
	case !dir && !fi.Mode().IsRegular():
		return "is " + kindOf(fi.Mode()) + ", not a file"
	}
	return ""
}

type missingKey struct {
	path string
	dir  bool
}

// missing is the package's missing, asked once per path in an evaluation.
// Instances evaluated concurrently share it, so the first to ask stats the path.
func (e *evaluator) missing(path string, dir bool) string {
	k := missingKey{path, dir}
	e.missingMu.Lock()
	defer e.missingMu.Unlock()
	why, ok := e.missingPaths[k]
	if !ok {
		why = missing(path, dir)
		e.missingPaths[k] = why
	}
	return why
}

func kindOf(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe (FIFO)"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeDevice != 0:
		return "a device"
	}
	return "a special file"
}

// CheckSource rejects what HCL's parsers must not see: bytes that are not UTF-8 (one
// diagnostic naming where, instead of one per parser error with the raw bytes in the
// snippet) and nesting deeper than MaxNesting. filename's suffix says the syntax
// (.json is HCL's JSON syntax).
func CheckSource(src []byte, filename string) hcl.Diagnostics {
	if !utf8.Valid(src) {
		pos := invalidUTF8(src)
		return hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Invalid character encoding",
			Detail: fmt.Sprintf("%s:%d:%d: the file is not UTF-8 text (byte 0x%02x at line %d, column %d); save it as UTF-8.",
				filename, pos.Line, pos.Column, src[pos.Byte], pos.Line, pos.Column)}}
	}
	var depth int
	var at hcl.Pos
	if strings.HasSuffix(filename, ".json") {
		depth, at = jsonNesting(src)
	} else {
		depth, at = nesting(src, 0, false)
	}
	if depth > MaxNesting {
		return hcl.Diagnostics{nestingDiag(filename, at)}
	}
	return nil
}

// checkExpression is CheckSource for one expression in native syntax (a -var value).
func checkExpression(src []byte, from string) hcl.Diagnostics {
	if !utf8.Valid(src) {
		return hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Invalid character encoding",
			Detail: fmt.Sprintf("The value from %s is not UTF-8 text; give it as UTF-8.", from)}}
	}
	if d, _ := nesting(src, 0, false); d > MaxNesting {
		return hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Expression nested too deeply",
			Detail: fmt.Sprintf("The value from %s nests more than %d levels deep; flatten it.", from, MaxNesting)}}
	}
	return nil
}

func nestingDiag(filename string, at hcl.Pos) *hcl.Diagnostic {
	rng := hcl.Range{Filename: filename, Start: at, End: at}
	return &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Expression nested too deeply",
		Detail: fmt.Sprintf("This expression nests more than %d levels deep (brackets, parentheses, braces, templates and chained operators); no configuration needs that, so the file was not parsed. Flatten it, or build the value in steps with locals.",
			MaxNesting),
		Subject: &rng}
}

// invalidUTF8 returns the position of the first byte of src that is not UTF-8.
func invalidUTF8(src []byte) hcl.Pos {
	pos := hcl.InitialPos
	for i := 0; i < len(src); {
		r, n := utf8.DecodeRune(src[i:])
		if r == utf8.RuneError && n <= 1 {
			pos.Byte = i
			return pos
		}
		if r == '\n' {
			pos.Line++
			pos.Column = 1
		} else {
			pos.Column++
		}
		i += n
	}
	return pos
}

// nesting estimates how deep the syntax tree of native HCL source goes, starting at depth
// base (template: src is the text of a template, as in a JSON string). Each bracket,
// parenthesis, brace, string, heredoc, interpolation and if/for directive is a level,
// and so is each operator of a chain (a+b+c nests the additions; !!x the negations),
// counted per element: a comma, or a newline in a body or an object, starts the next.
// It is an estimate from above, made in one pass over the bytes with memory
// proportional to the depth (HCL's own lexer costs hundreds of bytes per token), for
// refusing input before a recursive parser sees it. It returns the deepest point and
// where it is.
func nesting(src []byte, base int, template bool) (int, hcl.Pos) {
	type frame struct {
		kind   byte   // '{' '[' '(' expressions; '$' '%' an interpolation or directive; '"' 'H' 'T' templates
		ops    int    // operators counted in the current element
		marker []byte // a heredoc's closing marker
	}
	stack := []frame{{kind: '{'}} // the body, where a newline ends an element
	if template {
		stack[0].kind = 'T'
	}
	cur, deepest := base, base
	at := hcl.InitialPos
	line, lineStart := 1, 0
	push := func(kind byte, i int) {
		stack = append(stack, frame{kind: kind})
		cur++
		if cur > deepest {
			deepest, at = cur, hcl.Pos{Line: line, Column: i - lineStart + 1, Byte: i}
		}
	}
	pop := func() {
		if n := len(stack); n > 1 {
			cur -= 1 + stack[n-1].ops
			stack = stack[:n-1]
		}
	}
	op := func(i int) {
		stack[len(stack)-1].ops++
		cur++
		if cur > deepest {
			deepest, at = cur, hcl.Pos{Line: line, Column: i - lineStart + 1, Byte: i}
		}
	}
	endElement := func() {
		top := &stack[len(stack)-1]
		cur -= top.ops
		top.ops = 0
	}
	directives := 0
	at0 := func(i int, b byte) bool { return i < len(src) && src[i] == b }
	for i := 0; i < len(src); i++ {
		c := src[i]
		if c == '\n' {
			line, lineStart = line+1, i+1
		}
		top := &stack[len(stack)-1]
		switch top.kind {
		case '"', 'H', 'T':
			switch {
			case c == '\n' && top.kind == '"':
				pop() // unterminated: the parser says so
			case c == '\n' && top.kind == 'H':
				j := i + 1
				for j < len(src) && (src[j] == ' ' || src[j] == '\t') {
					j++
				}
				if k := j + len(top.marker); k <= len(src) && string(src[j:k]) == string(top.marker) && (k == len(src) || src[k] == '\n' || src[k] == '\r') {
					pop()
					i = k - 1
				}
			case c == '\\' && top.kind == '"':
				i++
			case c == '"' && top.kind == '"':
				pop()
			case (c == '$' || c == '%') && at0(i+1, c) && at0(i+2, '{'):
				i += 2 // $${ and %%{ are literal
			case (c == '$' || c == '%') && at0(i+1, '{'):
				push(c, i)
				i++
				if c == '%' {
					j := i + 1
					for j < len(src) && (src[j] == ' ' || src[j] == '~') {
						j++
					}
					word := src[j:min(j+6, len(src))]
					switch {
					case hasWord(word, "endfor"), hasWord(word, "endif"):
						if directives > 0 {
							directives--
							cur--
						}
					case hasWord(word, "for"), hasWord(word, "if"):
						directives++
						push(0, i) // counted until its end directive
						stack = stack[:len(stack)-1]
					}
				}
			}
			continue
		}
		switch c {
		case '\n':
			if top.kind == '{' {
				endElement()
			}
		case ',':
			endElement()
		case '#':
			for i+1 < len(src) && src[i+1] != '\n' {
				i++
			}
		case '/':
			switch {
			case at0(i+1, '/'):
				for i+1 < len(src) && src[i+1] != '\n' {
					i++
				}
			case at0(i+1, '*'):
				i += 2
				for i+1 < len(src) && !(src[i] == '*' && src[i+1] == '/') {
					if src[i] == '\n' {
						line, lineStart = line+1, i+1
					}
					i++
				}
				i++
			default:
				op(i)
			}
		case '"':
			push('"', i)
		case '{', '[', '(':
			push(c, i)
		case '}', ']', ')':
			pop()
		case '<':
			j := i + 2
			if at0(i+1, '<') {
				if at0(j, '-') {
					j++
				}
				k := j
				for k < len(src) && (src[k] == '_' || src[k] >= 'a' && src[k] <= 'z' || src[k] >= 'A' && src[k] <= 'Z' || k > j && (src[k] >= '0' && src[k] <= '9' || src[k] == '-')) {
					k++
				}
				if k > j {
					push('H', i)
					stack[len(stack)-1].marker = src[j:k]
					for k < len(src) && src[k] != '\n' {
						k++
					}
					i = k - 1 // the newline starts the body
					break
				}
			}
			op(i)
			if at0(i+1, '=') {
				i++
			}
		case '=':
			switch {
			case at0(i+1, '='):
				op(i)
				i++
			case at0(i+1, '>'):
				i++
			}
		case '!', '>':
			op(i)
			if at0(i+1, '=') {
				i++
			}
		case '&', '|':
			op(i)
			if at0(i+1, c) {
				i++
			}
		case '+', '-', '*', '%', '?':
			op(i)
		}
	}
	return deepest, at
}

// hasWord says whether b starts with the keyword w, not followed by a name character.
func hasWord(b []byte, w string) bool {
	if len(b) < len(w) || string(b[:len(w)]) != w {
		return false
	}
	if len(b) == len(w) {
		return true
	}
	c := b[len(w)]
	return !(c == '_' || c == '-' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9')
}

// jsonNesting is nesting for HCL's JSON syntax: each array and object is a level, and a
// string is a template whose own nesting adds to where it sits.
func jsonNesting(src []byte) (int, hcl.Pos) {
	depth, deepest := 0, 0
	at := hcl.InitialPos
	line, lineStart := 1, 0
	posOf := func(i int) hcl.Pos { return hcl.Pos{Line: line, Column: i - lineStart + 1, Byte: i} }
	for i := 0; i < len(src); i++ {
		switch c := src[i]; c {
		case '\n':
			line, lineStart = line+1, i+1
		case '[', '{':
			depth++
			if depth > deepest {
				deepest, at = depth, posOf(i)
			}
		case ']', '}':
			if depth > 0 {
				depth--
			}
		case '"':
			j := i + 1
			for j < len(src) && src[j] != '"' {
				if src[j] == '\\' {
					j++
				}
				j++
			}
			if j >= len(src) {
				return deepest, at // unterminated: the parser reports it
			}
			lit := src[i : j+1]
			if bytes.Contains(lit, []byte("{")) {
				var s string
				if json.Unmarshal(lit, &s) == nil {
					if d, _ := nesting([]byte(s), depth, true); d > deepest {
						deepest, at = d, posOf(i)
					}
				}
			}
			i = j
		}
	}
	return deepest, at
}
