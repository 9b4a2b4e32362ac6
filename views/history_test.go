package views

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/urmanac/sovos/internal/testenv"
	"github.com/urmanac/sovos/state"
)

// history is a workspace's history after two promoted applies, a rollback, a gc and a
// forgetting apply, above a state written before history existed.
func history() []state.Entry {
	at := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
	d := func(c byte) string { return "sha256:" + string(bytes.Repeat([]byte{c}, 64)) }
	return []state.Entry{
		{Serial: 12, Digest: d('c'), History: &state.History{Operation: "apply", Who: "ci@runner", Time: at.Add(4 * time.Hour),
			Forgotten: []string{`profile.talos["cm4-standard"]`}}},
		{Serial: 11, Digest: d('b'), History: &state.History{Operation: "gc", Who: "alice@laptop", Time: at.Add(3 * time.Hour),
			Deleted: []string{"ghcr.io/urmanac/kernel@" + d('1'), "ghcr.io/urmanac/hailort-pkg@" + d('2')}}},
		{Serial: 9, Digest: d('a'), History: &state.History{Operation: "rollback", Who: "alice@laptop", Time: at.Add(2 * time.Hour),
			RolledBackTo: 3, Promoted: map[string]string{"ghcr.io/urmanac/kernel:5.3.0": d('3'), "ghcr.io/urmanac/hailort:5.3.0": d('4')}}},
		{Serial: 7, Digest: d('9'), History: &state.History{Operation: "apply", Who: "ci@runner", Time: at.Add(time.Hour),
			Built:    []string{"extension.hailort", "kernel.sovereign"},
			Adopted:  []string{"installer.sovereign"},
			Promoted: map[string]string{"ghcr.io/urmanac/kernel:5.3.0": d('5'), "ghcr.io/urmanac/hailort:5.3.0": d('6')}}},
		{Serial: 6, Digest: d('8'), History: &state.History{Operation: "state push", Who: "bob@desk", Time: at}},
		{Serial: 3, Digest: d('7')},
	}
}

func TestHistoryGolden(t *testing.T) {
	var human, js, none bytes.Buffer
	if err := HistoryHuman(&human, history(), "registry ghcr.io/urmanac/sovos-state:main"); err != nil {
		t.Fatal(err)
	}
	testenv.Golden(t, filepath.Join("testdata", "history", "history.txt"), human.Bytes())
	if err := HistoryJSON(&js, history()); err != nil {
		t.Fatal(err)
	}
	testenv.Golden(t, filepath.Join("testdata", "history", "history.json"), js.Bytes())
	if err := HistoryHuman(&none, nil, "layout .sovos/state (workspace main)"); err != nil {
		t.Fatal(err)
	}
	testenv.Golden(t, filepath.Join("testdata", "history", "none.txt"), none.Bytes())

	// The JSON contract: every entry has the eight fields of SPEC §10.
	var entries []map[string]json.RawMessage
	if err := json.Unmarshal(js.Bytes(), &entries); err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		for _, k := range []string{"serial", "time", "who", "operation", "built", "adopted", "forgotten", "promoted"} {
			if _, ok := e[k]; !ok {
				t.Errorf("entry %s has no %q", e["serial"], k)
			}
		}
	}
	var typed []struct {
		Serial   uint64
		Promoted map[string]string
		Built    []string
	}
	if err := json.Unmarshal(js.Bytes(), &typed); err != nil {
		t.Fatal(err)
	}
	if len(typed) != 6 || typed[0].Serial != 12 || typed[0].Built == nil || len(typed[0].Promoted) != 0 {
		t.Errorf("first entry %+v", typed[0])
	}
	if !slices.Equal(typed[3].Built, []string{"extension.hailort", "kernel.sovereign"}) || len(typed[3].Promoted) != 2 {
		t.Errorf("serial 7: %+v", typed[3])
	}
}
