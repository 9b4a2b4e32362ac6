package views

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/urmanac/sovos/internal/testenv"
	"github.com/urmanac/sovos/state"
)

// recorded is the state of an apply of testdata/factory, with what an apply adds besides
// the builds: times, a certificate, a verification and outputs.
func recorded(t *testing.T) *state.State {
	t.Helper()
	s := applied(t, load(t))
	at := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
	k := s.Resource("kernel.sovereign")
	k.BuiltAt, k.SigningCert = at, []byte("0\x82\x01\x0a certificate bytes, DER in real life")
	k.RolledBack = &state.Rollback{To: 3, At: 7}
	e := s.Resource("extension.hailort")
	e.BuiltAt = at.Add(time.Minute)
	e.Attestations = map[string]string{
		"https://github.com/urmanac/sovos/attestation/module-signatures/v1": "sha256:" + strings.Repeat("a", 64),
		"https://sigstore.dev/cosign/sign/v1":                               "sha256:" + strings.Repeat("b", 64),
	}
	e.Verified = &state.Verification{Digest: e.Digest, Kernel: "kernel.sovereign", OK: false, At: at,
		Modules: []state.ModuleVerdict{{Path: "/rootfs/usr/lib/modules/hailo.ko", Verdict: "ok"},
			{Path: "/rootfs/usr/lib/modules/evil.ko", Verdict: "foreign_key", Detail: "signed by CN=someone else"}}}
	s.Outputs = map[string]*state.Output{
		"kernel_ref": {Value: json.RawMessage(`"registry.example.com/urmanac/kernel@` + k.Digest + `"`)},
		"boards":     {Value: json.RawMessage(`["cm5-hailo10h", "cm4-standard"]`)},
		"token":      {Value: json.RawMessage(`"hunter2"`), Sensitive: true},
	}
	return s
}

func TestStateGolden(t *testing.T) {
	s := recorded(t)
	const where = "registry registry.example.com/urmanac/state:main"
	for name, render := range map[string]func(*bytes.Buffer, *state.State) error{
		"state.txt":  func(b *bytes.Buffer, s *state.State) error { return StateHuman(b, s, where) },
		"state.json": func(b *bytes.Buffer, s *state.State) error { return StateJSON(b, s) },
		"state.md":   func(b *bytes.Buffer, s *state.State) error { return StateMarkdown(b, s, where) },
	} {
		t.Run(name, func(t *testing.T) {
			var b, none bytes.Buffer
			if err := render(&b, s); err != nil {
				t.Fatal(err)
			}
			testenv.Golden(t, filepath.Join("testdata", "state", name), b.Bytes())
			if strings.Contains(b.String(), "hunter2") && name != "state.json" {
				t.Error("a sensitive output is shown")
			}
			if err := render(&none, nil); err != nil {
				t.Fatal(err)
			}
			testenv.Golden(t, filepath.Join("testdata", "state", "none."+name), none.Bytes())
		})
	}
	var b bytes.Buffer
	StateResource(&b, s.Resource("kernel.sovereign"))
	StateResource(&b, s.Resource("extension.hailort"))
	StateResource(&b, s.Resource("image.upstream_installer"))
	testenv.Golden(t, filepath.Join("testdata", "state", "resources.txt"), b.Bytes())
}

func TestOutputsGolden(t *testing.T) {
	outputs := recorded(t).Outputs
	var lines, js, one, list bytes.Buffer
	if err := Outputs(&lines, outputs); err != nil {
		t.Fatal(err)
	}
	testenv.Golden(t, filepath.Join("testdata", "state", "outputs.txt"), lines.Bytes())
	if err := OutputsJSON(&js, outputs); err != nil {
		t.Fatal(err)
	}
	testenv.Golden(t, filepath.Join("testdata", "state", "outputs.json"), js.Bytes())
	if strings.Contains(lines.String(), "hunter2") {
		t.Error("a sensitive output is shown")
	}

	// One output: a string raw, for scripts; anything else indented; -json as recorded.
	if err := Output(&one, outputs["kernel_ref"], false); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(one.String(), "registry.example.com/urmanac/kernel@sha256:") || strings.Contains(one.String(), `"`) {
		t.Errorf("string output: %q", one.String())
	}
	if err := Output(&list, outputs["boards"], false); err != nil {
		t.Fatal(err)
	}
	if err := Output(&list, outputs["boards"], true); err != nil {
		t.Fatal(err)
	}
	if want := "[\n  \"cm5-hailo10h\",\n  \"cm4-standard\"\n]\n[\"cm5-hailo10h\", \"cm4-standard\"]\n"; list.String() != want {
		t.Errorf("list output: %q, want %q", list.String(), want)
	}
	if err := Output(&list, &state.Output{Value: json.RawMessage(`{`)}, false); err == nil {
		t.Error("invalid JSON output: no error")
	}
}

// `sovos output` lists what each profile published, by address, and nothing else.
func TestProfileArtifacts(t *testing.T) {
	s := &state.State{Resources: []*state.Resource{
		{Address: "kernel.k", Type: "kernel", Image: "r/k", Tag: "t", Digest: "sha256:1"},
		{Address: `profile.talos["cm5"]`, Type: "profile", Image: "r/cm5", Tag: "t5", Digest: "sha256:5", ArtifactType: "application/vnd.sovos.boot-media.v1"},
		{Address: "profile.cm4", Type: "profile", Image: "r/cm4", Tag: "t4", Digest: "sha256:4"},
		{Address: "profile.yaml", Type: "profile"},
	}}
	var b strings.Builder
	if err := ProfileArtifacts(&b, s, true); err != nil {
		t.Fatal(err)
	}
	want := "\nProfile artifacts (boot media: `sovos fetch ADDRESS`; installers: pull the image):\n" +
		"  profile.cm4 = r/cm4:t4@sha256:4\n" +
		"  profile.talos[\"cm5\"] = r/cm5:t5@sha256:5\n"
	if b.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", b.String(), want)
	}
	b.Reset()
	if err := ProfileArtifacts(&b, &state.State{}, true); err != nil || b.Len() != 0 {
		t.Errorf("no profiles: %q %v", b.String(), err)
	}

	// -profiles -json: the same artifacts, keyed by address, each with its kind; a
	// document of its own, never mixed into the outputs' map.
	s.Resources = append(s.Resources, &state.Resource{Address: "profile.inst", Type: "profile", Image: "r/inst", Tag: "ti", Digest: "sha256:6", ArtifactType: "application/vnd.sovos.installer-image.v1"})
	b.Reset()
	if err := ProfileArtifactsJSON(&b, s); err != nil {
		t.Fatal(err)
	}
	testenv.Golden(t, filepath.Join("testdata", "state", "profiles.json"), []byte(b.String()))
	b.Reset()
	if err := ProfileArtifactsJSON(&b, nil); err != nil || b.String() != "{}\n" {
		t.Errorf("no state: %q %v", b.String(), err)
	}
}
