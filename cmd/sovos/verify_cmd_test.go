package main

import (
	"strings"
	"testing"

	"github.com/urmanac/sovos/executor/verify"
)

// TestWriteChecksNoModules: an extension without modules fails with a line saying what
// to do, unless it declares modules = false, which the output says.
func TestWriteChecksNoModules(t *testing.T) {
	var b strings.Builder
	writeChecks(&b, []*extensionCheck{
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
