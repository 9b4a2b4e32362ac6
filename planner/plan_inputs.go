package planner

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/zclconf/go-cty/cty"

	"github.com/urmanac/sovos/config"
)

// Redacted replaces sensitive values in recorded inputs and in reasons.
const Redacted = config.Redacted

// unknownValue stands for a value not known at plan time (never expected after
// evaluation with hooks, but a plan must not fail on it).
const unknownValue = "(known after apply)"

// RecordedInputs is what the state records as a resource's inputs (state Resource.Inputs):
// the JSON of each hashed attribute, with every sensitive-marked value (at any depth)
// replaced by Redacted. MakePlan puts it on each change (ResourceChange.Inputs), the executor
// records exactly that, and the next MakePlan compares it with the configuration's to say
// which attribute changed.
func RecordedInputs(r *config.Resource) (map[string]json.RawMessage, error) {
	out := make(map[string]json.RawMessage, len(r.HashedAttrs))
	// One buffer for every attribute of the resource (most are a quoted hash or name);
	// each keeps its own part of it.
	buf := make([]byte, 0, 80*len(r.HashedAttrs))
	for name, v := range r.HashedAttrs {
		start := len(buf)
		var err error
		buf, err = appendRecorded(buf, v)
		if err != nil {
			return nil, fmt.Errorf("%s: recording attribute %s: %w", r.Addr, name, err)
		}
		out[name] = buf[start:len(buf):len(buf)]
	}
	return out, nil
}

// appendRecorded appends v's JSON as json.Marshal writes plain values (string,
// json.Number, bool, null, arrays, objects with their keys in order), with sensitive
// parts redacted.
func appendRecorded(b []byte, v cty.Value) ([]byte, error) {
	v, marks := v.Unmark()
	if _, ok := marks[config.MarkSensitive]; ok {
		return appendJSONString(b, Redacted), nil
	}
	if v.IsNull() {
		return append(b, "null"...), nil
	}
	if !v.IsKnown() {
		return appendJSONString(b, unknownValue), nil
	}
	ty := v.Type()
	switch {
	case ty == cty.String:
		return appendJSONString(b, v.AsString()), nil
	case ty == cty.Bool:
		return strconv.AppendBool(b, v.True()), nil
	case ty == cty.Number:
		bf := v.AsBigFloat()
		n := json.Number(bf.Text('g', -1))
		if bf.IsInt() {
			i, _ := bf.Int(nil)
			n = json.Number(i.String())
		}
		raw, err := json.Marshal(n) // which refuses what is not a JSON number (infinity)
		return append(b, raw...), err
	case ty.IsListType() || ty.IsSetType() || ty.IsTupleType() || ty.IsMapType() || ty.IsObjectType():
		// cty iterates a map's keys and an object's attributes in byte order, the
		// order json.Marshal writes a map's keys in.
		opening, closing := byte('['), byte(']')
		object := ty.IsMapType() || ty.IsObjectType()
		if object {
			opening, closing = '{', '}'
		}
		b = append(b, opening)
		var err error
		for it, first := v.ElementIterator(), true; it.Next(); first = false {
			k, e := it.Element()
			if !first {
				b = append(b, ',')
			}
			if object {
				b = append(appendJSONString(b, k.AsString()), ':')
			}
			if b, err = appendRecorded(b, e); err != nil {
				return b, err
			}
		}
		return append(b, closing), nil
	default:
		return appendJSONString(b, fmt.Sprintf("(%s)", ty.FriendlyName())), nil
	}
}

// appendJSONString appends s as json.Marshal writes it. Most strings here (hashes,
// repositories, build args) need no escaping and are copied as they are; any other is
// left to json.Marshal (control characters, quotes, HTML's <>&, non-ASCII).
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= utf8.RuneSelf || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			raw, _ := json.Marshal(s)
			return append(b, raw...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// inputDiffs compares recorded inputs with new ones and describes each change as
// `name: old -> new` (one level deep into objects: `args["VERSION"]: "1" -> "2"`).
// Attributes for which skip returns true are left out (they are explained by other
// reasons, e.g. a source reference whose source changed).
func inputDiffs(old, cur map[string]json.RawMessage, skip func(name string, cur json.RawMessage) bool) []string {
	names := make([]string, 0, len(old)+len(cur))
	seen := make(map[string]bool, len(old)+len(cur))
	for n := range old {
		names, seen[n] = append(names, n), true
	}
	for n := range cur {
		if !seen[n] {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	var out []string
	for _, n := range names {
		o, oOK := old[n]
		c, cOK := cur[n]
		if oOK && cOK && jsonEqual(o, c) {
			continue
		}
		if skip != nil && skip(n, c) {
			continue
		}
		if !oOK || !cOK {
			out = append(out, fmt.Sprintf("%s: %s -> %s", n, showRaw(o, oOK), showRaw(c, cOK)))
			continue
		}
		om, oIsObj := asObject(o)
		cm, cIsObj := asObject(c)
		if !oIsObj || !cIsObj {
			out = append(out, fmt.Sprintf("%s: %s -> %s", n, showRaw(o, true), showRaw(c, true)))
			continue
		}
		keys := make([]string, 0, len(om)+len(cm))
		for k := range om {
			keys = append(keys, k)
		}
		for k := range cm {
			if _, ok := om[k]; !ok {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		for _, k := range keys {
			ov, ook := om[k]
			cv, cok := cm[k]
			if ook && cok && jsonEqual(ov, cv) {
				continue
			}
			out = append(out, fmt.Sprintf("%s[%s]: %s -> %s", n, strconv.Quote(k), showRaw(ov, ook), showRaw(cv, cok)))
		}
	}
	return out
}

func asObject(raw json.RawMessage) (map[string]json.RawMessage, bool) {
	if len(bytes.TrimSpace(raw)) == 0 || bytes.TrimSpace(raw)[0] != '{' {
		return nil, false
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, false
	}
	return m, true
}

// jsonEqual compares two JSON documents by value (key order and spacing do not matter).
func jsonEqual(a, b json.RawMessage) bool {
	if bytes.Equal(a, b) {
		return true
	}
	var x, y any
	da := json.NewDecoder(bytes.NewReader(a))
	da.UseNumber()
	db := json.NewDecoder(bytes.NewReader(b))
	db.UseNumber()
	if da.Decode(&x) != nil || db.Decode(&y) != nil {
		return false
	}
	ca, _ := json.Marshal(x)
	cb, _ := json.Marshal(y)
	return bytes.Equal(ca, cb)
}

// maxShown bounds a value shown in a reason; longer ones are cut with an ellipsis.
const maxShown = 72

// showRaw renders a recorded value for a reason: compact JSON, "(none)" when absent.
func showRaw(raw json.RawMessage, ok bool) string {
	if !ok {
		return "(none)"
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		buf.Reset()
		buf.Write(raw)
	}
	s := buf.String()
	if s == strconv.Quote(Redacted) {
		return Redacted
	}
	if len(s) > maxShown {
		s = Truncate(s, maxShown)
		if strings.HasPrefix(s, `"`) {
			s += `"`
		}
	}
	return s
}

// Truncate cuts s to at most n bytes, on a character boundary, ending with an ellipsis,
// as long values are cut in reasons and in the views.
func Truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	n -= len("…")
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
