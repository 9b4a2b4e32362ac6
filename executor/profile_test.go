package executor

import (
	"path/filepath"
	"strings"
	"testing"

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

func TestRenderProfileUnknownDigest(t *testing.T) {
	a, prof := profileApplier(t)
	delete(a.artifacts, "extension.hailort")
	_, err := a.renderProfile(prof)
	if err == nil || !strings.Contains(err.Error(), "extension.hailort has no recorded digest") {
		t.Errorf("err = %v", err)
	}
}

func TestProfileFileName(t *testing.T) {
	for addr, want := range map[string]string{
		`profile.cm5`:                   "profile.cm5.yaml",
		`profile.talos["cm5-hailo10h"]`: "profile.talos_cm5-hailo10h.yaml",
		`profile.talos[0]`:              "profile.talos_0.yaml",
		`profile.talos["a/b"]`:          "profile.talos_a_b.yaml",
	} {
		if got := ProfileFileName(addr); got != want {
			t.Errorf("ProfileFileName(%s) = %s, want %s", addr, got, want)
		}
	}
}
