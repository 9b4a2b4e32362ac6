package hashing

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// CanonicalJSON encodes v as RFC 8785 (JSON Canonicalization Scheme) text: object
// members sorted by the UTF-16 code units of their names, no insignificant whitespace,
// numbers serialized as ECMAScript's Number.prototype.toString does, and strings escaped
// with the minimal JSON escapes.
//
// v may be nil, bool, string, any Go integer or float, json.Number, json.RawMessage,
// map[string]T, []T, a cty.Value (see ctyToJSON), or any value encoding/json can
// marshal (it is marshalled, re-read and canonicalized). Integers must be exactly
// representable as IEEE 754 doubles, the only numbers JSON (I-JSON) guarantees: a
// hash that silently rounded 2^64+1 to 2^64 would miss a change.
func CanonicalJSON(v any) ([]byte, error) {
	var b bytes.Buffer
	if err := writeCanonical(&b, v); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// Canonicalize re-encodes JSON text in its RFC 8785 canonical form. Duplicate object
// member names are an error, as RFC 8785 requires.
func Canonicalize(data []byte) ([]byte, error) {
	v, err := decodeJSONStrict(data)
	if err != nil {
		return nil, err
	}
	return CanonicalJSON(v)
}

// jsonNumber is an already validated double: the internal form every number takes
// before serialization.
type jsonNumber float64

func writeCanonical(b *bytes.Buffer, v any) error {
	switch x := v.(type) {
	case nil:
		b.WriteString("null")
	case bool:
		if x {
			b.WriteString("true")
		} else {
			b.WriteString("false")
		}
	case string:
		return writeJCSString(b, x)
	case jsonNumber:
		s, err := formatJCSNumber(float64(x))
		if err != nil {
			return err
		}
		b.WriteString(s)
	case float64:
		return writeCanonical(b, jsonNumber(x))
	case float32:
		return writeCanonical(b, jsonNumber(float64(x)))
	case int:
		return writeInt(b, big.NewInt(int64(x)))
	case int8:
		return writeInt(b, big.NewInt(int64(x)))
	case int16:
		return writeInt(b, big.NewInt(int64(x)))
	case int32:
		return writeInt(b, big.NewInt(int64(x)))
	case int64:
		return writeInt(b, big.NewInt(x))
	case uint:
		return writeInt(b, new(big.Int).SetUint64(uint64(x)))
	case uint8:
		return writeInt(b, new(big.Int).SetUint64(uint64(x)))
	case uint16:
		return writeInt(b, new(big.Int).SetUint64(uint64(x)))
	case uint32:
		return writeInt(b, new(big.Int).SetUint64(uint64(x)))
	case uint64:
		return writeInt(b, new(big.Int).SetUint64(x))
	case json.Number:
		f, err := parseJSONNumber(string(x))
		if err != nil {
			return err
		}
		return writeCanonical(b, f)
	case json.RawMessage:
		c, err := Canonicalize(x)
		if err != nil {
			return err
		}
		b.Write(c)
	case []any:
		b.WriteByte('[')
		for i, e := range x {
			if i > 0 {
				b.WriteByte(',')
			}
			if err := writeCanonical(b, e); err != nil {
				return err
			}
		}
		b.WriteByte(']')
	case map[string]any:
		return writeObject(b, x)
	case map[string]string:
		m := make(map[string]any, len(x))
		for k, s := range x {
			m[k] = s
		}
		return writeObject(b, m)
	case []string:
		a := make([]any, len(x))
		for i, s := range x {
			a[i] = s
		}
		return writeCanonical(b, a)
	default:
		if cv, ok := asCty(v); ok {
			j, err := ctyToJSON(cv)
			if err != nil {
				return err
			}
			return writeCanonical(b, j)
		}
		if rv := reflect.ValueOf(v); rv.Kind() == reflect.Pointer && rv.IsNil() {
			b.WriteString("null")
			return nil
		}
		// Anything else goes through encoding/json (struct tags, Marshalers) and is
		// canonicalized from its text.
		raw, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("canonical JSON: %w", err)
		}
		return writeCanonical(b, json.RawMessage(raw))
	}
	return nil
}

// maxExactInt is 2^53: every integer of at most this magnitude is a double.
var maxExactInt = big.NewInt(1 << 53)

func writeInt(b *bytes.Buffer, i *big.Int) error {
	if new(big.Int).Abs(i).Cmp(maxExactInt) <= 0 {
		return writeCanonical(b, jsonNumber(float64(i.Int64())))
	}
	f, acc := new(big.Float).SetInt(i).Float64()
	if acc != big.Exact || math.IsInf(f, 0) {
		return fmt.Errorf("number %s is not exactly representable as a JSON (IEEE 754 double) number; use a string", i)
	}
	return writeCanonical(b, jsonNumber(f))
}

type member struct {
	key   string
	units []uint16 // only for a key outside the Basic Multilingual Plane
	value any
}

func writeObject(b *bytes.Buffer, m map[string]any) error {
	ms := make([]member, 0, len(m))
	astral := false
	for k, v := range m {
		if !utf8.ValidString(k) {
			return fmt.Errorf("canonical JSON: object key %q is not valid UTF-8", k)
		}
		ms = append(ms, member{key: k, value: v})
		astral = astral || strings.IndexFunc(k, func(r rune) bool { return r > 0xFFFF }) >= 0
	}
	// RFC 8785 §3.2.3: sort by UTF-16 code units, not by code points or bytes, so
	// that every implementation (ECMAScript, Java, Go) agrees. Within the Basic
	// Multilingual Plane the two orders are the byte order of UTF-8, so only keys with
	// a character beyond it (a surrogate pair in UTF-16) need their code units.
	if !astral {
		slices.SortFunc(ms, func(a, b member) int { return strings.Compare(a.key, b.key) })
	} else {
		for i := range ms {
			ms[i].units = utf16.Encode([]rune(ms[i].key))
		}
		slices.SortFunc(ms, func(a, b member) int { return slices.Compare(a.units, b.units) })
	}
	b.WriteByte('{')
	for i, e := range ms {
		if i > 0 {
			b.WriteByte(',')
		}
		if err := writeJCSString(b, e.key); err != nil {
			return err
		}
		b.WriteByte(':')
		if err := writeCanonical(b, e.value); err != nil {
			return fmt.Errorf("%s: %w", e.key, err)
		}
	}
	b.WriteByte('}')
	return nil
}

// writeJCSString escapes as ECMAScript's JSON.stringify does (RFC 8785 §3.2.2.2):
// only '"', '\\' and the C0 controls are escaped, with the short forms where they
// exist and lowercase \u00xx otherwise. Everything else, including non-ASCII, is
// written as UTF-8.
func writeJCSString(b *bytes.Buffer, s string) error {
	if !utf8.ValidString(s) {
		return fmt.Errorf("canonical JSON: string %q is not valid UTF-8", s)
	}
	const hex = "0123456789abcdef"
	b.WriteByte('"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		b.WriteString(s[start:i])
		switch c {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\b':
			b.WriteString(`\b`)
		case '\f':
			b.WriteString(`\f`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		default:
			b.WriteString(`\u00`)
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&0xf])
		}
		start = i + 1
	}
	b.WriteString(s[start:])
	b.WriteByte('"')
	return nil
}

// formatJCSNumber serializes a double as ECMAScript's Number::toString (ECMA-262
// §7.1.12.1), which RFC 8785 §3.2.2.3 adopts: the shortest digit string that
// round-trips, in plain notation for 1e-7 < |x| < 1e21 and exponent notation outside.
func formatJCSNumber(f float64) (string, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return "", fmt.Errorf("canonical JSON: %v is not a JSON number", f)
	}
	if f == 0 { // also -0, which ECMAScript prints as 0
		return "0", nil
	}
	var sb strings.Builder
	if f < 0 {
		sb.WriteByte('-')
		f = -f
	}
	// Go's shortest round-trip digits are the k digits of ECMA-262's algorithm.
	e := strconv.FormatFloat(f, 'e', -1, 64)
	mant, exp, _ := strings.Cut(e, "e")
	digits := strings.Replace(mant, ".", "", 1)
	x, err := strconv.Atoi(exp)
	if err != nil {
		return "", fmt.Errorf("canonical JSON: formatting %v: %w", f, err)
	}
	k, n := len(digits), x+1
	switch {
	case k <= n && n <= 21:
		sb.WriteString(digits)
		sb.WriteString(strings.Repeat("0", n-k))
	case 0 < n && n <= 21:
		sb.WriteString(digits[:n])
		sb.WriteByte('.')
		sb.WriteString(digits[n:])
	case -6 < n && n <= 0:
		sb.WriteString("0.")
		sb.WriteString(strings.Repeat("0", -n))
		sb.WriteString(digits)
	default:
		sb.WriteByte(digits[0])
		if k > 1 {
			sb.WriteByte('.')
			sb.WriteString(digits[1:])
		}
		sb.WriteByte('e')
		if n-1 >= 0 {
			sb.WriteByte('+')
		} else {
			sb.WriteByte('-')
		}
		sb.WriteString(strconv.Itoa(abs(n - 1)))
	}
	return sb.String(), nil
}

func abs(i int) int {
	if i < 0 {
		return -i
	}
	return i
}

// parseJSONNumber reads a JSON number literal as a double, as ECMAScript's JSON.parse
// does.
func parseJSONNumber(s string) (jsonNumber, error) {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		var ne *strconv.NumError
		if errors.As(err, &ne) && errors.Is(ne.Err, strconv.ErrRange) {
			return 0, fmt.Errorf("canonical JSON: number %s is out of the IEEE 754 double range", s)
		}
		return 0, fmt.Errorf("canonical JSON: invalid number %q", s)
	}
	return jsonNumber(f), nil
}

// decodeJSONStrict parses one JSON text into nil/bool/string/jsonNumber/[]any/
// map[string]any, rejecting duplicate member names and trailing data.
func decodeJSONStrict(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	v, err := decodeValue(dec)
	if err != nil {
		return nil, fmt.Errorf("canonical JSON: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("canonical JSON: trailing data after the JSON value")
	}
	return v, nil
}

func decodeValue(dec *json.Decoder) (any, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '[':
			a := []any{}
			for dec.More() {
				e, err := decodeValue(dec)
				if err != nil {
					return nil, err
				}
				a = append(a, e)
			}
			_, err := dec.Token() // ]
			return a, err
		case '{':
			m := map[string]any{}
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return nil, err
				}
				k := kt.(string) // the decoder guarantees a string key here
				if _, dup := m[k]; dup {
					return nil, fmt.Errorf("duplicate object member %q", k)
				}
				e, err := decodeValue(dec)
				if err != nil {
					return nil, err
				}
				m[k] = e
			}
			_, err := dec.Token() // }
			return m, err
		}
		return nil, fmt.Errorf("unexpected %v", t)
	case json.Number:
		return parseJSONNumber(string(t))
	default: // nil, bool, string
		return t, nil
	}
}
