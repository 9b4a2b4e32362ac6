package examples_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"

	"github.com/urmanac/sovos/config"
	"github.com/urmanac/sovos/hashing"
)

// TestSovereignOSSyntax parses every configuration file of the sovereign-os example.
// Evaluation (references, types, the kernel-consistency rule) is TestSovereignOSLoads.
func TestSovereignOSSyntax(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("sovereign-os", "*.sovos.hcl"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no *.sovos.hcl in sovereign-os")
	}
	p := hclparse.NewParser()
	var diags hcl.Diagnostics
	for _, f := range files {
		_, d := p.ParseHCLFile(f)
		diags = append(diags, d...)
	}
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	// The example is what users copy: keep it in canonical form (`sovos fmt -check`).
	checkFormatted(t, files)
}

// loadSovereignOS evaluates examples/sovereign-os and fails on any diagnostic: the
// example must validate cleanly, warnings included.
func loadSovereignOS(t *testing.T, opts config.EvalOptions) *config.Config {
	t.Helper()
	return loadCleanly(t, "sovereign-os", opts)
}

// fakeHooks makes every hash-derived value known without touching git or a registry:
// a source's or resource's hash is the sha256 of its address, an image's digest its pin.
type fakeHooks struct{}

func addrHash(r *config.Resource) string {
	sum := sha256.Sum256([]byte(r.Addr.String()))
	return hex.EncodeToString(sum[:])
}

func (fakeHooks) SourceHash(_ context.Context, r *config.Resource) (string, error) {
	return addrHash(r), nil
}

func (fakeHooks) ImageDigest(_ context.Context, r *config.Resource) (string, error) {
	return r.Image.Digest, nil
}

func (fakeHooks) ResourceHash(r *config.Resource, _ map[string]string) (string, error) {
	return addrHash(r), nil
}

func (fakeHooks) ContentTag(hash string) string { return hashing.ContentTag(hash) }

// TestSovereignOSLoads evaluates the example as `sovos validate` does (no hooks) and
// checks the matrix: 2 hardware × 2 variants.
func TestSovereignOSLoads(t *testing.T) {
	cfg := loadSovereignOS(t, config.EvalOptions{})

	var got []string
	for _, r := range cfg.Resources {
		if r.Addr.Type == config.TypeProfile && r.Addr.Name == "talos" {
			got = append(got, r.Addr.String())
		}
	}
	slices.Sort(got)
	want := []string{
		`profile.talos["cm4-standard-hailort"]`,
		`profile.talos["cm4-standard-minimal"]`,
		`profile.talos["cm5-hailo10h-hailort"]`,
		`profile.talos["cm5-hailo10h-minimal"]`,
	}
	if !slices.Equal(got, want) {
		t.Errorf("profile instances = %v, want %v", got, want)
	}

	for _, addr := range []string{"kernel.sovereign", "extension.hailort", "installer.sovereign"} {
		r := cfg.Resource(addr)
		if r == nil {
			t.Fatalf("no %s", addr)
		}
		if r.Builder != "arm64" || r.Platform != "linux/arm64" {
			t.Errorf("%s goes to builder %q as %q, want arm64 / linux/arm64", addr, r.Builder, r.Platform)
		}
	}
	k := cfg.Resource("kernel.sovereign").Build
	if k.SigningCert == nil || k.SigningCert.Target != "kernel-build" {
		t.Errorf("kernel signing_cert = %+v", k.SigningCert)
	}
	if len(k.Stages) != 1 || k.Stages[0].Target != "hailort-pkg" {
		t.Errorf("kernel stages = %+v, want hailort-pkg", k.Stages)
	}
	if ext := cfg.Resource("extension.hailort").Build; !slices.Equal(ext.Tags, []string{"5.3.0-v1.13.3", "5.3.0"}) {
		t.Errorf("extension tags = %v", ext.Tags)
	}
	if got := cfg.Builders["arm64"]; got == nil || got.Address != "unix:///run/buildkit/buildkitd.sock" {
		t.Errorf("builder arm64 = %+v", got)
	}
	if cfg.Settings.State.Registry != "ghcr.io/urmanac/sovos-state" || cfg.Settings.State.Workspace != "main" {
		t.Errorf("state settings = %+v", cfg.Settings.State)
	}
}

// TestSovereignOSMatrix checks, with every reference known, that cm4-standard boots the
// upstream artifacts and cm5-hailo10h the sovereign ones.
func TestSovereignOSMatrix(t *testing.T) {
	cfg := loadSovereignOS(t, config.EvalOptions{
		Hooks:   fakeHooks{},
		Environ: []string{"SOVOS_VAR_arm_builder=unix:///run/buildkit/buildkitd.sock"},
	})
	if got := cfg.Builders["arm64"].Address; got != "unix:///run/buildkit/buildkitd.sock" {
		t.Errorf("SOVOS_VAR_arm_builder not honoured: builder address %q", got)
	}

	tests := []struct {
		key               string
		installer, imager string // prefixes
		extensions        []string
	}{
		{"cm4-standard-minimal", "ghcr.io/siderolabs/installer:v1.13.3@sha256:", "ghcr.io/siderolabs/imager:v1.13.3@sha256:", nil},
		{"cm4-standard-hailort", "ghcr.io/siderolabs/installer:v1.13.3@sha256:", "ghcr.io/siderolabs/imager:v1.13.3@sha256:",
			[]string{"ghcr.io/siderolabs/hailort:4.21.0-v1.13.3@sha256:"}},
		{"cm5-hailo10h-minimal", "ghcr.io/urmanac/installer-base:", "ghcr.io/urmanac/imager:", nil},
		{"cm5-hailo10h-hailort", "ghcr.io/urmanac/installer-base:", "ghcr.io/urmanac/imager:",
			[]string{"ghcr.io/urmanac/hailort:"}},
	}
	for _, tc := range tests {
		t.Run(tc.key, func(t *testing.T) {
			r := cfg.Resource(`profile.talos["` + tc.key + `"]`)
			if r == nil || r.Profile == nil {
				t.Fatalf("no profile instance %s", tc.key)
			}
			p := r.Profile
			if !strings.HasPrefix(p.Installer, tc.installer) {
				t.Errorf("installer = %q, want %s...", p.Installer, tc.installer)
			}
			if !strings.HasPrefix(p.Imager, tc.imager) {
				t.Errorf("imager = %q, want %s...", p.Imager, tc.imager)
			}
			if len(p.Extensions) != len(tc.extensions) {
				t.Fatalf("extensions = %v, want %v", p.Extensions, tc.extensions)
			}
			for i, e := range tc.extensions {
				if !strings.HasPrefix(p.Extensions[i], e) {
					t.Errorf("extensions[%d] = %q, want %s...", i, p.Extensions[i], e)
				}
			}
			if p.Overlay == nil || p.Overlay.Name != "rpi_generic" ||
				!strings.HasPrefix(p.Overlay.Image, "ghcr.io/siderolabs/sbc-raspberrypi:v0.1.6@sha256:") {
				t.Errorf("overlay = %+v", p.Overlay)
			}
			want := config.ProfileOutput{Kind: "image", OutFormat: ".xz", DiskSize: 1306525696, DiskFormat: "raw"}
			if p.Output != want {
				t.Errorf("output = %+v, want %+v", p.Output, want)
			}
			if r.Hash == "" {
				t.Errorf("profile has no hash although hooks were given")
			}
		})
	}
}
