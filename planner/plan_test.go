package planner

import (
	"context"
	"encoding/json"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/zclconf/go-cty/cty"

	"github.com/urmanac/sovos/config"
	"github.com/urmanac/sovos/state"
)

const planRegistry = "registry.example.com/urmanac"

func mustPlan(t testing.TB, cfg *config.Config, prior *state.State, opts Options) *Plan {
	t.Helper()
	p, err := MakePlan(context.Background(), cfg, prior, "sha256:statedigest", opts)
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	return p
}

// actions maps each changed address to "action: reason; reason".
func actions(p *Plan) map[string]string {
	out := map[string]string{}
	for _, c := range p.Changes {
		var rs []string
		for _, r := range c.Reasons {
			rs = append(rs, r.Message)
		}
		out[c.Address] = string(c.Action) + ": " + strings.Join(rs, "; ")
	}
	return out
}

func actionOnly(p *Plan) map[string]Action {
	out := map[string]Action{}
	for _, c := range p.Changes {
		out[c.Address] = c.Action
	}
	return out
}

func TestFirstPlanCreatesEverything(t *testing.T) {
	cfg := standard(planRegistry, defaultParams())
	p := mustPlan(t, cfg, nil, Options{})
	if len(p.Changes) != 5 || len(p.Data) != 4 {
		t.Fatalf("got %d changes and %d data, want 5 and 4", len(p.Changes), len(p.Data))
	}
	for _, c := range p.Changes {
		if c.Action != ActionCreate || len(c.Reasons) != 1 || c.Reasons[0].Kind != ReasonNotInState {
			t.Errorf("%s: %s %v, want create because not in the state", c.Address, c.Action, c.Reasons)
		}
	}
	if want := (Summary{Create: 5}); p.Summary != want || !p.Applyable || !p.HasChanges() {
		t.Errorf("summary %+v applyable %v, want %+v and applyable", p.Summary, p.Applyable, want)
	}
	if p.Workspace != "main" {
		t.Errorf("workspace %q, want main", p.Workspace)
	}
}

func TestAppliedStateHasNoChanges(t *testing.T) {
	cfg := standard(planRegistry, defaultParams())
	p := mustPlan(t, cfg, applied(t, cfg, false), Options{})
	if p.HasChanges() {
		t.Fatalf("plan has changes: %v", actions(p))
	}
	if p.Summary.NoOp != 5 || p.Applyable {
		t.Errorf("summary %+v applyable %v", p.Summary, p.Applyable)
	}
	if p.State.Serial != 1 || p.State.Digest != "sha256:statedigest" || p.State.Lineage == "" {
		t.Errorf("state ref %+v", p.State)
	}
}

func TestChangesAndTheirReasons(t *testing.T) {
	base := defaultParams()
	tests := []struct {
		name   string
		change func(*standardParams)
		want   map[string]string // address → "action: reasons"; the rest no-op
	}{
		{
			name:   "attribute",
			change: func(p *standardParams) { p.kernelVersion = "6.12.41" },
			want: map[string]string{
				"kernel.sovereign":              `rebuild: args["KERNEL_VERSION"]: "6.12.40" -> "6.12.41"`,
				"extension.hailort":             "rebuild: dependency kernel.sovereign will be rebuilt",
				"installer.sovereign":           "rebuild: dependency kernel.sovereign will be rebuilt",
				`profile.talos["cm5-hailo10h"]`: "rebuild: dependency installer.sovereign will be rebuilt; dependency extension.hailort will be rebuilt",
				`profile.talos["cm4-standard"]`: "no-op: ",
			},
		},
		{
			name:   "git source",
			change: func(p *standardParams) { p.pkgsCommit = "89ab4567" + strings.Repeat("1", 32) },
			want: map[string]string{
				"kernel.sovereign":              "rebuild: source.pkgs: commit 0123abcd -> 89ab4567",
				"extension.hailort":             "rebuild: dependency kernel.sovereign will be rebuilt",
				"installer.sovereign":           "rebuild: dependency kernel.sovereign will be rebuilt",
				`profile.talos["cm5-hailo10h"]`: "rebuild: dependency installer.sovereign will be rebuilt; dependency extension.hailort will be rebuilt",
				`profile.talos["cm4-standard"]`: "no-op: ",
			},
		},
		{
			name:   "path source",
			change: func(p *standardParams) { p.extContent = "hailort v5.1" },
			want: map[string]string{
				"kernel.sovereign":              "no-op: ",
				"extension.hailort":             "rebuild: source.ext: content changed (" + sha("hailort v5.0")[:8] + " -> " + sha("hailort v5.1")[:8] + ")",
				"installer.sovereign":           "no-op: ",
				`profile.talos["cm5-hailo10h"]`: "rebuild: dependency extension.hailort will be rebuilt",
				`profile.talos["cm4-standard"]`: "no-op: ",
			},
		},
		{
			name:   "upstream image",
			change: func(p *standardParams) { p.baseDigest = "sha256:" + strings.Repeat("c", 64) },
			want: map[string]string{
				"kernel.sovereign":              "no-op: ",
				"extension.hailort":             "no-op: ",
				"installer.sovereign":           "no-op: ",
				`profile.talos["cm5-hailo10h"]`: "no-op: ",
				`profile.talos["cm4-standard"]`: "rebuild: image.upstream_installer: ghcr.io/siderolabs/upstream_installer:v1 now points to sha256:cccccccccccc (was sha256:bbbbbbbbbbbb)",
			},
		},
		{
			name:   "sensitive value",
			change: func(p *standardParams) { p.secret = cty.StringVal("hunter3").Mark(config.MarkSensitive) },
			want: map[string]string{
				"kernel.sovereign":              "rebuild: a sensitive value changed", // prefix: the value is never shown
				"extension.hailort":             "rebuild: dependency kernel.sovereign will be rebuilt",
				"installer.sovereign":           "rebuild: dependency kernel.sovereign will be rebuilt",
				`profile.talos["cm5-hailo10h"]`: "rebuild: dependency installer.sovereign will be rebuilt; dependency extension.hailort will be rebuilt",
				`profile.talos["cm4-standard"]`: "no-op: ",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			prior := applied(t, standard(planRegistry, base), false)
			params := base
			tt.change(&params)
			got := actions(mustPlan(t, standard(planRegistry, params), prior, Options{}))
			for a, w := range tt.want {
				if strings.HasSuffix(w, "sensitive value changed") {
					if !strings.HasPrefix(got[a], w) || strings.Contains(got[a], "hunter") {
						t.Errorf("%s: %q, want prefix %q and no secret", a, got[a], w)
					}
					got[a] = w
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("plan (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRecordedInputsRedactsSensitiveValues(t *testing.T) {
	r := &config.Resource{
		Addr: addr("kernel.k"),
		HashedAttrs: map[string]cty.Value{
			"token": cty.StringVal("hunter2").Mark(config.MarkSensitive),
			"args": cty.MapVal(map[string]cty.Value{
				"A": cty.StringVal("1"),
				"B": cty.StringVal("s3cret").Mark(config.MarkSensitive),
			}),
			"n":    cty.NumberIntVal(3),
			"list": cty.ListVal([]cty.Value{cty.True}),
		},
	}
	got, err := RecordedInputs(r)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"token": `"(sensitive value)"`,
		"args":  `{"A":"1","B":"(sensitive value)"}`,
		"n":     `3`,
		"list":  `[true]`,
	}
	for k, w := range want {
		if string(got[k]) != w {
			t.Errorf("%s = %s, want %s", k, got[k], w)
		}
	}
}

// The plan carries what the executor records, computed when planning: the inputs of
// every resource (redacted), and an image's digest with the hex hash the state keeps.
func TestPlanCarriesRecordedInputs(t *testing.T) {
	cfg := standard(planRegistry, defaultParams())
	p := mustPlan(t, cfg, nil, Options{})
	for _, c := range append(append([]*ResourceChange(nil), p.Changes...), p.Data...) {
		want, err := RecordedInputs(c.Resource)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(c.Inputs, want) {
			t.Errorf("%s: inputs %v, want %v", c.Address, c.Inputs, want)
		}
	}
	if got := string(p.Change("kernel.sovereign").Inputs["key"]); got != strconv.Quote(Redacted) {
		t.Errorf("kernel key recorded as %s", got)
	}
	img := p.Data[len(p.Data)-1]
	d := defaultParams().baseDigest
	if img.Address != "image.upstream_installer" || img.After.Digest != d || img.After.Hash != strings.TrimPrefix(d, "sha256:") {
		t.Errorf("image data: %s %+v", img.Address, img.After)
	}
}

func TestUpstreamDigestMoved(t *testing.T) {
	cfg := standard(planRegistry, defaultParams())
	prior := applied(t, cfg, false)
	// The kernel was rebuilt under the same hash (a new signing key): its digest moved,
	// so what was built on it must follow.
	prior.Resource("kernel.sovereign").Digest = "sha256:" + strings.Repeat("e", 64)
	got := actions(mustPlan(t, cfg, prior, Options{}))
	for _, a := range []string{"extension.hailort", "installer.sovereign"} {
		if !strings.HasPrefix(got[a], "rebuild: kernel.sovereign: built from sha256:") {
			t.Errorf("%s: %q, want a rebuild for the moved kernel digest", a, got[a])
		}
	}
	if got["kernel.sovereign"] != "no-op: " {
		t.Errorf("kernel: %q", got["kernel.sovereign"])
	}
}

func TestForget(t *testing.T) {
	full := standard(planRegistry, defaultParams())
	prior := applied(t, full, false)
	cfg := standard(planRegistry, defaultParams())
	cfg.Resources = cfg.Resources[:len(cfg.Resources)-1] // drop cm4-standard
	p := mustPlan(t, cfg, prior, Options{})
	c := p.Changes[len(p.Changes)-1]
	if c.Address != `profile.talos["cm4-standard"]` || c.Action != ActionForget || c.Index != "cm4-standard" || c.Resource != nil || c.Prior == nil {
		t.Errorf("last change %+v, want forget of cm4-standard", c)
	}
	if p.Summary != (Summary{Forget: 1, NoOp: 4}) {
		t.Errorf("summary %+v", p.Summary)
	}
}

func TestPromote(t *testing.T) {
	cfg := standard(planRegistry, defaultParams())
	prior := applied(t, cfg, false)
	p := mustPlan(t, cfg, prior, Options{Promote: true})
	want := map[string]Action{
		"kernel.sovereign":              ActionPromote,
		"extension.hailort":             ActionPromote,
		"installer.sovereign":           ActionNoop, // no stable tags
		`profile.talos["cm5-hailo10h"]`: ActionPromote,
		`profile.talos["cm4-standard"]`: ActionPromote,
	}
	if diff := cmp.Diff(want, actionOnly(p)); diff != "" {
		t.Errorf("actions (-want +got):\n%s", diff)
	}
	k := p.Change("kernel.sovereign")
	d := prior.Resource("kernel.sovereign").Digest
	if got := k.Tags["5.3.0"]; got != (TagChange{Before: "", After: d}) {
		t.Errorf("kernel tag 5.3.0: %+v", got)
	}
	if !p.Promote || p.Summary.Promote != 4 {
		t.Errorf("promote %v summary %+v", p.Promote, p.Summary)
	}
	// Once promoted, nothing moves.
	p = mustPlan(t, cfg, applied(t, cfg, true), Options{Promote: true})
	if p.HasChanges() {
		t.Errorf("promoted state still has changes: %v", actions(p))
	}
	// A rebuild under -promote moves its tags to the new build.
	params := defaultParams()
	params.kernelVersion = "7"
	p = mustPlan(t, standard(planRegistry, params), applied(t, cfg, true), Options{Promote: true})
	if got := p.Change("kernel.sovereign").Tags["5.3.0"]; got.After != NewBuild || got.Before != d {
		t.Errorf("rebuilt kernel tag: %+v", got)
	}
}

// After `sovos rollback`, a promoting plan shows the tags it would move forward again,
// with that reason; a plan that does not promote changes nothing.
func TestPromoteAfterRollback(t *testing.T) {
	cfg := standard(planRegistry, defaultParams())
	prior := applied(t, cfg, true)
	k := prior.Resource("kernel.sovereign")
	old := "sha256:" + strings.Repeat("e", 64)
	k.Tags["5.3.0"] = old
	k.RolledBack = &state.Rollback{To: 3, At: 9}
	if p := mustPlan(t, cfg, prior, Options{}); p.HasChanges() {
		t.Errorf("a plan without -promote after a rollback: %v", actions(p))
	}
	p := mustPlan(t, cfg, prior, Options{Promote: true})
	c := p.Change("kernel.sovereign")
	if c.Action != ActionPromote || len(c.Reasons) != 1 || c.Reasons[0].Kind != ReasonRolledBack {
		t.Fatalf("kernel after a rollback: %s %+v", c.Action, c.Reasons)
	}
	want := "tag 5.3.0: " + ShortDigest(old) + " -> " + ShortDigest(k.Digest) + ": rolled back to serial 3 by `sovos rollback` (serial 9); promoting moves it forward again"
	if c.Reasons[0].Message != want {
		t.Errorf("reason %q\n      want %q", c.Reasons[0].Message, want)
	}
	if p.Summary.Promote != 1 {
		t.Errorf("summary %+v", p.Summary)
	}
}

func TestTarget(t *testing.T) {
	cfg := standard(planRegistry, defaultParams())
	p := mustPlan(t, cfg, nil, Options{Targets: []string{"extension.hailort"}})
	want := map[string]Action{"kernel.sovereign": ActionCreate, "extension.hailort": ActionCreate}
	if diff := cmp.Diff(want, actionOnly(p)); diff != "" {
		t.Errorf("actions (-want +got):\n%s", diff)
	}
	// A base address targets every instance.
	p = mustPlan(t, cfg, nil, Options{Targets: []string{"profile.talos"}})
	if len(p.Changes) != 5 {
		t.Errorf("profile.talos: %d changes, want 5", len(p.Changes))
	}
	p = mustPlan(t, cfg, nil, Options{Targets: []string{`profile.talos["cm4-standard"]`}})
	if diff := cmp.Diff(map[string]Action{`profile.talos["cm4-standard"]`: ActionCreate}, actionOnly(p)); diff != "" {
		t.Errorf("cm4 target (-want +got):\n%s", diff)
	}
	if _, err := MakePlan(context.Background(), cfg, nil, "", Options{Targets: []string{"kernel.nope"}}); err == nil || !strings.Contains(err.Error(), "-target=kernel.nope") {
		t.Errorf("unknown target: %v", err)
	}
}

func TestReplace(t *testing.T) {
	cfg := standard(planRegistry, defaultParams())
	p := mustPlan(t, cfg, applied(t, cfg, false), Options{Replace: []string{"installer.sovereign"}})
	want := map[string]string{
		"kernel.sovereign":              "no-op: ",
		"extension.hailort":             "no-op: ",
		"installer.sovereign":           "rebuild: replacement requested with -replace=installer.sovereign",
		`profile.talos["cm5-hailo10h"]`: "rebuild: dependency installer.sovereign will be rebuilt",
		`profile.talos["cm4-standard"]`: "no-op: ",
	}
	if diff := cmp.Diff(want, actions(p)); diff != "" {
		t.Errorf("plan (-want +got):\n%s", diff)
	}
	if _, err := MakePlan(context.Background(), cfg, nil, "", Options{Replace: []string{"kernel"}}); err == nil {
		t.Error("-replace=kernel: no error")
	}
	// A source builds nothing: replacing it would change nothing, silently.
	_, err := MakePlan(context.Background(), cfg, nil, "", Options{Replace: []string{"source.pkgs"}})
	if want := "-replace=source.pkgs: a source is read, not built, so there is nothing to replace; name the resources built from it instead (here: -replace=kernel.sovereign)"; err == nil || err.Error() != want {
		t.Errorf("-replace=source.pkgs: %v\nwant %s", err, want)
	}
}

func TestUnhashedConfigIsAnError(t *testing.T) {
	cfg := standard(planRegistry, defaultParams())
	cfg.Resource("kernel.sovereign").Hash = ""
	_, err := MakePlan(context.Background(), cfg, nil, "", Options{})
	if err == nil || !strings.Contains(err.Error(), "kernel.sovereign") {
		t.Errorf("err = %v, want one naming kernel.sovereign", err)
	}
}

// An extension whose recorded build failed verification is not a no-op: the plan says
// why, and apply builds and checks it again.
func TestFailedVerificationIsShown(t *testing.T) {
	cfg := standard(planRegistry, defaultParams())
	prior := applied(t, cfg, false)
	ext := prior.Resource("extension.hailort")
	ext.Verified = &state.Verification{Digest: ext.Digest, Kernel: "kernel.sovereign", OK: false,
		Modules: []state.ModuleVerdict{{Path: "/lib/modules/good.ko", Verdict: "ok"}, {Path: "/lib/modules/hailo1x_pci.ko", Verdict: "foreign_key"}}}
	got := actions(mustPlan(t, cfg, prior, Options{}))
	want := "rebuild: its build " + ShortDigest(ext.Digest) + " failed verification against kernel.sovereign's signing key (/lib/modules/hailo1x_pci.ko: foreign_key); it is built and checked again"
	if got["extension.hailort"] != want {
		t.Errorf("extension.hailort: %q\nwant %q", got["extension.hailort"], want)
	}
	// A verification that passed, or that was for another digest, changes nothing.
	ext.Verified.OK = true
	if p := mustPlan(t, cfg, prior, Options{}); p.HasChanges() {
		t.Errorf("a passed verification gives changes: %v", actions(p))
	}
}

// Recorded inputs are written without going through encoding/json's reflection, but
// byte for byte as json.Marshal writes the same plain values: the state keeps them, and
// a plan compares them byte for byte first.
func TestRecordedInputsAsJSONMarshal(t *testing.T) {
	strs := []string{"", "plain", "registry.example/ext-b1", `q"uote`, `back\slash`, "<a&b>", "tab\there", "nl\n",
		"\x00\x01\x1f\x7f", "é ü 日本", "line\u2028sep\u2029", "bad\xffutf8", strings.Repeat("x", 300)}
	var elems []cty.Value
	for _, s := range strs {
		elems = append(elems, cty.StringVal(s))
		r := &config.Resource{Addr: addr("kernel.k"), HashedAttrs: map[string]cty.Value{"s": cty.StringVal(s)}}
		got, err := RecordedInputs(r)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := json.Marshal(s)
		if string(got["s"]) != string(want) {
			t.Errorf("%q recorded as %s, json.Marshal writes %s", s, got["s"], want)
		}
	}
	obj := cty.ObjectVal(map[string]cty.Value{
		"b": cty.ListVal(elems), "a": cty.NumberFloatVal(1.5), "Z": cty.NumberIntVal(1 << 40), "<k>": cty.False,
		"n": cty.NullVal(cty.String), "u": cty.UnknownVal(cty.String), "t": cty.TupleVal([]cty.Value{cty.True, cty.EmptyObjectVal}),
		"m": cty.MapVal(map[string]cty.Value{"y": cty.StringVal("2"), "x": cty.StringVal("1").Mark(config.MarkSensitive)}),
		"e": cty.ListValEmpty(cty.String), "small": cty.NumberFloatVal(1.5e-7),
	})
	r := &config.Resource{Addr: addr("kernel.k"), HashedAttrs: map[string]cty.Value{"o": obj}}
	got, err := RecordedInputs(r)
	if err != nil {
		t.Fatal(err)
	}
	plain := map[string]any{"b": strs, "a": json.Number("1.5"), "Z": json.Number("1099511627776"), "<k>": false,
		"n": nil, "u": unknownValue, "t": []any{true, map[string]any{}},
		"m": map[string]any{"y": "2", "x": Redacted}, "e": []string{}, "small": json.Number("1.5e-07")}
	want, _ := json.Marshal(plain)
	if string(got["o"]) != string(want) {
		t.Errorf("recorded\n%s\njson.Marshal writes\n%s", got["o"], want)
	}
	if _, err := RecordedInputs(&config.Resource{Addr: addr("kernel.k"), HashedAttrs: map[string]cty.Value{"inf": cty.PositiveInfinity}}); err == nil {
		t.Error("infinity recorded; JSON has no such number")
	}
}
