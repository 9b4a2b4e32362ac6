package state

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// A first-release (version 1) state is read as it is and written back as version 2,
// with the fields version 2 added; nothing it recorded is lost.
func TestVersion1Upgraded(t *testing.T) {
	v1 := `{
  "version": 1,
  "lineage": "6f1c1a52-6a3b-4c55-9b1e-2f3f1f1d2a10",
  "serial": 4,
  "sovos_version": "0.1.0",
  "workspace": "main",
  "resources": [
    {
      "address": "extension.hailort",
      "type": "extension",
      "hash": "` + testHash + `",
      "digest": "` + testDigest + `",
      "tags": {"5.3.0": "` + testDigest + `"},
      "verified": {"digest": "` + testDigest + `", "kernel": "kernel.sovereign", "ok": true}
    }
  ]
}`
	s, err := Decode([]byte(v1), "test")
	if err != nil {
		t.Fatalf("a version-1 state is refused: %v", err)
	}
	if s.Version != Version || s.History != nil || s.Serial != 4 {
		t.Errorf("decoded version %d, history %v, serial %d", s.Version, s.History, s.Serial)
	}
	r := s.Resource("extension.hailort")
	if r == nil || r.Tags["5.3.0"] != testDigest || r.Verified == nil || !r.Verified.OK {
		t.Fatalf("resource lost in the upgrade: %+v", r)
	}
	s.History = NewHistory("apply")
	r.Attestations = map[string]string{"https://github.com/urmanac/sovos/attestation/module-signatures/v1": testDigest}
	data, err := Encode(s)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	if string(doc["version"]) != "2" {
		t.Errorf("written as version %s, want 2:\n%s", doc["version"], data)
	}
	back, err := Decode(data, "test")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(s, back); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
}

func TestHistoryTag(t *testing.T) {
	if got := HistoryTag("main", 12); got != "main.v12" {
		t.Errorf("HistoryTag = %q", got)
	}
	for tag, want := range map[string]uint64{"main.v1": 1, "main.v120": 120} {
		if n, ok := parseHistoryTag("main", tag); !ok || n != want {
			t.Errorf("parseHistoryTag(%q) = %d, %v", tag, n, ok)
		}
	}
	for _, tag := range []string{"main", "main.v", "main.v01", "main.vx", "main.lock.1.ab", "mainx.v1", "other.v1", "main.v1.2"} {
		if _, ok := parseHistoryTag("main", tag); ok {
			t.Errorf("parseHistoryTag(%q) accepted", tag)
		}
	}
}

// Every backend tags the final write of a Writer as WORKSPACE.v<SERIAL>, keeps those
// entries through later writes (the layout's clean-up included), and lists them newest
// first with what each operation did; another workspace in the same store has its own.
func TestHistoryBackends(t *testing.T) {
	for name, open := range backends(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			b, _ := open(t)
			h := b.(Historian)
			s := sampleState()
			s.Serial = 0
			for i, op := range []string{"apply", "state rm", "apply"} {
				s.History = NewHistory(op)
				w := NewWriter(b, s, nil)
				w.Update(func(s *State) {
					s.History.Built = []string{"kernel.sovereign"}
					if i == 2 {
						s.History.Promoted = map[string]string{"ghcr.io/x/kernel:5.3.0": testDigest}
					}
				})
				// An intermediate write is not a history entry; the final one is.
				if err := w.Flush(ctx); err != nil {
					t.Fatal(err)
				}
				w.Update(func(s *State) { s.Outputs = map[string]*Output{"n": {Value: json.RawMessage(`1`)}} })
				if err := w.Close(ctx); err != nil {
					t.Fatal(err)
				}
				if s.Serial != uint64(2*(i+1)) {
					t.Fatalf("serial %d after write %d", s.Serial, i)
				}
			}
			serials, err := h.HistorySerials(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(serials, []uint64{6, 4, 2}) {
				t.Errorf("history serials %v, want [6 4 2]", serials)
			}
			entries, err := ListHistory(ctx, b, 0)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, e := range entries {
				got = append(got, e.Operation)
				if e.Who == "" || e.Time.IsZero() || time.Since(e.Time) > time.Hour || !strings.HasPrefix(e.Digest, "sha256:") {
					t.Errorf("entry %d: who %q, time %v, digest %q", e.Serial, e.Who, e.Time, e.Digest)
				}
			}
			if !slices.Equal(got, []string{"apply", "state rm", "apply"}) || entries[0].Serial != 6 || entries[2].Serial != 2 {
				t.Errorf("history %+v", entries)
			}
			if entries[0].Promoted["ghcr.io/x/kernel:5.3.0"] != testDigest || entries[1].Promoted != nil {
				t.Errorf("promoted: %v, %v", entries[0].Promoted, entries[1].Promoted)
			}
			if limited, _ := ListHistory(ctx, b, 2); len(limited) != 2 || limited[1].Serial != 4 {
				t.Errorf("ListHistory(2) = %+v", limited)
			}
			old, _, err := h.ReadHistory(ctx, 2)
			if err != nil || old == nil || old.Serial != 2 || old.History.Operation != "apply" {
				t.Fatalf("ReadHistory(2) = %+v, %v", old, err)
			}
			if none, d, err := h.ReadHistory(ctx, 3); none != nil || d != "" || err != nil {
				t.Errorf("ReadHistory of an intermediate write = %v, %q, %v", none, d, err)
			}

			// Another workspace of the same store.
			other, err := h.ForWorkspace("staging")
			if err != nil {
				t.Fatal(err)
			}
			o := New("staging", "0.1.0")
			o.History = NewHistory("apply")
			ow := NewWriter(other, o, nil)
			ow.Update(func(*State) {})
			if err := ow.Close(ctx); err != nil {
				t.Fatal(err)
			}
			if ws, err := h.Workspaces(ctx); err != nil || !slices.Equal(ws, []string{"main", "staging"}) {
				t.Errorf("Workspaces = %v, %v", ws, err)
			}
			if serials, _ := other.HistorySerials(ctx); !slices.Equal(serials, []uint64{1}) {
				t.Errorf("staging's history %v", serials)
			}
			// main's history survived staging's write (the layout's clean-up).
			if old, _, err := h.ReadHistory(ctx, 2); err != nil || old == nil {
				t.Errorf("main.v2 after another workspace's write: %v, %v", old, err)
			}
		})
	}
}
