package main

import (
	"net"
	"strings"
	"testing"
)

// One mistake is one error through the CLI: nothing computed from what failed adds a
// second, misleading one, and a broken configuration is reported before a state that
// cannot be read.
func TestOneErrorPerMistake(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	dir := writeFiles(t, map[string]string{
		"gone/main.sovos.hcl": `source "gone" { path = "./gone" }
kernel "k" {
  source = source.gone
  image  = "registry.example.com/k"
}
extension "e" {
  source = source.gone
  kernel = kernel.k
  image  = "registry.example.com/e"
}
`,
		"local/main.sovos.hcl": `locals {
  boards = tomap("cm4, cm5")
}
source "s" { path = "." }
kernel "k" {
  for_each = local.boards
  source   = source.s
  image    = "registry.example.com/k-${each.key}"
}
`,
	})
	for _, tc := range []struct {
		name, sub string
		args      []string
		want, not string
	}{
		{"a missing source path", "gone", []string{"plan", "-refresh=false"},
			"Error: Missing source directory", "not known at plan time"},
		{"a failing local", "local", []string{"validate"},
			"Error: Invalid function argument", "known only after hashing"},
		{"a broken configuration and an unreachable state", "local", []string{"plan", "-state-registry=" + closed + "/x/state"},
			"Error: Invalid function argument", "cannot reach"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, errOut, code := runApp(t, append([]string{"-chdir=" + dir + "/" + tc.sub, "-no-color"}, tc.args...)...)
			if code != 1 || !strings.Contains(errOut, tc.want) || strings.Contains(errOut, tc.not) || strings.Count(errOut, "Error:") != 1 {
				t.Errorf("exit %d, want 1 and exactly one error %q; stderr:\n%s", code, tc.want, errOut)
			}
		})
	}
}
