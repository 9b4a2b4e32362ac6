package config

import (
	"context"
	"fmt"
	"regexp"
	"runtime"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// writeKeyedMatrix writes a keyed matrix large enough for several workers per block,
// with a few instances that fail (an invalid image, a missing dockerfile, a sensitive
// build arg), one that warns (a platform no builder serves), and the extensions,
// installers and profiles of the failed kernels, which must stay quiet. Every kind of
// resource is keyed, so that each decoder (sources, images, stages and contexts,
// profiles) and the hooks run on many workers.
func writeKeyedMatrix(t *testing.T, keys int) string {
	var b strings.Builder
	b.WriteString(`
variable "token" {
  type      = string
  sensitive = true
}
variable "suffix" { type = string }
builder "arm" {
  address   = "unix:///run/arm.sock"
  platforms = ["linux/arm64"]
}
source "s" {
  path = "./src"
}
kernel "k" {
  for_each   = local.boards
  source     = source.s
  image      = "${each.value.image}${var.suffix}"
  dockerfile = each.value.dockerfile
  platform   = each.value.platform
  args       = { V = each.value.variant, T = each.value.secret }
  stage "pkg" {
    image = "registry.example/pkg-${each.key}"
  }
}
extension "e" {
  for_each = local.boards
  source   = source.b[each.key]
  kernel   = kernel.k[each.key]
  image    = "registry.example/e-${each.key}"
  platform = "linux/arm64"
  contexts = { pkg = kernel.k[each.key].stage["pkg"].ref, base = image.base[each.key].ref }
  args     = { NOTE = file("note.txt") }
}
source "b" {
  for_each = local.boards
  path     = "./src"
}
image "base" {
  for_each = local.boards
  ref      = "ghcr.io/x/base-${each.key}:v1"
}
installer "i" {
  for_each = local.boards
  source   = source.s
  kernel   = kernel.k[each.key]
  image    = "registry.example/i-${each.key}"
  platform = "linux/arm64"
  stage "imager" {
    image = "registry.example/imager-${each.key}"
  }
}
profile "p" {
  for_each   = local.boards
  arch       = "arm64"
  version    = "v1.13.3"
  installer  = installer.i[each.key].ref
  imager     = installer.i[each.key].stage["imager"].ref
  extensions = [extension.e[each.key].ref]
  output {
    kind = "installer"
  }
}
output "tags" {
  value = [for k in kernel.k : k.tag]
}
locals {
  boards = {
`)
	for i := range keys {
		key := fmt.Sprintf("b%03d", i)
		image, dockerfile, secret, platform := "registry.example/k-"+key, `"Dockerfile"`, `""`, "linux/arm64"
		switch i {
		case 13:
			image = "registry.example/K-" + key
		case 21:
			dockerfile = `"nope/Dockerfile"`
		case 34:
			secret = "var.token"
		case 55:
			platform = "linux/riscv64"
		}
		fmt.Fprintf(&b, "    %s = { variant = \"v%d\", image = %q, dockerfile = %s, secret = %s, platform = %q }\n",
			key, i%7, image, dockerfile, secret, platform)
	}
	b.WriteString("  }\n}\n")
	return writeConfig(t, map[string]string{"main.sovos.hcl": b.String(), "src/Dockerfile": "FROM scratch\n", "note.txt": "hello"})
}

// evalDump evaluates dir and prints what a user can see of the result: every resource
// with its hashes, edges and unset variables, in order, the outputs and the diagnostics.
func evalDump(t *testing.T, dir string, opts EvalOptions) string {
	cfg, diags := Load(context.Background(), dir, opts)
	var b strings.Builder
	for _, r := range cfg.Resources {
		fmt.Fprintf(&b, "%s hash=%s tag=%s builder=%s platform=%s depends_on=%v consumes=%v unset=%v\n",
			r.Addr, r.Hash, r.Tag, r.Builder, r.Platform, r.DependsOn, r.Consumes, r.Unset)
		for _, k := range sortedKeys(r.HashedAttrs) {
			fmt.Fprintf(&b, "  %s = %#v\n", k, r.HashedAttrs[k])
		}
	}
	for _, o := range cfg.Outputs {
		fmt.Fprintf(&b, "output.%s = %#v\n", o.Name, o.Value)
	}
	if err := WriteDiagnostics(&b, cfg.Files, diags, false); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// TestInstancesInParallel: evaluating a block's instances on many workers gives what one
// worker gives, byte for byte: resources in order with the same hashes and edges, the
// same diagnostics in the same order. Run with -race, it also finds state the workers
// share without a lock.
func TestInstancesInParallel(t *testing.T) {
	const keys = 300 // 300 instances per block: eight workers with minPerWorker = 32
	dir := writeKeyedMatrix(t, keys)
	for _, tt := range []struct {
		name   string
		opts   func() EvalOptions
		want   []string
		errors int
	}{
		{"plan", func() EvalOptions {
			return EvalOptions{Vars: []string{"token=s3cret", "suffix="}, Hooks: &fakeHooks{t: t, seen: map[string][]string{}}}
		}, []string{
			"Invalid image", `kernel.k["b013"]`, "Missing dockerfile", `kernel.k["b021"]`,
			"Sensitive value in args", `kernel.k["b034"]`, "Platform served by no builder", `kernel.k["b055"]`,
		}, 3},
		{"validate", func() EvalOptions {
			return EvalOptions{Vars: []string{"token=s3cret"}, Validate: true}
			// The images wait for var.suffix: only the dockerfile and the secret fail.
		}, []string{"unset=map[image:[suffix]]", "Missing dockerfile", "Sensitive value in args", "Platform served by no builder"}, 2},
	} {
		t.Run(tt.name, func(t *testing.T) {
			defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
			one := evalDump(t, dir, tt.opts())
			for _, w := range tt.want {
				if !strings.Contains(one, w) {
					t.Errorf("one worker: the result lacks %q:\n%s", w, one)
				}
			}
			for _, block := range []string{"kernel.k", "extension.e", "source.b", "image.base", "installer.i", "profile.p"} {
				if n := len(regexp.MustCompile(`(?m)^`+regexp.QuoteMeta(block)+`\["b\d+"\] hash=`).FindAllString(one, -1)); n != keys {
					t.Fatalf("one worker: %d instances of %s, want %d", n, block, keys)
				}
			}
			if n := strings.Count(one, "Error: "); n != tt.errors {
				t.Errorf("one worker: %d errors, want %d (the extensions of failed kernels stay quiet):\n%s", n, tt.errors, one)
			}
			runtime.GOMAXPROCS(8)
			for range 3 {
				if many := evalDump(t, dir, tt.opts()); many != one {
					t.Fatalf("eight workers differ from one (-one +eight):\n%s", cmp.Diff(one, many))
				}
			}
		})
	}
}

func TestForEachCallsEachIndexOnce(t *testing.T) {
	for _, n := range []int{0, 1, minPerWorker - 1, minPerWorker, 2*minPerWorker + chunk + 3, 1000} {
		for _, workers := range []int{1, 2, 8} {
			calls := make([]int, n)
			forEach(n, workers, func(i int) { calls[i]++ })
			for i, c := range calls {
				if c != 1 {
					t.Fatalf("n=%d workers=%d: index %d called %d times", n, workers, i, c)
				}
			}
		}
	}
}
