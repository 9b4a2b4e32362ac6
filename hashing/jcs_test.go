package hashing

import (
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"math"
	"strings"
	"testing"
)

// The vectors below are RFC 8785's own: §3.2.2 (the worked example), §3.2.3 (sorting)
// and Appendix B (number serialization).

func TestJCSRFCExample(t *testing.T) {
	in := `{
  "numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
  "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
  "literals": [null, true, false]
}`
	want := `{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\u000f\nA'B\"\\\\\"/"}`
	got, err := Canonicalize([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

func TestJCSSorting(t *testing.T) {
	in := `{
  "\u20ac": "Euro Sign",
  "\r": "Carriage Return",
  "\ufb33": "Hebrew Letter Dalet With Dagesh",
  "1": "One",
  "\ud83d\ude00": "Emoji: Grinning Face",
  "\u0080": "Control",
  "\u00f6": "Latin Small Letter O With Diaeresis"
}`
	got, err := Canonicalize([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	var order []string
	for _, part := range strings.Split(string(got), `",`) {
		_, v, _ := strings.Cut(part, `":"`)
		order = append(order, strings.TrimSuffix(v, `"}`))
	}
	want := []string{
		"Carriage Return", "One", "Control", "Latin Small Letter O With Diaeresis",
		"Euro Sign", "Emoji: Grinning Face", "Hebrew Letter Dalet With Dagesh",
	}
	if strings.Join(order, "|") != strings.Join(want, "|") {
		t.Errorf("order %q\nwant  %q", order, want)
	}
}

func TestJCSNumbers(t *testing.T) {
	tests := []struct {
		bits string
		want string // "" = must be rejected
	}{
		{"0000000000000000", "0"},
		{"8000000000000000", "0"},
		{"0000000000000001", "5e-324"},
		{"8000000000000001", "-5e-324"},
		{"7fefffffffffffff", "1.7976931348623157e+308"},
		{"ffefffffffffffff", "-1.7976931348623157e+308"},
		{"4340000000000000", "9007199254740992"},
		{"c340000000000000", "-9007199254740992"},
		{"4430000000000000", "295147905179352830000"},
		{"7fffffffffffffff", ""},
		{"7ff0000000000000", ""},
		{"44b52d02c7e14af5", "9.999999999999997e+22"},
		{"44b52d02c7e14af6", "1e+23"},
		{"44b52d02c7e14af7", "1.0000000000000001e+23"},
		{"444b1ae4d6e2ef4e", "999999999999999700000"},
		{"444b1ae4d6e2ef4f", "999999999999999900000"},
		{"444b1ae4d6e2ef50", "1e+21"},
		{"3eb0c6f7a0b5ed8c", "9.999999999999997e-7"},
		{"3eb0c6f7a0b5ed8d", "0.000001"},
		{"41b3de4355555553", "333333333.3333332"},
		{"41b3de4355555554", "333333333.33333325"},
		{"41b3de4355555555", "333333333.3333333"},
		{"41b3de4355555556", "333333333.3333334"},
		{"41b3de4355555557", "333333333.33333343"},
		{"becbf647612f3696", "-0.0000033333333333333333"},
		{"43143ff3c1cb0959", "1424953923781206.2"},
	}
	for _, tt := range tests {
		raw, err := hex.DecodeString(tt.bits)
		if err != nil {
			t.Fatal(err)
		}
		f := math.Float64frombits(binary.BigEndian.Uint64(raw))
		got, err := CanonicalJSON(f)
		if tt.want == "" {
			if err == nil {
				t.Errorf("%s: got %s, want an error", tt.bits, got)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tt.bits, err)
			continue
		}
		if string(got) != tt.want {
			t.Errorf("%s: got %s, want %s", tt.bits, got, tt.want)
		}
	}
}

func TestJCSValues(t *testing.T) {
	type tagged struct {
		B string `json:"b"`
		A int    `json:"a"`
	}
	tests := []struct {
		name string
		in   any
		want string
	}{
		{"nil", nil, "null"},
		{"int", 1306525696, "1306525696"},
		{"max exact int", int64(1) << 53, "9007199254740992"},
		{"float", 4.5, "4.5"},
		{"small", 1e-7, "1e-7"},
		{"big", 1e30, "1e+30"},
		{"uint64 power of two", uint64(1) << 63, "9223372036854776000"},
		{"json.Number", json.Number("1.50"), "1.5"},
		{"string escapes", "a\"b\\c\u0001\u001f\b\f\n\r\t\u2028</>", `"a\"b\\c\u0001\u001f\b\f\n\r\t` + "\u2028" + `</>"`},
		{"nested", map[string]any{"b": []any{1, "x", true}, "a": map[string]string{"z": "1", "y": "2"}}, `{"a":{"y":"2","z":"1"},"b":[1,"x",true]}`},
		{"struct", tagged{B: "x", A: 2}, `{"a":2,"b":"x"}`},
		{"strings", []string{"b", "a"}, `["b","a"]`},
		{"empty", map[string]any{}, `{}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := CanonicalJSON(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestJCSErrors(t *testing.T) {
	tests := []struct {
		name string
		in   any
		want string
	}{
		{"inexact integer", int64(1)<<53 + 1, "not exactly representable"},
		{"NaN", math.NaN(), "not a JSON number"},
		{"bad utf-8", "\xff", "not valid UTF-8"},
		{"duplicate key", json.RawMessage(`{"a":1,"a":2}`), `duplicate object member "a"`},
		{"trailing", json.RawMessage(`{} {}`), "trailing data"},
		{"huge", json.RawMessage(`1e400`), "out of the IEEE 754 double range"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := CanonicalJSON(tt.in)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want an error containing %q", err, tt.want)
			}
		})
	}
}
