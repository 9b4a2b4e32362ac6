package hashing

import (
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"

	"github.com/urmanac/sovos/config"
)

func kernelAttrs() map[string]cty.Value {
	return map[string]cty.Value{
		"source":     cty.StringVal("0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0"),
		"dockerfile": cty.StringVal("Pkgfile"),
		"target":     cty.StringVal("kernel"),
		"args":       cty.MapVal(map[string]cty.Value{"B": cty.StringVal("2"), "A": cty.StringVal("1")}),
		"disk_size":  cty.NumberIntVal(1306525696),
	}
}

func TestResourceHashStable(t *testing.T) {
	deps := map[string]string{"source.pkgs": "aa", "kernel.k": "bb"}
	h1, err := ResourceHash("kernel", "linux/arm64", kernelAttrs(), deps)
	if err != nil {
		t.Fatal(err)
	}
	// Same values built in another order (Go randomizes map iteration anyway).
	attrs := map[string]cty.Value{}
	for _, k := range []string{"disk_size", "args", "target", "dockerfile", "source"} {
		attrs[k] = kernelAttrs()[k]
	}
	h2, err := ResourceHash("kernel", "linux/arm64", attrs, map[string]string{"kernel.k": "bb", "source.pkgs": "aa"})
	if err != nil {
		t.Fatal(err)
	}
	if h1 != h2 {
		t.Fatalf("hash depends on construction order: %s vs %s", h1, h2)
	}
	if len(h1) != 64 || ContentTag(h1) != h1[:16] {
		t.Fatalf("hash %q / tag %q", h1, ContentTag(h1))
	}

	// Marks (sensitive) do not enter the hash.
	marked := kernelAttrs()
	marked["args"] = cty.MapVal(map[string]cty.Value{
		"B": cty.StringVal("2").Mark(config.MarkSensitive),
		"A": cty.StringVal("1"),
	})
	marked["target"] = marked["target"].Mark(config.MarkSensitive)
	if h, err := ResourceHash("kernel", "linux/arm64", marked, deps); err != nil || h != h1 {
		t.Errorf("marked values changed the hash: %s vs %s (%v)", h, h1, err)
	}

	changes := map[string]func() (string, error){
		"attr": func() (string, error) {
			a := kernelAttrs()
			a["target"] = cty.StringVal("kernel-build")
			return ResourceHash("kernel", "linux/arm64", a, deps)
		},
		"nested attr": func() (string, error) {
			a := kernelAttrs()
			a["args"] = cty.MapVal(map[string]cty.Value{"B": cty.StringVal("3"), "A": cty.StringVal("1")})
			return ResourceHash("kernel", "linux/arm64", a, deps)
		},
		"dep": func() (string, error) {
			return ResourceHash("kernel", "linux/arm64", kernelAttrs(), map[string]string{"source.pkgs": "ab", "kernel.k": "bb"})
		},
		"platform": func() (string, error) {
			return ResourceHash("kernel", "linux/amd64", kernelAttrs(), deps)
		},
		"type": func() (string, error) {
			return ResourceHash("extension", "linux/arm64", kernelAttrs(), deps)
		},
		"null vs empty": func() (string, error) {
			a := kernelAttrs()
			a["target"] = cty.NullVal(cty.String)
			return ResourceHash("kernel", "linux/arm64", a, deps)
		},
	}
	for name, f := range changes {
		h, err := f()
		if err != nil {
			t.Errorf("%s: %v", name, err)
		} else if h == h1 {
			t.Errorf("changing the %s did not change the hash", name)
		}
	}
}

func TestResourceHashValues(t *testing.T) {
	tests := []struct {
		name string
		v    cty.Value
		want string
	}{
		{"set sorted", cty.SetVal([]cty.Value{cty.StringVal("b"), cty.StringVal("a"), cty.StringVal("c")}), `["a","b","c"]`},
		{"list kept", cty.ListVal([]cty.Value{cty.StringVal("b"), cty.StringVal("a")}), `["b","a"]`},
		{"tuple", cty.TupleVal([]cty.Value{cty.NumberFloatVal(4.5), cty.True, cty.NullVal(cty.String)}), `[4.5,true,null]`},
		{"object", cty.ObjectVal(map[string]cty.Value{"z": cty.NumberIntVal(1), "a": cty.StringVal("\u20ac")}), `{"a":"€","z":1}`},
		{"decimal", cty.MustParseNumberVal("0.1"), `0.1`},
		{"big exact", cty.NumberIntVal(1 << 53), `9007199254740992`},
		{"dynamic null", cty.NullVal(cty.DynamicPseudoType), `null`},
		{"marked set", cty.SetVal([]cty.Value{cty.StringVal("x").Mark(config.MarkSensitive)}), `["x"]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := CanonicalJSON(tt.v)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
}

func TestResourceHashErrors(t *testing.T) {
	tests := []struct {
		name  string
		attrs map[string]cty.Value
		want  string
	}{
		{"unknown", map[string]cty.Value{"args": cty.MapVal(map[string]cty.Value{"K": cty.UnknownVal(cty.String)})},
			`hashing attribute "args": ["K"]: value is not known at plan time`},
		{"inexact integer", map[string]cty.Value{"n": cty.MustParseNumberVal("9007199254740993")},
			`hashing attribute "n": integer 9007199254740993 is not exactly representable`},
		{"unknown in list", map[string]cty.Value{"l": cty.TupleVal([]cty.Value{cty.StringVal("a"), cty.DynamicVal})},
			`hashing attribute "l": [1]: value is not known`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ResourceHash("kernel", "linux/arm64", tt.attrs, nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestContentTag(t *testing.T) {
	if got := ContentTag("0123456789abcdef0123"); got != "0123456789abcdef" {
		t.Errorf("got %q", got)
	}
	if got := ContentTag("abc"); got != "abc" {
		t.Errorf("got %q", got)
	}
	// gc deletes only what IsContentTag says is a content tag: never a stable tag, and
	// never a tag equal to an annotation too short to be a hash.
	h := strings.Repeat("0123456789abcdef", 4)
	for _, tt := range []struct {
		tag, hash string
		want      bool
	}{
		{"0123456789abcdef", h, true},
		{"0123456789abcde", h, false},
		{"5.3.0", h, false},
		{"abc", "abc", false},
		{"", "", false},
	} {
		if got := IsContentTag(tt.tag, tt.hash); got != tt.want {
			t.Errorf("IsContentTag(%q, %q) = %t", tt.tag, tt.hash, got)
		}
	}
}
