package planner

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/zclconf/go-cty/cty"

	"github.com/urmanac/sovos/config"
	"github.com/urmanac/sovos/state"
)

// -update rewrites the golden files. Registered only if another test file of the package
// has not registered it already, so both may use it.
var _ = func() bool {
	if flag.Lookup("update") == nil {
		flag.Bool("update", false, "rewrite golden files under testdata/")
	}
	return true
}()

func updating() bool {
	f := flag.Lookup("update")
	return f != nil && f.Value.String() == "true"
}

// golden compares got with testdata/render/NAME, or rewrites it under -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", "render", name)
	if updating() {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run `go test ./planner -run %s -update` to create it)", err, t.Name())
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s (-want +got):\n%s", path, diff)
	}
}

// mixedPlan has every action: the kernel's source moved (rebuild and its closure), a new
// profile (create), an adopted one, a removed extension (forget) and, with -promote, an
// unchanged profile whose tag moves.
func mixedPlan(t *testing.T) *Plan {
	t.Helper()
	prior := applied(t, standard(planRegistry, defaultParams()), true)
	prior.Serial = 7
	prior.Resources = append(prior.Resources, &state.Resource{
		Address: `extension.old["nvidia"]`, Type: config.TypeExtension, Hash: sha("old"), Tag: sha("old")[:16],
		Image: planRegistry + "/extension-old", Digest: "sha256:" + sha("old digest"),
	})
	// cm4-standard's tag was moved elsewhere by hand: promotion moves it back.
	prior.Resource(`profile.talos["cm4-standard"]`).Tags["v1.13.3"] = "sha256:" + strings.Repeat("9", 64)

	params := defaultParams()
	params.pkgsCommit = "89ab4567" + strings.Repeat("1", 32)
	b := newCfg(planRegistry)
	b.cfg.Resources = standard(planRegistry, params).Resources
	for _, r := range b.cfg.Resources {
		b.byAddr[r.Addr.String()] = r
	}
	b.profile(`profile.talos["cm5-dev"]`, "installer.sovereign", "extension.hailort")
	b.profile("profile.rescue", "image.upstream_installer")

	p, err := Build(t.Context(), b.cfg, prior, "sha256:"+strings.Repeat("5", 64), Options{SovosVersion: "0.1.0", Promote: true})
	if err != nil {
		t.Fatal(err)
	}
	// Adoption needs a registry; the renderers only need the change.
	c := p.Change("profile.rescue")
	c.Action = ActionAdopt
	c.AdoptDigest = "sha256:" + strings.Repeat("a", 64)
	c.Reasons = []Reason{{ReasonFoundInRegistry, fmt.Sprintf("not in the state, but %s is in the registry, built from the same hash (%s): recorded without a build", c.After.Ref, AnnotationHash)}}
	c.Tags = map[string]TagChange{"v1.13.3": {After: c.AdoptDigest}}
	p.summarize()
	return p
}

func noChangePlan(t *testing.T) *Plan {
	cfg := standard(planRegistry, defaultParams())
	prior := applied(t, cfg, false)
	prior.Serial = 3
	p, err := Build(t.Context(), cfg, prior, "sha256:"+strings.Repeat("4", 64), Options{SovosVersion: "0.1.0"})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestRenderGolden(t *testing.T) {
	plans := map[string]func(*testing.T) *Plan{"mixed": mixedPlan, "nochange": noChangePlan}
	for name, mk := range plans {
		t.Run(name, func(t *testing.T) {
			p := mk(t)
			var human, color, js, md bytes.Buffer
			if err := RenderHuman(&human, p, false); err != nil {
				t.Fatal(err)
			}
			if err := RenderHuman(&color, p, true); err != nil {
				t.Fatal(err)
			}
			if err := RenderJSON(&js, p); err != nil {
				t.Fatal(err)
			}
			if err := RenderMarkdown(&md, p, "examples/sovereign"); err != nil {
				t.Fatal(err)
			}
			golden(t, name+".txt", human.Bytes())
			golden(t, name+".color.txt", color.Bytes())
			golden(t, name+".json", js.Bytes())
			golden(t, name+".md", md.Bytes())
			if strings.Contains(human.String(), "\x1b[") {
				t.Error("colour codes in the colourless rendering")
			}
		})
	}
}

func TestRenderHumanSummary(t *testing.T) {
	p := mixedPlan(t)
	var b bytes.Buffer
	if err := RenderHuman(&b, p, false); err != nil {
		t.Fatal(err)
	}
	want := "Plan: 1 to create, 1 to adopt, 4 to rebuild, 1 to promote, 1 to forget."
	if !strings.Contains(b.String(), want) {
		t.Errorf("no %q in\n%s", want, b.String())
	}
	for _, h := range []string{
		"  # kernel.sovereign will be rebuilt\n  ~ kernel.sovereign",
		`  # profile.talos["cm5-dev"] will be created` + "\n" + `  + profile.talos["cm5-dev"]`,
		"  # profile.rescue will be adopted\n  = profile.rescue",
		`  # profile.talos["cm4-standard"] will be promoted` + "\n" + `  > profile.talos["cm4-standard"]`,
		`  # extension.old["nvidia"] will be forgotten` + "\n" + `  - extension.old["nvidia"]`,
		"source.pkgs: commit 0123abcd -> 89ab4567",
	} {
		if !strings.Contains(b.String(), h) {
			t.Errorf("no %q in\n%s", h, b.String())
		}
	}
	b.Reset()
	if err := RenderHuman(&b, noChangePlan(t), false); err != nil {
		t.Fatal(err)
	}
	if b.String() != NoChanges+"\n" {
		t.Errorf("empty plan: %q", b.String())
	}
}

// The JSON document has exactly SPEC §4's fields.
func TestRenderJSONFields(t *testing.T) {
	var b bytes.Buffer
	if err := RenderJSON(&b, mixedPlan(t)); err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(b.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	keys := func(m map[string]any) string {
		var ks []string
		for k := range m {
			ks = append(ks, k)
		}
		return strings.Join(sortStrings(ks), ",")
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

func sortStrings(s []string) []string {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
	return s
}

// matrix is a configuration of n profiles over a few kernels, all to be created.
func matrix(n int) *config.Config {
	b := newCfg(planRegistry)
	b.gitSource("pkgs", strings.Repeat("1", 40))
	b.gitSource("talos", strings.Repeat("2", 40))
	kernels := 10
	for k := 0; k < kernels; k++ {
		b.build(fmt.Sprintf("kernel.k%d", k), "source.pkgs", map[string]cty.Value{"flavour": cty.NumberIntVal(int64(k))}, "", "stable")
		b.build(fmt.Sprintf("installer.i%d", k), "source.talos", nil, fmt.Sprintf("kernel.k%d", k))
	}
	for i := 0; len(b.cfg.Resources) < n; i++ {
		b.profile(fmt.Sprintf(`profile.board["board-%05d"]`, i), fmt.Sprintf("installer.i%d", i%kernels))
	}
	return b.cfg
}

func TestMarkdownOfLargeMatrixStaysUnderLimit(t *testing.T) {
	cfg := matrix(3000)
	p := mustPlan(t, cfg, nil, Options{})
	var b bytes.Buffer
	if err := RenderMarkdown(&b, p, "."); err != nil {
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
	t.Logf("markdown of %d changes: %d characters", len(p.Changes), len(md))
}
