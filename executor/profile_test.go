package executor

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"
	"gopkg.in/yaml.v3"

	"github.com/urmanac/sovos/config"
	"github.com/urmanac/sovos/internal/oci"
	"github.com/urmanac/sovos/internal/testenv"
	"github.com/urmanac/sovos/planner"
	"github.com/urmanac/sovos/state"
)

const (
	dInstaller = "sha256:1111111111111111111111111111111111111111111111111111111111111111"
	dExt       = "sha256:2222222222222222222222222222222222222222222222222222222222222222"
	dOverlay   = "sha256:3333333333333333333333333333333333333333333333333333333333333333"
)

// profileApplier is an applier over a configuration with an installer, an extension and
// a cm5 profile using them, whose digests are known from a prior state.
func profileApplier(t *testing.T) (*applier, *config.Resource) {
	t.Helper()
	inst := &config.Resource{Addr: config.Address{Type: "installer", Name: "i"}, Tag: "aaaaaaaaaaaaaaaa",
		Build: &config.BuildSpec{Image: "127.0.0.1:5000/installer", Stages: []config.Stage{{Target: "imager", Image: "127.0.0.1:5000/imager"}}}}
	ext := &config.Resource{Addr: config.Address{Type: "extension", Name: "hailort"}, Tag: "bbbbbbbbbbbbbbbb",
		Build: &config.BuildSpec{Image: "ghcr.io/urmanac/hailort"}}
	prof := &config.Resource{Addr: config.Address{Type: "profile", Name: "talos", Key: "cm5-hailo10h"}, Hash: strings.Repeat("c", 64),
		Profile: &config.ProfileSpec{
			Arch: "arm64", Platform: "metal", Version: "v1.13.3",
			Installer:  "127.0.0.1:5000/installer:aaaaaaaaaaaaaaaa",
			Extensions: []string{"ghcr.io/urmanac/hailort:bbbbbbbbbbbbbbbb"},
			KernelArgs: []string{"console=tty1", "talos.dashboard.disabled=1"},
			Overlay: &config.Overlay{Name: "rpi_generic", Image: "ghcr.io/siderolabs/sbc-raspberrypi:v0.1.6@" + dOverlay,
				Options: map[string]any{"configTxtAppend": "dtoverlay=pciex1", "flags": []any{"a", true}}},
			Output: config.ProfileOutput{Kind: "image", OutFormat: ".xz", DiskSize: 1306525696, DiskFormat: "raw"},
		}}
	prior := &state.State{Resources: []*state.Resource{
		{Address: "installer.i", Image: "127.0.0.1:5000/installer", Digest: dInstaller},
		{Address: "extension.hailort", Image: "ghcr.io/urmanac/hailort", Digest: dExt},
	}}
	p := &planner.Plan{Config: &config.Config{Resources: []*config.Resource{inst, ext, prof}}, Prior: prior}
	a := &applier{p: p, opts: Options{Registry: oci.New(oci.WithInsecure("127.0.0.1:5000"))},
		artifacts: map[string]*artifact{}, verified: map[string]string{}, refs: map[string]refTarget{}}
	a.index()
	return a, prof
}

func TestRenderProfile(t *testing.T) {
	a, prof := profileApplier(t)
	got, err := a.renderProfile(prof)
	if err != nil {
		t.Fatal(err)
	}
	testenv.Golden(t, filepath.Join("testdata", "profile_cm5.golden.yaml"), got)

	// It is YAML the imager reads: field names and values where Talos expects them.
	var doc struct {
		Arch  string
		Input struct {
			BaseInstaller struct {
				ImageRef      string `yaml:"imageRef"`
				ForceInsecure bool   `yaml:"forceInsecure"`
			} `yaml:"baseInstaller"`
			SystemExtensions []struct {
				ImageRef string `yaml:"imageRef"`
			} `yaml:"systemExtensions"`
		}
		Output struct {
			ImageOptions struct {
				DiskSize int64 `yaml:"diskSize"`
			} `yaml:"imageOptions"`
		}
	}
	if err := yaml.Unmarshal(got, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Arch != "arm64" || !doc.Input.BaseInstaller.ForceInsecure || doc.Input.BaseInstaller.ImageRef != "127.0.0.1:5000/installer@"+dInstaller ||
		len(doc.Input.SystemExtensions) != 1 || doc.Input.SystemExtensions[0].ImageRef != "ghcr.io/urmanac/hailort@"+dExt ||
		doc.Output.ImageOptions.DiskSize != 1306525696 {
		t.Errorf("decoded profile: %+v", doc)
	}
}

// A profile with neither installer nor extensions has no input key: an empty one would
// be YAML null where the imager expects a mapping.
func TestRenderProfileWithoutInputs(t *testing.T) {
	a, prof := profileApplier(t)
	prof.Profile.Installer, prof.Profile.Extensions = "", nil
	got, err := a.renderProfile(prof)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(got), "input:") {
		t.Errorf("an input key with nothing in it:\n%s", got)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(got, &doc); err != nil {
		t.Fatal(err)
	}
	if _, ok := doc["input"]; ok {
		t.Errorf("decoded profile has input = %v", doc["input"])
	}
	if doc["arch"] != "arm64" || doc["output"] == nil {
		t.Errorf("decoded profile: %v", doc)
	}
	// Extensions alone still get their input key.
	prof.Profile.Extensions = []string{"ghcr.io/urmanac/hailort:bbbbbbbbbbbbbbbb"}
	if got, err := a.renderProfile(prof); err != nil || !strings.Contains(string(got), "input:\n  systemExtensions:\n") {
		t.Errorf("extensions only: %v\n%s", err, got)
	}
}

func TestRenderProfileUnknownDigest(t *testing.T) {
	a, prof := profileApplier(t)
	delete(a.artifacts, "extension.hailort")
	_, err := a.renderProfile(prof)
	if err == nil || !strings.Contains(err.Error(), "extension.hailort has no recorded digest") {
		t.Errorf("err = %v", err)
	}
}

// Files written under a first-release name move to the file-safe one, and are listed for
// the summary; a name the rule leaves alone is not touched.
func TestRenameLegacy(t *testing.T) {
	dir := t.TempDir()
	dest := filepath.Join(dir, "_out", "profiles")
	writeFile := func(rel, content string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dest, rel)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dest, rel), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	writeFile("profile.talos_cm5-hailo10h.yaml", "old yaml")
	writeFile("profile.talos_cm5-hailo10h/metal-arm64.raw", "old image")
	writeFile("profile.cm4.yaml", "cm4")
	a := &applier{p: &planner.Plan{Config: &config.Config{Dir: dir}}, log: hclog.NewNullLogger()}
	a.renameLegacy(`profile.talos["cm5-hailo10h"]`, dest)
	a.renameLegacy("profile.cm4", dest)
	for rel, want := range map[string]string{
		"profile.talos__cm5-hailo10h__.yaml":            "old yaml",
		"profile.talos__cm5-hailo10h__/metal-arm64.raw": "old image",
		"profile.cm4.yaml":                              "cm4",
	} {
		if got, err := os.ReadFile(filepath.Join(dest, rel)); err != nil || string(got) != want {
			t.Errorf("%s: %q (%v), want %q", rel, got, err, want)
		}
	}
	want := []Rename{
		{`profile.talos["cm5-hailo10h"]`, "_out/profiles/profile.talos_cm5-hailo10h.yaml", "_out/profiles/profile.talos__cm5-hailo10h__.yaml"},
		{`profile.talos["cm5-hailo10h"]`, "_out/profiles/profile.talos_cm5-hailo10h", "_out/profiles/profile.talos__cm5-hailo10h__"},
	}
	if !slices.Equal(a.renamed, want) {
		t.Errorf("renamed %v, want %v", a.renamed, want)
	}
	// The next apply has nothing to rename.
	a.renamed = nil
	a.renameLegacy(`profile.talos["cm5-hailo10h"]`, dest)
	if len(a.renamed) != 0 {
		t.Errorf("renamed again: %v", a.renamed)
	}
}
