package state

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

const (
	testHash   = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	testDigest = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
)

func sampleState() *State {
	s := New("main", "0.1.0")
	s.Lineage = "6f1c1a52-6a3b-4c55-9b1e-2f3f1f1d2a10"
	s.Serial = 7
	s.Resources = []*Resource{
		{Address: "kernel.sovereign", Type: "kernel", Hash: testHash, Tag: testHash[:16],
			Image: "ghcr.io/x/kernel", Digest: testDigest,
			Stages:      map[string]*Stage{"hailort-pkg": {Image: "ghcr.io/x/hailort-pkg", Digest: testDigest}},
			Tags:        map[string]string{"5.3.0": testDigest},
			Inputs:      map[string]json.RawMessage{"target": json.RawMessage(`"kernel"`)},
			SigningCert: []byte{0x30, 0x82, 0x01},
			BuiltAt:     time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)},
		{Address: "extension.hailort", Type: "extension", Hash: testHash,
			BuiltFrom: map[string]string{"kernel.sovereign": testDigest},
			Verified: &Verification{Digest: testDigest, OK: true,
				Modules: []ModuleVerdict{{Path: "/lib/modules/hailo.ko", Verdict: "ok"}}}},
	}
	s.Outputs = map[string]*Output{"ref": {Value: json.RawMessage(`"ghcr.io/x/kernel:0123"`)}}
	return s
}

func TestRoundTrip(t *testing.T) {
	s := sampleState()
	data, err := Encode(s)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Decode(data, "test")
	if err != nil {
		t.Fatal(err)
	}
	// Encode sorts resources by address without touching the caller's state.
	if s.Resources[0].Address != "kernel.sovereign" {
		t.Error("Encode reordered the caller's resources")
	}
	want := sampleState()
	want.Resources[0], want.Resources[1] = want.Resources[1], want.Resources[0]
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
	again, err := Encode(got)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(data, again) {
		t.Errorf("encoding is not stable:\n%s\n---\n%s", data, again)
	}
	if !bytes.Contains(data, []byte("\n  \"lineage\"")) {
		t.Errorf("encoding is not indented:\n%s", data)
	}
}

func TestNew(t *testing.T) {
	a, b := New("main", "0.1.0"), New("main", "0.1.0")
	if a.Lineage == b.Lineage {
		t.Error("two new states share a lineage")
	}
	if _, err := Encode(a); err != nil {
		t.Errorf("a new state does not encode: %v", err)
	}
}

func TestDecodeErrors(t *testing.T) {
	valid := func(edit func(m map[string]any)) string {
		data, err := Encode(sampleState())
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(data, &m); err != nil {
			t.Fatal(err)
		}
		edit(m)
		out, _ := json.Marshal(m)
		return string(out)
	}
	res := func(m map[string]any, i int) map[string]any {
		return m["resources"].([]any)[i].(map[string]any)
	}
	tests := []struct {
		name, doc, want string
		notState        bool
	}{
		{"empty", ``, "not valid JSON", false},
		{"truncated", `{"version": 1, "lin`, "not valid JSON", false},
		{"array", `[1,2]`, "not an object", true},
		{"foreign", `{"name": "x"}`, `no "version" field`, true},
		{"terraform", `{"version": 4, "terraform_version": "1.9.0", "serial": 1}`, "Terraform state", true},
		{"terraform with lineage", `{"version": 4, "terraform_version": "1.9.0", "serial": 1, "lineage": "3f1c"}`, "Terraform state", true},
		{"newer", valid(func(m map[string]any) { m["version"] = 3 }), "newer sovos", false},
		{"zero version", valid(func(m map[string]any) { m["version"] = 0 }), "invalid format version 0", false},
		{"string version", valid(func(m map[string]any) { m["version"] = "1" }), "must be an integer", false},
		{"no lineage", valid(func(m map[string]any) { delete(m, "lineage") }), `no "lineage" field`, true},
		{"empty lineage", valid(func(m map[string]any) { m["lineage"] = "" }), "lineage is missing", false},
		{"bad lineage", valid(func(m map[string]any) { m["lineage"] = "x" }), "not a UUID", false},
		{"no workspace", valid(func(m map[string]any) { delete(m, "workspace") }), "workspace is missing", false},
		{"wrong type", valid(func(m map[string]any) { m["serial"] = "seven" }), "malformed", false},
		{"null resource", valid(func(m map[string]any) { m["resources"].([]any)[0] = nil }), "resources[0] is null", false},
		{"duplicate", valid(func(m map[string]any) { res(m, 1)["address"] = res(m, 0)["address"] }), "extension.hailort is recorded twice", false},
		{"no address", valid(func(m map[string]any) { delete(res(m, 0), "address") }), "has no address", false},
		{"no type", valid(func(m map[string]any) { delete(res(m, 0), "type") }), "has no type", false},
		{"bad hash", valid(func(m map[string]any) { res(m, 0)["hash"] = "abc" }), "hash \"abc\"", false},
		{"bad digest", valid(func(m map[string]any) { res(m, 1)["digest"] = "sha256:zz" }), "kernel.sovereign: digest", false},
		{"md5 digest", valid(func(m map[string]any) { res(m, 1)["digest"] = "md5:" + strings.Repeat("a", 32) }), "not a sha256 or sha512 digest", false},
		{"bad tag", valid(func(m map[string]any) { res(m, 1)["tag"] = "-x" }), "not a valid OCI tag", false},
		{"bad stable tag digest", valid(func(m map[string]any) { res(m, 1)["tags"] = map[string]any{"5.3.0": "latest"} }), `stable tag "5.3.0"`, false},
		{"bad built_from", valid(func(m map[string]any) { res(m, 0)["built_from"] = map[string]any{"kernel.x": ""} }), "built_from", false},
		{"null stage", valid(func(m map[string]any) { res(m, 1)["stages"] = map[string]any{"x": nil} }), `stage "x" is null`, false},
		{"null output", valid(func(m map[string]any) { m["outputs"] = map[string]any{"o": nil} }), `output "o" has no value`, false},
		{"bad attestation", valid(func(m map[string]any) { res(m, 0)["attestations"] = map[string]any{"https://x/v1": "sha256:x"} }), `attestation "https://x/v1"`, false},
		{"history without operation", valid(func(m map[string]any) { m["history"] = map[string]any{"who": "ci"} }), "history: no operation", false},
		{"bad promoted digest", valid(func(m map[string]any) {
			m["history"] = map[string]any{"operation": "apply", "promoted": map[string]any{"ghcr.io/x/k:5.3.0": "latest"}}
		}), `history: promoted "ghcr.io/x/k:5.3.0"`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Decode([]byte(tt.doc), "registry example.com/state:main")
			if err == nil {
				t.Fatalf("Decode(%s) succeeded", tt.doc)
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "registry example.com/state:main: ") || !strings.Contains(msg, tt.want) {
				t.Errorf("error %q does not name where and contain %q", msg, tt.want)
			}
			if got := errors.Is(err, ErrNotState); got != tt.notState {
				t.Errorf("errors.Is(ErrNotState) = %v, want %v (%v)", got, tt.notState, err)
			}
			// A foreign document or a newer format is not a damaged state: the
			// CLI must not suggest replacing it.
			if (tt.notState || tt.name == "newer") && errors.Is(err, ErrCorrupt) {
				t.Errorf("errors.Is(ErrCorrupt) for %v", err)
			}
		})
	}
}

func TestEncodeRefusesInvalid(t *testing.T) {
	s := sampleState()
	s.Resources = append(s.Resources, &Resource{Address: "kernel.sovereign", Type: "kernel", Hash: testHash})
	if _, err := Encode(s); err == nil || !strings.Contains(err.Error(), "recorded twice") {
		t.Errorf("Encode of a duplicate address: %v", err)
	}
}

func FuzzDecode(f *testing.F) {
	data, err := Encode(sampleState())
	if err != nil {
		f.Fatal(err)
	}
	f.Add(data)
	f.Add([]byte(`{"version":1,"lineage":"6f1c1a52-6a3b-4c55-9b1e-2f3f1f1d2a10","workspace":"w","resources":[null]}`))
	f.Add([]byte(`{"version":1e400}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Decode(data, "fuzz")
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz: ") {
				t.Errorf("error does not name where: %v", err)
			}
			return
		}
		// Whatever Decode accepts must encode, and its encoding must be a fixed point.
		out, err := Encode(s)
		if err != nil {
			t.Fatalf("Decode accepted a state Encode refuses: %v", err)
		}
		s2, err := Decode(out, "fuzz")
		if err != nil {
			t.Fatalf("re-decoding: %v", err)
		}
		out2, err := Encode(s2)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(out, out2) {
			t.Errorf("encoding is not stable:\n%s\n---\n%s", out, out2)
		}
	})
}
