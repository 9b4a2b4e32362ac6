package attest_test

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/urmanac/sovos/attest"
)

// The predicate sovos writes is what docs/module-signatures.schema.json describes: every
// field sovos writes is in the schema and every field it requires is written, with
// values matching its patterns, enums and consts. (A small checker of the schema
// keywords the file uses; oneOf is checked by the cases below.)
func TestPredicateMatchesSchema(t *testing.T) {
	raw, err := os.ReadFile("../docs/module-signatures.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	var schema map[string]any
	if err := json.Unmarshal(raw, &schema); err != nil {
		t.Fatalf("the schema is not JSON: %v", err)
	}
	if schema["$id"] != attest.ModuleSignaturesType {
		t.Errorf("schema $id %v, want the predicate type %s", schema["$id"], attest.ModuleSignaturesType)
	}
	p := predicate("sha256:"+strings.Repeat("a", 64), strings.Repeat("f", 64), "ok")
	p.VerifiedAt = time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	p.Modules = append(p.Modules, attest.Module{Path: "/lib/modules/b.ko", Result: "ok", HashAlgorithm: "sha256",
		Signer: &attest.ModuleSigner{SubjectKeyID: "0a1b2c"}})
	var doc any
	data, _ := json.Marshal(p)
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	for _, e := range check(schema, schema, doc, "predicate") {
		t.Error(e)
	}

	// And the checker catches what the schema forbids.
	bad := map[string]any{}
	json.Unmarshal(data, &bad)
	bad["result"] = "failed"
	bad["extra"] = 1
	delete(bad, "kernel")
	if errs := check(schema, schema, bad, "predicate"); len(errs) != 3 {
		t.Errorf("a predicate breaking three rules: %v", errs)
	}
}

func check(root, s map[string]any, v any, at string) []string {
	if ref, ok := s["$ref"].(string); ok {
		name := strings.TrimPrefix(ref, "#/$defs/")
		return check(root, root["$defs"].(map[string]any)[name].(map[string]any), v, at)
	}
	var errs []string
	if c, ok := s["const"]; ok && v != c {
		errs = append(errs, fmt.Sprintf("%s = %v, want %v", at, v, c))
	}
	if enum, ok := s["enum"].([]any); ok {
		found := false
		for _, e := range enum {
			found = found || e == v
		}
		if !found {
			errs = append(errs, fmt.Sprintf("%s = %v, not one of %v", at, v, enum))
		}
	}
	switch s["type"] {
	case "object":
		m, ok := v.(map[string]any)
		if !ok {
			return append(errs, fmt.Sprintf("%s is not an object", at))
		}
		props, _ := s["properties"].(map[string]any)
		required, _ := s["required"].([]any)
		for _, r := range required {
			if _, ok := m[r.(string)]; !ok {
				errs = append(errs, fmt.Sprintf("%s lacks %s", at, r))
			}
		}
		for k, val := range m {
			ps, ok := props[k].(map[string]any)
			if !ok {
				if s["additionalProperties"] == false {
					errs = append(errs, fmt.Sprintf("%s.%s is not in the schema", at, k))
				}
				continue
			}
			errs = append(errs, check(root, ps, val, at+"."+k)...)
		}
	case "array":
		a, ok := v.([]any)
		if !ok {
			return append(errs, fmt.Sprintf("%s is not an array", at))
		}
		for i, e := range a {
			errs = append(errs, check(root, s["items"].(map[string]any), e, fmt.Sprintf("%s[%d]", at, i))...)
		}
	case "string":
		str, ok := v.(string)
		if !ok {
			return append(errs, fmt.Sprintf("%s is not a string", at))
		}
		if p, ok := s["pattern"].(string); ok && !regexp.MustCompile(p).MatchString(str) {
			errs = append(errs, fmt.Sprintf("%s = %q does not match %s", at, str, p))
		}
		if n, ok := s["minLength"].(float64); ok && len(str) < int(n) {
			errs = append(errs, fmt.Sprintf("%s is empty", at))
		}
		if s["format"] == "date-time" {
			if _, err := time.Parse(time.RFC3339, str); err != nil {
				errs = append(errs, fmt.Sprintf("%s: %v", at, err))
			}
		}
	}
	return errs
}
