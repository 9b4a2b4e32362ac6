package views

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/urmanac/sovos/bootmedia"
	"github.com/urmanac/sovos/config"
	"github.com/urmanac/sovos/hashing"
	"github.com/urmanac/sovos/internal/testenv"
	"github.com/urmanac/sovos/planner"
	"github.com/urmanac/sovos/state"
)

// The plans rendered here are planned for real: testdata/factory evaluated with the
// hasher, against a state recorded as an apply of it would record it.

const stateDigest = "sha256:5555555555555555555555555555555555555555555555555555555555555555"

// load evaluates testdata/factory with the given -var values.
func load(t testing.TB, vars ...string) *config.Config {
	t.Helper()
	cfg, diags := config.Load(context.Background(), filepath.Join("testdata", "factory"), config.EvalOptions{
		Vars: vars, Hooks: hashing.NewHasher(hashing.HasherOptions{CacheDir: t.TempDir()})})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	return cfg
}

func digestOf(s string) string {
	sum := sha256.Sum256([]byte(s))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// applied is the state an apply of cfg records, stable tags promoted.
func applied(t testing.TB, cfg *config.Config) *state.State {
	t.Helper()
	s := &state.State{Version: state.Version, Lineage: "0b7e0b6c-7a55-4c2d-9a7e-2f1d6a4c9e10", Serial: 7,
		SovosVersion: "0.1.0", Workspace: "main"}
	digests := map[string]string{}
	for _, r := range cfg.Resources {
		in, err := planner.RecordedInputs(r)
		if err != nil {
			t.Fatal(err)
		}
		rec := &state.Resource{Address: r.Addr.String(), Type: r.Addr.Type, Hash: r.Hash, Tag: r.Tag, Inputs: in}
		var image string
		var tags []string
		switch {
		case r.Image != nil:
			rec.Hash, rec.Image, rec.Digest = hashing.ImageHash(r.Image.Digest), r.Image.Ref, r.Image.Digest
		case r.Build != nil:
			image, tags = r.Build.Image, r.Build.Tags
			for _, st := range r.Build.Stages {
				if rec.Stages == nil {
					rec.Stages = map[string]*state.Stage{}
				}
				rec.Stages[st.Target] = &state.Stage{Image: st.Image, Digest: digestOf(st.Target + r.Hash)}
			}
		case r.Profile != nil:
			image, tags = r.Profile.Image, r.Profile.Tags
			rec.ArtifactType = bootmedia.ArtifactTypeOf(r.Profile)
		}
		if image != "" {
			rec.Image, rec.Digest = image, digestOf(r.Hash)
			rec.BuiltFrom = map[string]string{}
			for _, d := range r.Consumes {
				if dg := digests[d.String()]; dg != "" {
					rec.BuiltFrom[d.String()] = dg
				}
			}
			for _, tag := range tags {
				if rec.Tags == nil {
					rec.Tags = map[string]string{}
				}
				rec.Tags[tag] = rec.Digest
			}
		}
		digests[rec.Address] = rec.Digest
		s.Resources = append(s.Resources, rec)
	}
	return s
}

// mixedPlan has every action: the kernel's source moved (rebuild and its closure), a new
// board (create), an adopted profile, a removed extension (forget) and, with -promote,
// an unchanged profile whose tag was moved by hand.
func mixedPlan(t testing.TB) *planner.Plan {
	t.Helper()
	prior := applied(t, load(t))
	prior.Resources = append(prior.Resources, &state.Resource{
		Address: `extension.old["nvidia"]`, Type: config.TypeExtension, Hash: strings.Repeat("0", 64), Tag: strings.Repeat("0", 16),
		Image: "registry.example.com/urmanac/extension-old", Digest: digestOf("old"),
	})
	prior.Resource("profile.cm4-standard").Tags["v1.13.3"] = "sha256:" + strings.Repeat("9", 64)

	cfg := load(t, "pkgs_commit=89ab4567"+strings.Repeat("1", 32), `boards=["cm5-hailo10h","cm5-dev"]`, "rescue=true")
	p, err := planner.MakePlan(context.Background(), cfg, prior, stateDigest, planner.Options{Promote: true})
	if err != nil {
		t.Fatal(err)
	}
	// Adoption needs a registry; the views only need the change.
	c := p.Change("profile.rescue[0]")
	c.Action, c.AdoptDigest = planner.ActionAdopt, "sha256:"+strings.Repeat("a", 64)
	c.Reasons = []planner.Reason{{Kind: planner.ReasonFoundInRegistry, Message: fmt.Sprintf("not in the state, but %s is in the registry, built from the same hash (%s): recorded without a build", c.After.Ref, planner.AnnotationHash)}}
	c.Tags = map[string]planner.TagChange{"v1.13.3": {After: c.AdoptDigest}}
	p.Summary.Create--
	p.Summary.Adopt++
	return p
}

func noChangePlan(t testing.TB) *planner.Plan {
	t.Helper()
	cfg := load(t)
	p, err := planner.MakePlan(context.Background(), cfg, applied(t, cfg), stateDigest, planner.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// targetPlan is limited by -target, which the views note.
func targetPlan(t testing.TB) *planner.Plan {
	t.Helper()
	cfg := load(t, "pkgs_commit=89ab4567"+strings.Repeat("1", 32))
	p, err := planner.MakePlan(context.Background(), cfg, applied(t, load(t)), stateDigest,
		planner.Options{Targets: []string{"extension.hailort"}})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestPlanGolden renders each plan in every format; -update rewrites the golden files.
func TestPlanGolden(t *testing.T) {
	plans := map[string]func(testing.TB) *planner.Plan{"mixed": mixedPlan, "nochange": noChangePlan, "target": targetPlan}
	for name, mk := range plans {
		t.Run(name, func(t *testing.T) {
			p := mk(t)
			var human, color, js, md bytes.Buffer
			if err := PlanHuman(&human, p, false); err != nil {
				t.Fatal(err)
			}
			if err := PlanHuman(&color, p, true); err != nil {
				t.Fatal(err)
			}
			if err := PlanJSON(&js, p); err != nil {
				t.Fatal(err)
			}
			if err := PlanMarkdown(&md, p, "examples/sovereign"); err != nil {
				t.Fatal(err)
			}
			dir := filepath.Join("testdata", "plan")
			testenv.Golden(t, filepath.Join(dir, name+".txt"), human.Bytes())
			testenv.Golden(t, filepath.Join(dir, name+".color.txt"), color.Bytes())
			testenv.Golden(t, filepath.Join(dir, name+".json"), js.Bytes())
			testenv.Golden(t, filepath.Join(dir, name+".md"), md.Bytes())
			if strings.Contains(human.String(), "\x1b[") {
				t.Error("colour codes in the colourless rendering")
			}
		})
	}
}

func TestPlanHumanSummary(t *testing.T) {
	var b bytes.Buffer
	if err := PlanHuman(&b, mixedPlan(t), false); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"Plan: 1 to create, 1 to adopt, 4 to rebuild, 1 to promote, 1 to forget.",
		"  # kernel.sovereign will be rebuilt\n  ~ kernel.sovereign (on builder.arm64)",
		`  # profile.talos["cm5-dev"] will be created` + "\n" + `  + profile.talos["cm5-dev"]`,
		"  # profile.rescue[0] will be adopted\n  = profile.rescue[0]",
		"  # profile.cm4-standard will be promoted\n  > profile.cm4-standard",
		"      because:   tag v1.13.3: sha256:999999999999 -> sha256:",
		`  # extension.old["nvidia"] will be forgotten` + "\n" + `  - extension.old["nvidia"]`,
		"source.pkgs: commit 0123abcd -> 89ab4567",
		"      tag:       5.3.0: sha256:",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("no %q in\n%s", want, b.String())
		}
	}
	b.Reset()
	if err := PlanHuman(&b, noChangePlan(t), false); err != nil {
		t.Fatal(err)
	}
	if b.String() != NoChanges+"\n" {
		t.Errorf("empty plan: %q", b.String())
	}
}

// The tag line of a rebuild and the reason of a promotion read the same: one wording.
func TestTagMoveWordedOnce(t *testing.T) {
	p := mixedPlan(t)
	var b bytes.Buffer
	if err := PlanHuman(&b, p, false); err != nil {
		t.Fatal(err)
	}
	promoted := p.Change("profile.cm4-standard")
	if len(promoted.Reasons) != 1 || promoted.Reasons[0].Message != "tag "+promoted.Tags["v1.13.3"].Text("v1.13.3") {
		t.Errorf("promotion reason %v", promoted.Reasons)
	}
	k := p.Change("kernel.sovereign").Tags["5.3.0"]
	if want := "      tag:       " + k.Text("5.3.0") + "\n"; !strings.Contains(b.String(), want) {
		t.Errorf("no %q in\n%s", want, b.String())
	}
}

// The JSON document has exactly SPEC §4's fields.
func TestPlanJSONFields(t *testing.T) {
	var b bytes.Buffer
	if err := PlanJSON(&b, mixedPlan(t)); err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(b.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	keys := func(m map[string]any) string {
		return strings.Join(slices.Sorted(maps.Keys(m)), ",")
	}
	if got := keys(doc); got != "applyable,format_version,resource_changes,sovos_version,state,summary,workspace" {
		t.Errorf("top level: %s", got)
	}
	if got := keys(doc["state"].(map[string]any)); got != "digest,lineage,serial" {
		t.Errorf("state: %s", got)
	}
	if got := keys(doc["summary"].(map[string]any)); got != "adopt,create,forget,no_op,promote,rebuild" {
		t.Errorf("summary: %s", got)
	}
	for _, rc := range doc["resource_changes"].([]any) {
		m := rc.(map[string]any)
		if got := keys(m); got != "action,address,after,before,builder,depends_on,index,name,reasons,tags,type" {
			t.Errorf("%s: %s", m["address"], got)
		}
		if m["address"] == "kernel.sovereign" {
			if got := keys(m["before"].(map[string]any)); got != "digest,hash,ref,tag" {
				t.Errorf("before: %s", got)
			}
			if got := keys(m["after"].(map[string]any)); got != "hash,ref,tag" {
				t.Errorf("after: %s", got)
			}
			if m["builder"] != "builder.arm64" || m["index"] != nil {
				t.Errorf("builder %v index %v", m["builder"], m["index"])
			}
		}
	}
}

// bigPlan is n profiles to create; the views only read the changes.
func bigPlan(n int) *planner.Plan {
	p := &planner.Plan{Workspace: "main", SovosVersion: "0.1.0", FormatVersion: planner.FormatVersion}
	for i := range n {
		addr := fmt.Sprintf(`profile.board["board-%05d"]`, i)
		tag := fmt.Sprintf("%016x", i)
		p.Changes = append(p.Changes, &planner.ResourceChange{
			Address: addr, Type: config.TypeProfile, Name: "board", Index: fmt.Sprintf("board-%05d", i),
			Action:  planner.ActionCreate,
			Reasons: []planner.Reason{{Kind: planner.ReasonNotInState, Message: "not in the state"}},
			After:   &planner.Snapshot{Hash: tag + tag + tag + tag, Tag: tag, Ref: "registry.example.com/urmanac/board:" + tag},
			Boots:   &planner.ProfileImages{Installer: "registry.example.com/urmanac/installer-base:" + tag},
		})
	}
	p.Summary.Create, p.Applyable = n, n > 0
	return p
}

func TestMarkdownOfLargeMatrixStaysUnderLimit(t *testing.T) {
	p := bigPlan(3000)
	var b bytes.Buffer
	if err := PlanMarkdown(&b, p, "."); err != nil {
		t.Fatal(err)
	}
	md := b.String()
	if n := len([]rune(md)); n >= MarkdownLimit {
		t.Errorf("markdown is %d characters, want < %d", n, MarkdownLimit)
	}
	for _, want := range []string{
		"<!-- sovos-plan workspace=main dir=. -->\n",
		"more changed resources not listed in this table.",
		"more resources not shown; run `sovos show PLANFILE`",
		"</details>\n",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q", want)
		}
	}
	if !strings.HasPrefix(md, "<!-- sovos-plan ") {
		t.Error("marker is not the first line")
	}
}

func BenchmarkPlanMarkdown10000(b *testing.B) {
	p := bigPlan(10000)
	for b.Loop() {
		_ = markdown(p, ".", MarkdownLimit)
	}
}

// An instance key is user input: a backtick in it must not end the table's code span
// (and swallow the rest of the row), a '|' not split the row, and a directory with a
// space or "-->" must stay one field of the marker.
func TestMarkdownEscapesUserInput(t *testing.T) {
	p := &planner.Plan{Workspace: "main", SovosVersion: "0.1.0", FormatVersion: planner.FormatVersion}
	for _, key := range []string{"a`b", "``x|y<z>"} {
		addr := fmt.Sprintf("profile.board[%q]", key)
		p.Changes = append(p.Changes, &planner.ResourceChange{
			Address: addr, Type: config.TypeProfile, Name: "board", Index: key, Action: planner.ActionCreate,
			Reasons: []planner.Reason{{Kind: planner.ReasonNotInState, Message: "not in the state (" + addr + ")"}},
			After:   &planner.Snapshot{Hash: strings.Repeat("ab", 32), Tag: "abababababababab", Ref: "r.example/b:abababababababab"},
		})
	}
	p.Summary.Create, p.Applyable = 2, true
	var b bytes.Buffer
	if err := PlanMarkdown(&b, p, "configs/my factory-->x"); err != nil {
		t.Fatal(err)
	}
	md := b.String()
	for _, want := range []string{
		"<!-- sovos-plan workspace=main dir=configs/my%20factory--%3Ex -->\n",
		"| + create | ``profile.board[\"a`b\"]`` | not in the state (profile.board[\"a\\`b\"]) |\n",
		"| + create | ```profile.board[\"``x\\|y<z>\"]``` | not in the state (profile.board[\"\\`\\`x\\|y&lt;z>\"]) |\n",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
}
