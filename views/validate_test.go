package views

import (
	"bytes"
	"path/filepath"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"

	"github.com/urmanac/sovos/internal/testenv"
)

// The diagnostics are written by hand: their wording is the configuration's business,
// their rendering this view's.
func TestValidateGolden(t *testing.T) {
	src := "source \"pkgs\" {\n  git = \"https://github.com/siderolabs/pkgs.git\"\n}\n\nkernel \"k\" {\n  cache {\n    mode = \"max\"\n  }\n}\n"
	f, ds := hclparse.NewParser().ParseHCL([]byte(src), "main.sovos.hcl")
	if ds.HasErrors() {
		t.Fatal(ds)
	}
	files := map[string]*hcl.File{"main.sovos.hcl": f}
	rng := func(l1, c1, b1, l2, c2, b2 int) *hcl.Range {
		return &hcl.Range{Filename: "main.sovos.hcl", Start: hcl.Pos{Line: l1, Column: c1, Byte: b1}, End: hcl.Pos{Line: l2, Column: c2, Byte: b2}}
	}
	cases := map[string]hcl.Diagnostics{
		"valid": nil,
		"invalid": {
			{Severity: hcl.DiagError, Summary: "Missing commit", Detail: "A git source must pin a commit; run `sovos pin`.", Subject: rng(2, 3, 18, 2, 50, 65)},
			{Severity: hcl.DiagWarning, Summary: "Signing key would be cached", Detail: "cache mode = \"max\" exports <every> step.", Subject: rng(6, 3, 98, 8, 4, 129)},
			{Severity: hcl.DiagError, Summary: "Invalid -var option", Detail: "The option -var \"x\" is not of the form NAME=VALUE."},
			{Severity: hcl.DiagError, Summary: "Out of the file", Subject: rng(99, 1, 999, 99, 2, 1000)},
		},
	}
	for name, diags := range cases {
		t.Run(name, func(t *testing.T) {
			var b bytes.Buffer
			if err := ValidateJSON(&b, files, diags); err != nil {
				t.Fatal(err)
			}
			testenv.Golden(t, filepath.Join("testdata", "validate", name+".json"), b.Bytes())
		})
	}
}
