package views

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	"github.com/urmanac/sovos/executor"
	"github.com/urmanac/sovos/executor/verify"
	"github.com/urmanac/sovos/internal/testenv"
)

func TestVerifyGolden(t *testing.T) {
	checks := []*executor.ExtensionCheck{
		{Address: "extension.hailort", Ref: "registry.example.com/urmanac/hailort@sha256:" + sixtyFour("1"), Kernel: "kernel.sovereign", OK: true,
			Modules:            []verify.ModuleResult{{Path: "/rootfs/usr/lib/modules/hailo1x_pci.ko", Verdict: verify.OK, Detail: "signed by CN=kernel"}},
			TalosCompatibility: ">= v1.13.0",
			Profiles:           []executor.ProfileCheck{{Address: `profile.talos["cm5-hailo10h"]`, Version: "v1.13.3", OK: true}}},
		{Address: `extension.bad["x"]`, Ref: "registry.example.com/urmanac/bad@sha256:" + sixtyFour("2"), Kernel: "kernel.sovereign",
			Modules: []verify.ModuleResult{
				{Path: "/rootfs/usr/lib/modules/a.ko", Verdict: verify.Unsigned},
				{Path: "/rootfs/usr/lib/modules/b.ko.xz", Verdict: verify.ForeignKey, Detail: "signed by CN=another kernel"},
			},
			TalosCompatibility: ">= v1.14.0",
			Profiles:           []executor.ProfileCheck{{Address: "profile.old", Version: "v1.13.3", Error: "v1.13.3 is not >= v1.14.0"}}},
		{Address: "extension.empty", Ref: "registry.example.com/urmanac/empty@sha256:" + sixtyFour("3"), Kernel: "kernel.sovereign", OK: true},
		{Address: "extension.hollow", Ref: "registry.example.com/urmanac/hollow@sha256:" + sixtyFour("5"), Kernel: "kernel.sovereign",
			Problem: verify.NoModulesProblem},
		{Address: "extension.orphan", Ref: "registry.example.com/urmanac/orphan@sha256:" + sixtyFour("4"),
			Error: "its kernel is unknown (not in the configuration nor the state)"},
	}
	for name, cs := range map[string][]*executor.ExtensionCheck{"report": checks, "none": nil} {
		t.Run(name, func(t *testing.T) {
			var human, js bytes.Buffer
			VerifyHuman(&human, cs)
			if err := VerifyJSON(&js, cs); err != nil {
				t.Fatal(err)
			}
			testenv.Golden(t, filepath.Join("testdata", "verify", name+".txt"), human.Bytes())
			testenv.Golden(t, filepath.Join("testdata", "verify", name+".json"), js.Bytes())
		})
	}
}

func sixtyFour(c string) string {
	s := ""
	for range 64 {
		s += c
	}
	return s
}

// An extension without modules fails with a line saying what to do, unless it declares
// modules = false, which the report says.
func TestVerifyNoModules(t *testing.T) {
	var b bytes.Buffer
	VerifyHuman(&b, []*executor.ExtensionCheck{
		{Address: "extension.fw", Ref: "r/fw@sha256:1", Kernel: "kernel.k", OK: false, Problem: verify.NoModulesProblem},
		{Address: "extension.firmware", Ref: "r/firmware@sha256:2", Kernel: "kernel.k", OK: true},
	})
	out := b.String()
	for _, want := range []string{
		"extension.fw: FAILED\n",
		"  FAILED: no kernel module in the image: an extension that carries none must say modules = false in its block\n",
		"extension.firmware: OK\n",
		"  no kernel module in the image (modules = false)\n",
		"2 extension(s) checked, 1 failed.",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}
