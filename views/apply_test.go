package views

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/urmanac/sovos/executor"
	"github.com/urmanac/sovos/executor/dag"
	"github.com/urmanac/sovos/internal/testenv"
	"github.com/urmanac/sovos/planner"
)

func TestApplySummary(t *testing.T) {
	digest := func(c string) string { return "sha256:" + strings.Repeat(c, 64) }
	summaries := map[string]*executor.Summary{
		"failed": {
			Resources: []*executor.NodeResult{
				{Address: "kernel.sovereign", Action: planner.ActionRebuild, Outcome: executor.Built, Digest: digest("1"), Duration: 61 * time.Minute},
				{Address: "extension.hailort", Action: planner.ActionRebuild, Outcome: executor.Failed, Err: errors.New("extension.hailort: /rootfs/hailo.ko: foreign_key")},
				{Address: `profile.talos["cm5"]`, Action: planner.ActionRebuild, Outcome: executor.Skipped, Err: &dag.SkipError{Dependency: "extension.hailort"}},
				{Address: "installer.i", Action: planner.ActionNoop, Outcome: executor.Unchanged},
				{Address: "installer.j", Action: planner.ActionCreate, Outcome: executor.Canceled, Err: fmt.Errorf("installer.j: %w", context.Canceled)},
			},
			PromoteSkipped: "not every resource succeeded",
			Duration:       62 * time.Minute,
		},
		"complete": {
			Resources: []*executor.NodeResult{
				{Address: "kernel.sovereign", Action: planner.ActionAdopt, Outcome: executor.Adopted, Digest: digest("2")},
				{Address: `profile.talos["cm4"]`, Action: planner.ActionCreate, Outcome: executor.Rendered, Files: []string{"_out/profiles/profile.talos_cm4.yaml"}, Duration: 40 * time.Millisecond},
				// An imager without an image: its output exported, nothing pushed.
				{Address: "profile.local", Action: planner.ActionCreate, Outcome: executor.Built, Files: []string{"_out/profiles/profile.local.yaml", "_out/profiles/profile.local/"}, Duration: 4 * time.Second},
				{Address: "extension.old", Action: planner.ActionForget, Outcome: executor.Forgotten},
				{Address: "installer.i", Action: planner.ActionPromote, Outcome: executor.Unchanged},
			},
			Promoted: []executor.Promotion{
				{Address: "kernel.sovereign", Ref: "ghcr.io/urmanac/kernel:5.3.0", Digest: digest("2")},
				{Address: "installer.i", Ref: "ghcr.io/urmanac/installer:5.3.0", Digest: digest("3")},
			},
			Duration: 1500 * time.Millisecond,
		},
		"renamed": {
			Resources: []*executor.NodeResult{
				{Address: `profile.talos["cm5"]`, Action: planner.ActionNoop, Outcome: executor.Unchanged, Files: []string{"_out/profiles/profile.talos__cm5__.yaml"}},
			},
			Renamed: []executor.Rename{
				{Address: `profile.talos["cm5"]`, From: "_out/profiles/profile.talos_cm5.yaml", To: "_out/profiles/profile.talos__cm5__.yaml"},
				{Address: `profile.talos["cm5"]`, From: "_out/profiles/profile.talos_cm5", To: "_out/profiles/profile.talos__cm5__"},
			},
			Duration: 300 * time.Millisecond,
		},
	}
	for name, s := range summaries {
		t.Run(name, func(t *testing.T) {
			var b strings.Builder
			ApplySummary(&b, s)
			testenv.Golden(t, filepath.Join("testdata", "apply", name+".txt"), []byte(b.String()))
		})
	}
}
