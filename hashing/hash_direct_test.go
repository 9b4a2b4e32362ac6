package hashing

import (
	"bytes"
	"fmt"
	"math/big"
	"math/rand/v2"
	"testing"

	"github.com/zclconf/go-cty/cty"
)

// TestResourceHashInputDirect holds the direct encoder to the definition: for every
// value it accepts, ResourceHashInput's bytes are those of the JSON tree path
// (ctyToJSON, CanonicalJSON); what it declines is answered by the tree path, error
// included.
func TestResourceHashInputDirect(t *testing.T) {
	deps := map[string]string{"kernel.k[\"a\"]": "ab12", "source.s": "cd34", "é/ü": "x"}
	cases := []struct {
		name   string
		attrs  map[string]cty.Value
		direct bool // the direct encoder answers (else the tree path does)
	}{
		{"empty", map[string]cty.Value{}, true},
		{"nil value", map[string]cty.Value{"a": cty.NilVal}, true},
		{"strings", map[string]cty.Value{"s": cty.StringVal("plain"), "esc": cty.StringVal("q\"b\\n\n\t\r\b\f\x01\x1f</>"),
			"uni": cty.StringVal("ünïcødé 😀 \u2028"), "": cty.StringVal("")}, true},
		{"numbers", map[string]cty.Value{"i": cty.NumberIntVal(42), "neg": cty.NumberIntVal(-7), "f": cty.NumberFloatVal(0.1),
			"big": cty.NumberIntVal(1 << 53), "tiny": cty.NumberFloatVal(1e-9), "huge": cty.NumberFloatVal(1e300), "zero": cty.Zero}, true},
		{"bools and nulls", map[string]cty.Value{"t": cty.True, "f": cty.False, "n": cty.NullVal(cty.String),
			"dyn": cty.NullVal(cty.DynamicPseudoType), "nl": cty.NullVal(cty.List(cty.String))}, true},
		{"collections", map[string]cty.Value{
			"list":   cty.ListVal([]cty.Value{cty.StringVal("b"), cty.StringVal("a")}),
			"empty":  cty.ListValEmpty(cty.String),
			"tuple":  cty.TupleVal([]cty.Value{cty.StringVal("x"), cty.NumberIntVal(1), cty.True}),
			"set":    cty.SetVal([]cty.Value{cty.StringVal("zz"), cty.StringVal("a"), cty.StringVal("é"), cty.StringVal("m")}),
			"numset": cty.SetVal([]cty.Value{cty.NumberIntVal(10), cty.NumberIntVal(9), cty.NumberIntVal(100)}),
			"map":    cty.MapVal(map[string]cty.Value{"b": cty.StringVal("2"), "a": cty.StringVal("1"), "é": cty.StringVal("3"), "Z": cty.StringVal("0")}),
			"object": cty.ObjectVal(map[string]cty.Value{"x": cty.ListVal([]cty.Value{cty.MapVal(map[string]cty.Value{"k": cty.StringVal("v")})}), "a": cty.NullVal(cty.String)}),
			"setobj": cty.SetVal([]cty.Value{cty.ObjectVal(map[string]cty.Value{"n": cty.StringVal("b")}), cty.ObjectVal(map[string]cty.Value{"n": cty.StringVal("a")})}),
		}, true},
		{"marks", map[string]cty.Value{"m": cty.StringVal("s").Mark("sensitive"),
			"deep": cty.ObjectVal(map[string]cty.Value{"a": cty.StringVal("x").Mark("sensitive")}).Mark("other"),
			"list": cty.ListVal([]cty.Value{cty.StringVal("a").Mark(1), cty.StringVal("b")})}, true},
		{"astral key", map[string]cty.Value{"m": cty.MapVal(map[string]cty.Value{"😀": cty.StringVal("1"), "\uffff": cty.StringVal("2")})}, false},
		{"astral attr", map[string]cty.Value{"😀": cty.True, "\uffff": cty.False}, false},
		{"unknown", map[string]cty.Value{"u": cty.UnknownVal(cty.String)}, false},
		{"nested unknown", map[string]cty.Value{"u": cty.ListVal([]cty.Value{cty.StringVal("a"), cty.UnknownVal(cty.String)})}, false},
		{"inexact integer", map[string]cty.Value{"n": cty.NumberVal(new(big.Float).SetInt(new(big.Int).Lsh(big.NewInt(1), 80)).SetPrec(512).Add(new(big.Float).SetInt(new(big.Int).Lsh(big.NewInt(1), 80)), big.NewFloat(1)))}, false},
		{"invalid UTF-8", map[string]cty.Value{"s": cty.StringVal("a\xffb")}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			checkDirect(t, "kernel", "linux/arm64", c.attrs, deps, c.direct)
		})
	}
}

// TestResourceHashInputDirectRandom compares the two paths on random nested values.
func TestResourceHashInputDirectRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 2000 {
		attrs := map[string]cty.Value{}
		for j := range r.IntN(6) {
			attrs[randKey(r)+fmt.Sprint(j)] = randValue(r, 3)
		}
		deps := map[string]string{}
		for range r.IntN(3) {
			deps[randKey(r)] = randKey(r)
		}
		checkDirect(t, fmt.Sprintf("t%d", i%3), randKey(r), attrs, deps, true)
	}
}

func checkDirect(t *testing.T, typ, platform string, attrs map[string]cty.Value, deps map[string]string, direct bool) {
	t.Helper()
	want, wantErr := resourceHashInputTree(typ, platform, attrs, deps)
	got, gotErr := ResourceHashInput(typ, platform, attrs, deps)
	if !bytes.Equal(got, want) || fmt.Sprint(gotErr) != fmt.Sprint(wantErr) {
		t.Fatalf("ResourceHashInput(%#v) =\n%s, %v\nwant (tree path)\n%s, %v", attrs, got, gotErr, want, wantErr)
	}
	if _, ok := resourceHashInputDirect(typ, platform, attrs, deps); ok != direct {
		t.Fatalf("direct encoder answered = %v, want %v for %#v", ok, direct, attrs)
	}
}

func randKey(r *rand.Rand) string {
	const alphabet = "abAB_-.:/é\"\\\n"
	n := r.IntN(5)
	rs := []rune(alphabet)
	out := make([]rune, n)
	for i := range out {
		out[i] = rs[r.IntN(len(rs))]
	}
	return string(out)
}

func randValue(r *rand.Rand, depth int) cty.Value {
	k := r.IntN(10)
	if depth == 0 {
		k = r.IntN(4)
	}
	var v cty.Value
	switch k {
	case 0:
		v = cty.StringVal(randKey(r))
	case 1:
		v = cty.NumberFloatVal(float64(r.IntN(2000)-1000) / float64(1+r.IntN(64)))
	case 2:
		v = cty.BoolVal(r.IntN(2) == 0)
	case 3:
		v = cty.NullVal(cty.String)
	case 4, 5:
		var es []cty.Value
		for range r.IntN(4) {
			es = append(es, randValue(r, depth-1))
		}
		v = cty.TupleVal(es)
	case 6:
		var es []cty.Value
		for range 1 + r.IntN(4) {
			es = append(es, cty.StringVal(randKey(r)))
		}
		v = cty.SetVal(es)
	default:
		m := map[string]cty.Value{}
		for range r.IntN(4) {
			m[randKey(r)] = randValue(r, depth-1)
		}
		v = cty.ObjectVal(m)
	}
	if r.IntN(5) == 0 {
		v = v.Mark("sensitive")
	}
	return v
}

// benchAttrs is a kernel instance of issue 10's matrix, as config hashes it.
func benchAttrs() (map[string]cty.Value, map[string]string) {
	return map[string]cty.Value{
			"source":     cty.StringVal("source.s"),
			"dockerfile": cty.StringVal("Dockerfile"),
			"target":     cty.NullVal(cty.String),
			"args":       cty.MapVal(map[string]cty.Value{"VARIANT": cty.StringVal("v3")}),
			"contexts":   cty.MapValEmpty(cty.String),
			"secrets":    cty.ListValEmpty(cty.String),
		}, map[string]string{
			"source.s": "7d8a3b1c0e5f4a6b9c2d1e0f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b",
		}
}

// BenchmarkResourceHashInput is the path every instance of a plan takes; compare
// BenchmarkResourceHashInputTree.
func BenchmarkResourceHashInput(b *testing.B) {
	attrs, deps := benchAttrs()
	for b.Loop() {
		if _, err := ResourceHashInput("kernel", "linux/amd64", attrs, deps); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkResourceHashInputTree(b *testing.B) {
	attrs, deps := benchAttrs()
	for b.Loop() {
		if _, err := resourceHashInputTree("kernel", "linux/amd64", attrs, deps); err != nil {
			b.Fatal(err)
		}
	}
}
