package hashing

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/zclconf/go-cty/cty"
)

// HashScheme versions the hash encoding (docs/hashing.md). It is part of every hashed
// document, so changing the encoding means bumping it, and every resource then shows as
// changed once instead of silently colliding with hashes of the old encoding.
const HashScheme = 1

// ContentTagLength is the number of hex characters of a hash used as the image tag.
const ContentTagLength = 16

// AnnotationHash is the manifest (and index) annotation every sovos build and boot-media
// artifact carries: the resource hash it was built from. A plan adopts an artifact by
// it; gc recognises sovos's own artifacts by it.
const AnnotationHash = "dev.sovos.hash"

// ResourceHash returns the hex SHA-256 of ResourceHashInput: the identity of a build
// resource or profile (SPEC §4). deps maps a dependency's address to its hash.
func ResourceHash(typ, platform string, attrs map[string]cty.Value, deps map[string]string) (string, error) {
	doc, err := ResourceHashInput(typ, platform, attrs, deps)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(doc)
	return hex.EncodeToString(sum[:]), nil
}

// ResourceHashInput returns the canonical JSON that ResourceHash hashes:
// {"attrs":{...},"deps":{...},"platform":"...","scheme":1,"type":"..."}. It is exposed
// so that a surprising hash can be explained by looking at what went into it.
func ResourceHashInput(typ, platform string, attrs map[string]cty.Value, deps map[string]string) ([]byte, error) {
	if doc, ok := resourceHashInputDirect(typ, platform, attrs, deps); ok {
		return doc, nil
	}
	return resourceHashInputTree(typ, platform, attrs, deps)
}

// resourceHashInputTree is ResourceHashInput by way of the JSON tree (ctyToJSON, then
// CanonicalJSON): the definition, and the path that reports what cannot be hashed.
func resourceHashInputTree(typ, platform string, attrs map[string]cty.Value, deps map[string]string) ([]byte, error) {
	a := make(map[string]any, len(attrs))
	for k, v := range attrs {
		j, err := ctyToJSON(v)
		if err != nil {
			return nil, fmt.Errorf("hashing attribute %q: %w", k, err)
		}
		a[k] = j
	}
	d := make(map[string]any, len(deps))
	for k, v := range deps {
		d[k] = v
	}
	return CanonicalJSON(map[string]any{
		"scheme":   HashScheme,
		"type":     typ,
		"platform": platform,
		"attrs":    a,
		"deps":     d,
	})
}

// resourceHashInputDirect writes the same bytes as resourceHashInputTree straight from
// the cty values, without building the tree: every plan hashes every instance, and the
// tree's maps and boxed values were most of a hash's cost. It gives up (ok false) on
// anything out of the ordinary (an unknown value, a number JSON cannot hold, invalid
// UTF-8, a key beyond the Basic Multilingual Plane), for which the tree path gives the
// answer and its error. TestResourceHashInputDirect holds the two paths to one output.
func resourceHashInputDirect(typ, platform string, attrs map[string]cty.Value, deps map[string]string) ([]byte, bool) {
	b := bytes.NewBuffer(make([]byte, 0, 512))
	// The members in key order: attrs, deps, platform, scheme, type.
	b.WriteString(`{"attrs":`)
	if !writeMembers(b, attrs, writeCty) {
		return nil, false
	}
	b.WriteString(`,"deps":`)
	if !writeMembers(b, deps, func(b *bytes.Buffer, s string) bool { return writeJCSString(b, s) == nil }) {
		return nil, false
	}
	b.WriteString(`,"platform":`)
	if writeJCSString(b, platform) != nil {
		return nil, false
	}
	b.WriteString(`,"scheme":` + strconv.Itoa(HashScheme) + `,"type":`)
	if writeJCSString(b, typ) != nil {
		return nil, false
	}
	b.WriteByte('}')
	return b.Bytes(), true
}

// writeMembers writes m as a JSON object, its members in key order and each value by
// write, or reports false where a key needs UTF-16 ordering or a value cannot be
// written.
func writeMembers[V any](b *bytes.Buffer, m map[string]V, write func(*bytes.Buffer, V) bool) bool {
	var small [16]string // a resource's attributes and dependencies fit, on the stack
	keys := small[:0]
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if !plainKeys(keys) {
		return false
	}
	b.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		_ = writeJCSString(b, k)
		b.WriteByte(':')
		if !write(b, m[k]) {
			return false
		}
	}
	b.WriteByte('}')
	return true
}

// plainKeys reports whether object keys sort by their bytes as RFC 8785 sorts them (by
// UTF-16 code units): each a plainKey.
func plainKeys(keys []string) bool {
	for _, k := range keys {
		if !plainKey(k) {
			return false
		}
	}
	return true
}

// plainKey reports whether k is valid UTF-8 without characters beyond the Basic
// Multilingual Plane, whose byte order is its UTF-16 order.
func plainKey(k string) bool {
	return utf8.ValidString(k) && strings.IndexFunc(k, func(r rune) bool { return r > 0xFFFF }) < 0
}

// writeCty writes v as writeCanonical writes ctyToJSON(v), or reports false where
// either would fail (or a key needs UTF-16 ordering).
func writeCty(b *bytes.Buffer, v cty.Value) bool {
	if v == cty.NilVal {
		b.WriteString("null")
		return true
	}
	v, _ = v.Unmark()
	if !v.IsKnown() {
		return false
	}
	if v.IsNull() {
		b.WriteString("null")
		return true
	}
	ty := v.Type()
	switch {
	case ty == cty.String:
		return writeJCSString(b, v.AsString()) == nil
	case ty == cty.Bool:
		if v.True() {
			b.WriteString("true")
		} else {
			b.WriteString("false")
		}
	case ty == cty.Number:
		n, err := ctyNumber(v.AsBigFloat(), nil)
		if err != nil {
			return false
		}
		return writeCanonical(b, n) == nil
	case ty.IsListType() || ty.IsTupleType():
		b.WriteByte('[')
		i := 0
		for it := v.ElementIterator(); it.Next(); i++ {
			if i > 0 {
				b.WriteByte(',')
			}
			_, e := it.Element()
			if !writeCty(b, e) {
				return false
			}
		}
		b.WriteByte(']')
	case ty.IsSetType():
		// A set's elements in the order of their canonical encodings.
		var es [][]byte
		for it := v.ElementIterator(); it.Next(); {
			_, e := it.Element()
			var eb bytes.Buffer
			if !writeCty(&eb, e) {
				return false
			}
			es = append(es, eb.Bytes())
		}
		slices.SortFunc(es, bytes.Compare)
		b.WriteByte('[')
		for i, e := range es {
			if i > 0 {
				b.WriteByte(',')
			}
			b.Write(e)
		}
		b.WriteByte(']')
	case ty.IsMapType() || ty.IsObjectType():
		type member struct {
			key   string
			value cty.Value
		}
		ms := make([]member, 0, v.LengthInt())
		for it := v.ElementIterator(); it.Next(); {
			k, e := it.Element()
			key := k.AsString()
			if !plainKey(key) {
				return false
			}
			ms = append(ms, member{key, e})
		}
		slices.SortFunc(ms, func(a, b member) int { return strings.Compare(a.key, b.key) })
		b.WriteByte('{')
		for i, m := range ms {
			if i > 0 {
				b.WriteByte(',')
			}
			_ = writeJCSString(b, m.key)
			b.WriteByte(':')
			if !writeCty(b, m.value) {
				return false
			}
		}
		b.WriteByte('}')
	default:
		return false
	}
	return true
}

// ContentTag is the image tag of a hash: its first 16 hex characters (64 bits, enough
// that two builds of one repository never collide by chance). It is the only place a
// tag is cut from a hash.
func ContentTag(hash string) string {
	if len(hash) < ContentTagLength {
		return hash
	}
	return hash[:ContentTagLength]
}

// IsContentTag reports whether tag is the content tag of hash (a full resource hash).
func IsContentTag(tag, hash string) bool {
	return len(hash) >= ContentTagLength && ContentTag(hash) == tag
}

// ImageHash is the hash an image is recorded under where a record needs one (the state
// records a hex hash for every resource): the hex part of its digest. An image has no
// resource hash of its own; it is identified, and hashed into its consumers, by its
// digest ("sha256:...").
func ImageHash(digest string) string {
	if _, hex, ok := strings.Cut(digest, ":"); ok {
		return hex
	}
	return digest
}

func asCty(v any) (cty.Value, bool) {
	switch x := v.(type) {
	case cty.Value:
		return x, true
	case *cty.Value:
		if x != nil {
			return *x, true
		}
	}
	return cty.NilVal, false
}

// ctyToJSON converts a cty value to the JSON tree CanonicalJSON writes: objects and maps
// become objects, lists and tuples arrays, sets arrays sorted by their elements'
// canonical encodings (a set has no order of its own), and marks (sensitive) are
// dropped: a hash must not depend on how a value was derived. Unknown values are an
// error: a hash computed before a value is known would be meaningless.
func ctyToJSON(v cty.Value) (any, error) {
	return ctyToJSONPath(v, cty.Path{})
}

func ctyToJSONPath(v cty.Value, path cty.Path) (any, error) {
	if v == cty.NilVal {
		return nil, nil
	}
	v, _ = v.UnmarkDeep()
	if !v.IsKnown() {
		return nil, pathErrorf(path, "value is not known at plan time, so it cannot be hashed")
	}
	if v.IsNull() {
		return nil, nil
	}
	ty := v.Type()
	switch {
	case ty == cty.String:
		return v.AsString(), nil
	case ty == cty.Bool:
		return v.True(), nil
	case ty == cty.Number:
		return ctyNumber(v.AsBigFloat(), path)
	case ty.IsListType() || ty.IsTupleType():
		out := make([]any, 0, v.LengthInt())
		for it := v.ElementIterator(); it.Next(); {
			k, e := it.Element()
			j, err := ctyToJSONPath(e, path.Index(k))
			if err != nil {
				return nil, err
			}
			out = append(out, j)
		}
		return out, nil
	case ty.IsSetType():
		type enc struct {
			v any
			b []byte
		}
		es := make([]enc, 0, v.LengthInt())
		for it := v.ElementIterator(); it.Next(); {
			_, e := it.Element()
			j, err := ctyToJSONPath(e, path.Index(e))
			if err != nil {
				return nil, err
			}
			b, err := CanonicalJSON(j)
			if err != nil {
				return nil, pathErrorf(path, "%w", err)
			}
			es = append(es, enc{j, b})
		}
		slices.SortFunc(es, func(a, b enc) int { return bytes.Compare(a.b, b.b) })
		out := make([]any, len(es))
		for i, e := range es {
			out[i] = e.v
		}
		return out, nil
	case ty.IsMapType() || ty.IsObjectType():
		out := make(map[string]any, v.LengthInt())
		for it := v.ElementIterator(); it.Next(); {
			k, e := it.Element()
			j, err := ctyToJSONPath(e, path.Index(k))
			if err != nil {
				return nil, err
			}
			out[k.AsString()] = j
		}
		return out, nil
	default:
		return nil, pathErrorf(path, "a value of type %s cannot be hashed", ty.FriendlyName())
	}
}

func ctyNumber(bf *big.Float, path cty.Path) (any, error) {
	f, acc := bf.Float64()
	if math.IsInf(f, 0) {
		return nil, pathErrorf(path, "number %s is too large to hash (beyond IEEE 754 double range)", bf.Text('g', 20))
	}
	// Non-integers are rounded to the nearest double, as any JSON reader would; an
	// integer must survive exactly, or two different sizes could share a hash.
	if bf.IsInt() && acc != big.Exact {
		return nil, pathErrorf(path, "integer %s is not exactly representable as a JSON number (IEEE 754 double); use a string", bf.Text('f', 0))
	}
	return jsonNumber(f), nil
}

// pathErrorf prefixes an error with where in the value it happened (`["a"][0]`), since
// cty.PathError's message alone does not say.
func pathErrorf(path cty.Path, format string, args ...any) error {
	err := fmt.Errorf(format, args...)
	if len(path) == 0 {
		return err
	}
	var sb strings.Builder
	for _, step := range path {
		switch s := step.(type) {
		case cty.IndexStep:
			k, _ := s.Key.UnmarkDeep()
			switch {
			case !k.IsKnown() || k.IsNull():
				sb.WriteString("[...]")
			case k.Type() == cty.String:
				sb.WriteString("[" + strconv.Quote(k.AsString()) + "]")
			case k.Type() == cty.Number:
				sb.WriteString("[" + k.AsBigFloat().Text('f', -1) + "]")
			default:
				sb.WriteString("[...]")
			}
		case cty.GetAttrStep:
			sb.WriteString("." + s.Name)
		}
	}
	return fmt.Errorf("%s: %w", sb.String(), err)
}
