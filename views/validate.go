package views

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/hashicorp/hcl/v2"

	"github.com/urmanac/sovos/config"
)

// ValidateJSON writes `sovos validate -json`: the diagnostics with their ranges and
// source snippets, in the shape of `terraform validate -json`. files are the parsed
// files by name, for the snippets.
func ValidateJSON(w io.Writer, files map[string]*hcl.File, diags hcl.Diagnostics) error {
	b, err := json.MarshalIndent(validateDocument(files, diags), "", "  ")
	if err != nil {
		return fmt.Errorf("encoding validate result: %w", err)
	}
	_, err = fmt.Fprintln(w, string(b))
	return err
}

// jsonDiag follows the shape of `terraform validate -json`.
type jsonDiag struct {
	Severity string     `json:"severity"`
	Summary  string     `json:"summary"`
	Detail   string     `json:"detail,omitempty"`
	Range    *jsonRange `json:"range,omitempty"`
	Snippet  *jsonSnip  `json:"snippet,omitempty"`
}

type jsonRange struct {
	Filename string  `json:"filename"`
	Start    jsonPos `json:"start"`
	End      jsonPos `json:"end"`
}

type jsonPos struct {
	Line   int `json:"line"`
	Column int `json:"column"`
	Byte   int `json:"byte"`
}

type jsonSnip struct {
	StartLine int    `json:"start_line"`
	Code      string `json:"code"`
}

type validateDoc struct {
	FormatVersion string     `json:"format_version"`
	Valid         bool       `json:"valid"`
	ErrorCount    int        `json:"error_count"`
	WarningCount  int        `json:"warning_count"`
	Diagnostics   []jsonDiag `json:"diagnostics"`
}

func validateDocument(files map[string]*hcl.File, diags hcl.Diagnostics) validateDoc {
	doc := validateDoc{FormatVersion: "1.0", Diagnostics: []jsonDiag{}}
	for _, d := range diags {
		jd := jsonDiag{Severity: "error", Summary: d.Summary, Detail: d.Detail}
		if d.Severity == hcl.DiagWarning {
			jd.Severity = "warning"
			doc.WarningCount++
		} else {
			doc.ErrorCount++
		}
		if s := d.Subject; s != nil {
			jd.Range = &jsonRange{Filename: s.Filename,
				Start: jsonPos{s.Start.Line, s.Start.Column, s.Start.Byte},
				End:   jsonPos{s.End.Line, s.End.Column, s.End.Byte}}
			if f := files[s.Filename]; f != nil && s.Start.Line >= 1 {
				// A multi-megabyte line is cut around the error, as in the text output.
				if code, ok := config.Snippet(f.Bytes, *s); ok {
					jd.Snippet = &jsonSnip{StartLine: s.Start.Line, Code: code}
				}
			}
		}
		doc.Diagnostics = append(doc.Diagnostics, jd)
	}
	doc.Valid = doc.ErrorCount == 0
	return doc
}
