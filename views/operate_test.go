package views

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/urmanac/sovos/gc"
	"github.com/urmanac/sovos/internal/testenv"
	"github.com/urmanac/sovos/rollback"
)

func digest(c string) string { return "sha256:" + strings.Repeat(c, 64) }

func TestRollbackGolden(t *testing.T) {
	p := &rollback.Plan{Workspace: "main", Current: 9, To: 3, Unchanged: 1,
		Moves: []rollback.Move{
			{Address: "kernel.sovereign", Type: "kernel", Image: "ghcr.io/urmanac/kernel", Tag: "5.3.0", From: digest("1"), To: digest("2")},
			{Address: "extension.hailort", Type: "extension", Image: "ghcr.io/urmanac/hailort", Tag: "5.3.0", From: digest("3"), To: digest("4")},
			{Address: `profile.talos["cm5-hailo10h"]`, Type: "profile", Image: "ghcr.io/urmanac/installer-cm5", Tag: "5.3.0-v1.13.3", To: digest("5")},
		},
		Notes: []string{"profile.old is no longer in the state: its tags (stable) are left as they are"}}
	var b bytes.Buffer
	if err := RollbackPlan(&b, p); err != nil {
		t.Fatal(err)
	}
	b.WriteString("\n")
	if err := RollbackDone(&b, p, p.Moves, 10); err != nil {
		t.Fatal(err)
	}
	testenv.Golden(t, filepath.Join("testdata", "operate", "rollback.txt"), b.Bytes())

	var none bytes.Buffer
	if err := RollbackPlan(&none, &rollback.Plan{Workspace: "main", Current: 9, To: 3, Unchanged: 4}); err != nil {
		t.Fatal(err)
	}
	testenv.Golden(t, filepath.Join("testdata", "operate", "rollback-none.txt"), none.Bytes())
}

func TestGCGolden(t *testing.T) {
	made := time.Date(2026, 11, 20, 8, 0, 0, 0, time.UTC)
	kernel := &gc.Artifact{Repository: "ghcr.io/urmanac/kernel", Tag: "0123456789abcdef", Digest: digest("1"), Hash: strings.Repeat("0123456789abcdef", 4), Created: made,
		With: []string{"ghcr.io/urmanac/kernel@" + digest("c"), "ghcr.io/urmanac/kernel@" + digest("d")}}
	stage := &gc.Artifact{Repository: "ghcr.io/urmanac/hailort-pkg", Tag: "0123456789abcdef", Digest: digest("2"), Hash: kernel.Hash, Created: made}
	media := &gc.Artifact{Repository: "ghcr.io/urmanac/installer-cm5", Tag: "fedcba9876543210", Digest: digest("3"), Hash: strings.Repeat("fedcba9876543210", 4)}
	kept := &gc.Artifact{Repository: "ghcr.io/urmanac/kernel", Tag: "89abcdef01234567", Digest: digest("4")}
	p := &gc.Plan{
		Delete:       []*gc.Group{{Hash: kernel.Hash, Artifacts: []*gc.Artifact{kernel, stage}}, {Hash: media.Hash, Artifacts: []*gc.Artifact{media}}},
		Kept:         []gc.Kept{{Artifact: kept, Kind: gc.KeptByState}, {Artifact: kept, Kind: gc.KeptByTag}, {Artifact: kept, Kind: gc.KeptYoung}},
		Repositories: []string{"ghcr.io/urmanac/kernel", "ghcr.io/urmanac/hailort-pkg", "ghcr.io/urmanac/installer-cm5"},
	}
	scope := GCScope{Workspaces: []string{"main", "staging"}, Keep: 10, MinAge: 24 * time.Hour}
	var b bytes.Buffer
	if err := GCPlan(&b, p, scope); err != nil {
		t.Fatal(err)
	}
	b.WriteString("\n")
	if err := GCDone(&b, p, p.Refs(), 12); err != nil {
		t.Fatal(err)
	}
	b.WriteString("\n")
	if err := GCByHand(&b, p.Refs()); err != nil {
		t.Fatal(err)
	}
	testenv.Golden(t, filepath.Join("testdata", "operate", "gc.txt"), b.Bytes())

	var none bytes.Buffer
	if err := GCPlan(&none, &gc.Plan{Repositories: p.Repositories, Kept: p.Kept[:1]}, GCScope{Workspaces: []string{"main"}, Keep: 1, MinAge: 0}); err != nil {
		t.Fatal(err)
	}
	testenv.Golden(t, filepath.Join("testdata", "operate", "gc-none.txt"), none.Bytes())
}
