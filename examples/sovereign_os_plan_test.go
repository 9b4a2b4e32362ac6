package examples_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/urmanac/sovos/internal/testenv"
)

// stateAfterApply is the state an apply of changes would leave (SPEC §7): every build
// recorded with its hash, tag and a digest, stage digests, and the digests of the
// upstream builds it consumed; every profile (all of kind "image" here) recorded as
// published boot media, unless firstRelease, whose profiles pushed single-tar images.
func stateAfterApply(t *testing.T, workspace string, changes []planChange, firstRelease bool) []byte {
	t.Helper()
	digest := func(s string) string {
		sum := sha256.Sum256([]byte(s))
		return "sha256:" + hex.EncodeToString(sum[:])
	}
	built := map[string]bool{}
	for _, c := range changes {
		built[c.Address] = true
	}
	stages := map[string]map[string]string{
		"kernel":    {"hailort-pkg": "ghcr.io/urmanac/hailort-pkg"},
		"installer": {"imager": "ghcr.io/urmanac/imager"},
	}
	var resources []map[string]any
	for _, c := range changes {
		if c.After == nil {
			t.Fatalf("%s has no after snapshot", c.Address)
		}
		r := map[string]any{
			"address": c.Address, "type": c.Type, "hash": c.After.Hash, "tag": c.After.Tag,
			"image":  strings.TrimSuffix(c.After.Ref, ":"+c.After.Tag),
			"digest": digest(c.Address), "built_at": "2026-11-25T19:00:00Z",
		}
		from := map[string]string{}
		for _, d := range c.DependsOn {
			if built[d] {
				from[d] = digest(d)
			}
		}
		if len(from) > 0 {
			r["built_from"] = from
		}
		if c.Type == "profile" && !firstRelease {
			r["artifact_type"] = "application/vnd.sovos.boot-media.v1"
		}
		if st := stages[c.Type]; st != nil {
			m := map[string]any{}
			for target, image := range st {
				m[target] = map[string]string{"image": image, "digest": digest(c.Address + "/" + target)}
			}
			r["stages"] = m
		}
		resources = append(resources, r)
	}
	data, err := json.Marshal(map[string]any{
		"version": 1, "lineage": "8a7c2f4e-1111-4222-8333-944455556666", "serial": 1,
		"sovos_version": "0.1.0", "workspace": workspace, "resources": resources,
	})
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// TestSovereignOSPlanOffline runs the commands of the example's README and of the PR
// workflow, offline, from the repository root: validate, plan -out with
// -detailed-exitcode against a scratch state, show -format=markdown, and the sticky
// comment of that markdown.
func TestSovereignOSPlanOffline(t *testing.T) {
	wf := readWorkflow(t, "sovos-plan.yml")
	dir, workspace := wf.Env["SOVOS_DIR"], wf.Env["SOVOS_WORKSPACE"]
	if dir != "examples/sovereign-os" {
		t.Fatalf("sovos-plan.yml plans %q; this test expects the sovereign-os example", dir)
	}
	sovos := testenv.SovosCLI(t)
	sovos.Dir, sovos.Chdir = "..", dir
	sovos.Args = []string{"-no-color"}
	sovos.Env = offlineEnv(t)
	tmp := t.TempDir()
	statePath := filepath.Join(tmp, "state")
	planFile := filepath.Join(tmp, "plan.out")

	if out := sovos.Expect(0, "validate"); !strings.Contains(out, "valid") {
		t.Errorf("validate printed %q", out)
	}

	// -detailed-exitcode: 2 = success with changes (a fresh state: everything is new).
	sovos.Expect(2, "plan", "-refresh=false", "-state-path="+statePath, "-out="+planFile, "-detailed-exitcode",
		"-workspace="+workspace)

	var plan struct {
		Changes []planChange   `json:"resource_changes"`
		Summary map[string]int `json:"summary"`
	}
	if err := json.Unmarshal([]byte(sovos.Expect(0, "show", "-format=json", planFile)), &plan); err != nil {
		t.Fatalf("show -format=json: %v", err)
	}
	var profiles []string
	for _, c := range plan.Changes {
		if c.Action != "create" {
			t.Errorf("%s: action %s, want create on an empty state", c.Address, c.Action)
		}
		if strings.HasPrefix(c.Address, "profile.talos[") {
			profiles = append(profiles, c.Address)
		}
	}
	if len(profiles) != 4 {
		t.Errorf("plan has %d profile.talos instances (%v), want 2 hardware x 2 variants", len(profiles), profiles)
	}
	for _, addr := range []string{"kernel.sovereign", "extension.hailort", "installer.sovereign"} {
		if !slices.ContainsFunc(plan.Changes, func(c planChange) bool { return c.Address == addr }) {
			t.Errorf("plan lacks %s", addr)
		}
	}

	md := sovos.Expect(0, "show", "-format=markdown", planFile)
	mark := "<!-- sovos-plan workspace=" + workspace + " dir=" + dir + " -->"
	if !strings.HasPrefix(md, mark+"\n") {
		t.Fatalf("markdown does not start with the marker the workflow expects:\n%s", md)
	}
	// The reviewer sees that cm4-standard boots the upstream installer, by digest, and
	// cm5-hailo10h the sovereign one — in the saved plan's PR comment too.
	for _, want := range []string{
		`# profile.talos["cm4-standard-hailort"] will be created`,
		"installer: ghcr.io/siderolabs/installer:v1.13.3@sha256:0d767883b78df3dc9a36abe9172a0ee0170d6680d10c92fd80a87f065243e5c6",
		"installer: ghcr.io/urmanac/installer-base:",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("the PR comment lacks %q", want)
		}
	}
	run := runSticky(t, map[string]any{
		"comments": []map[string]any{{"id": 11, "body": mark + "\nan older plan"}},
		"options":  map[string]any{"body": md, "workspace": workspace, "dir": dir, "exitcode": "2"},
	})
	if run.Error != "" || run.Result == nil || run.Result.Action != "updated" || run.Result.ID != 11 {
		t.Fatalf("sticky comment of the real plan: result %+v, error %q", run.Result, run.Error)
	}
	if len(run.Warnings) != 0 {
		t.Errorf("SOVOS_DIR/SOVOS_WORKSPACE of the workflow disagree with sovos's marker: %v", run.Warnings)
	}

	// After an apply (its state made up from the plan), the same configuration plans
	// nothing, and a new HailoRT version rebuilds the extension but never the kernel
	// nor the installer: the hour-long build is not repeated.
	// A first release's state: its profiles pushed single-tar images, so each is rebuilt
	// (published as boot media), and nothing else is (SPEC §12).
	stateFile := filepath.Join(tmp, "state.json")
	if err := os.WriteFile(stateFile, stateAfterApply(t, workspace, plan.Changes, true), 0o644); err != nil {
		t.Fatal(err)
	}
	sovos.Expect(0, "state", "push", "-state-path="+statePath, "-workspace="+workspace, stateFile)
	var first struct {
		Changes []planChange `json:"resource_changes"`
	}
	out := sovos.Expect(2, "plan", "-refresh=false", "-state-path="+statePath, "-detailed-exitcode", "-format=json")
	if err := json.Unmarshal([]byte(out), &first); err != nil {
		t.Fatalf("plan -format=json: %v\n%s", err, out)
	}
	rebuilt := 0
	for _, c := range first.Changes {
		switch {
		case c.Action == "no-op":
		case strings.HasPrefix(c.Address, "profile.talos[") && c.Action == "rebuild" && len(c.Reasons) == 1 &&
			c.Reasons[0].Kind == "artifact_format" && strings.Contains(c.Reasons[0].Message, "is a first-release single-tar image"):
			rebuilt++
		default:
			t.Errorf("first-release state: %s %s %v", c.Address, c.Action, c.Reasons)
		}
	}
	if rebuilt != 4 {
		t.Errorf("first-release state: %d profiles rebuilt as boot media, want the 4", rebuilt)
	}

	// This release's apply of the same plan (-force: it replaces the made-up first-release
	// state above, whose serial is the same).
	if err := os.WriteFile(stateFile, stateAfterApply(t, workspace, plan.Changes, false), 0o644); err != nil {
		t.Fatal(err)
	}
	sovos.Expect(0, "state", "push", "-force", "-state-path="+statePath, "-workspace="+workspace, stateFile)
	if out := sovos.Expect(0, "plan", "-refresh=false", "-state-path="+statePath, "-detailed-exitcode"); !strings.Contains(out, "No changes.") {
		t.Errorf("second plan has changes:\n%s", out)
	}
	out = sovos.Expect(2, "plan", "-refresh=false", "-state-path="+statePath, "-detailed-exitcode",
		"-format=json", "-var", "hailort_version=5.3.1")
	checkActions(t, out, "after -var hailort_version=5.3.1", map[string]string{
		"kernel.sovereign":                      "no-op",
		"installer.sovereign":                   "no-op",
		"extension.hailort":                     "rebuild",
		`profile.talos["cm5-hailo10h-hailort"]`: "rebuild",
		// The cm4 instances use none of the sovereign artifacts: the conditional's
		// other branch orders them after extension.hailort but does not rebuild them.
		`profile.talos["cm4-standard-minimal"]`: "no-op",
		`profile.talos["cm4-standard-hailort"]`: "no-op",
		`profile.talos["cm5-hailo10h-minimal"]`: "no-op",
	})

	// Planning wrote nothing into the example directory.
	for _, p := range []string{".sovos", "_out", "plan.out"} {
		if _, err := os.Stat(filepath.Join("sovereign-os", p)); err == nil {
			t.Errorf("plan left %s in examples/sovereign-os", p)
		}
	}
}
