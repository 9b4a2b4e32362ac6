package config

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
)

// base is a small valid configuration the diagnostic cases extend.
const base = `
source "pkgs" {
  git    = "https://github.com/siderolabs/pkgs.git"
  commit = "0123456789abcdef0123456789abcdef01234567"
}
`

func writeConfig(t testing.TB, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, src := range files {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestDiagnostics(t *testing.T) {
	tests := []struct {
		name string
		src  string // appended to base in main.sovos.hcl; lines count from base's 6 lines
		opts EvalOptions
		// want: "LINE:summary substring:detail substring" of the first diagnostic with
		// the expected severity.
		line    int
		summary string
		detail  string
		warning bool
	}{
		{name: "unknown block", src: `kernal "a" {}`, line: 6, summary: "Unsupported block type", detail: "kernal"},
		{name: "unknown attribute", src: `image "a" {
  ref = "x"
  digset = "sha256:00"
}`, line: 8, summary: "Unsupported argument", detail: `"digset"`},
		{name: "wrong type", src: `image "a" {
  ref = ["x"]
}`, line: 7, summary: "Incorrect attribute value type", detail: "string required"},
		{name: "missing required attribute", src: `image "a" {
  digest = "sha256:0000000000000000000000000000000000000000000000000000000000000000"
}`, line: 6, summary: "Missing required argument", detail: `"ref" is required`},
		{name: "both git and path", src: `source "b" {
  git    = "https://x/y.git"
  commit = "0123456789abcdef0123456789abcdef01234567"
  path   = "./vendor"
}`, line: 9, summary: "Both git and path", detail: "exactly one"},
		{name: "neither git nor path", src: `source "b" {
  ref = "main"
}`, line: 6, summary: "Neither git nor path", detail: "source.b needs"},
		{name: "git without commit", src: `source "b" {
  git = "https://x/y.git"
}`, line: 7, summary: "Missing commit", detail: "run `sovos pin`"},
		{name: "short commit", src: `source "b" {
  git    = "https://x/y.git"
  commit = "0123abcd"
}`, line: 8, summary: "Invalid commit", detail: "40 lowercase hex"},
		{name: "unknown reference", src: `kernel "k" {
  source = source.pgks
  image  = "r/k"
}`, line: 7, summary: "Reference to undeclared source resource", detail: "Did you mean source.pkgs?"},
		{name: "unknown attribute of a resource", src: `kernel "k" {
  source = source.pkgs
  image  = "r/k"
}
output "o" { value = kernel.k.reff }`, line: 10, summary: "Unsupported attribute", detail: `Did you mean "ref"?`},
		{name: "unrelated attribute of a resource", src: `kernel "k" {
  source = source.pkgs
  image  = "r/k"
}
output "o" { value = kernel.k.zzzzzzzz }`, line: 10, summary: "Unsupported attribute", detail: "It has: hash, image, ref, stage, tag."},
		{name: "unknown stage", src: `kernel "k" {
  source = source.pkgs
  image  = "r/k"
  stage "hailort-pkg" { image = "r/h" }
}
output "o" { value = kernel.k.stage["hailort-pk"].ref }`, line: 11, summary: "Invalid index", detail: `Did you mean "hailort-pkg"?`},
		{name: "unknown reference type", src: `kernel "k" {
  source = sourse.pkgs
  image  = "r/k"
}`, line: 7, summary: "Unknown reference", detail: `Did you mean "source"?`},
		{name: "unknown variable", src: `variable "registry" {
  default = "r"
}
kernel "k" {
  source = source.pkgs
  image  = "${var.regsitry}/k"
}`, line: 11, summary: "Reference to undeclared input variable", detail: "Did you mean var.registry?"},
		{name: "wrong kind", src: `extension "e" {
  source = source.pkgs
  kernel = source.pkgs
  image  = "r/e"
}`, line: 8, summary: "Reference to the wrong kind of resource", detail: "source.pkgs is a source"},
		{name: "string instead of reference", src: `extension "e" {
  source = "source.pkgs"
  kernel = source.pkgs
  image  = "r/e"
}`, line: 7, summary: "Invalid reference", detail: "without quotes"},
		{name: "cycle", src: `kernel "a" {
  source   = source.pkgs
  image    = "r/a"
  contexts = { e = extension.b.ref }
}
extension "b" {
  source = source.pkgs
  kernel = kernel.a
  image  = "r/b"
}`, line: 9, summary: "Dependency cycle: kernel.a -> extension.b -> kernel.a", detail: "extension.b refers to kernel.a at"},
		{name: "cycle through locals", src: `locals {
  x = kernel.a.ref
}
kernel "a" {
  source = source.pkgs
  image  = local.x
}`, line: 7, summary: "Dependency cycle: local.x -> kernel.a -> local.x", detail: "remove one of the references"},
		{name: "missing required variable", src: `variable "token" {
  type = string
}`, line: 6, summary: "No value for required variable", detail: "SOVOS_VAR_token"},
		{name: "failed validation", src: `variable "registry" {
  default = ""
  validation {
    condition     = length(var.registry) > 0
    error_message = "registry must not be empty."
  }
}`, line: 9, summary: "Invalid value for variable", detail: "registry must not be empty."},
		{name: "required_version", src: `sovos {
  required_version = ">= 9.0.0"
}`, line: 7, summary: "Unsupported sovos version", detail: "this is sovos 0.1.0"},
		{name: "duplicate names", src: `source "pkgs" {
  path = "."
}`, line: 6, summary: "Duplicate source name", detail: "source.pkgs is already declared at"},
		{name: "each without for_each", src: `kernel "k" {
  source = source.pkgs
  image  = each.key
}`, line: 8, summary: `Reference to "each" in the wrong place`, detail: "for_each"},
		{name: "undeclared -var", opts: EvalOptions{Vars: []string{"nope=1"}}, line: 0, summary: "Value for undeclared variable", detail: `"nope"`},
		{name: "kernel mismatch", src: kernelPair + `
profile "p" {
  arch       = "arm64"
  version    = "v1.13.3"
  installer  = installer.i2.ref
  extensions = [extension.e1.ref]
  output { kind = "installer" }
}`, line: 33, summary: "Kernel mismatch", detail: "would boot kernel.k2 (through installer = installer.i2) with extension.e1 built for kernel.k1"},
		{name: "extensions of two kernels", src: kernelPair + `
extension "e2" {
  source = source.pkgs
  kernel = kernel.k2
  image  = "r/e2"
}
profile "p" {
  arch       = "arm64"
  version    = "v1.13.3"
  installer  = installer.i2.ref
  extensions = [extension.e1.ref, extension.e2.ref]
  output { kind = "installer" }
}`, line: 39, summary: "Extensions for different kernels", detail: "extension.e1 is signed for kernel.k1 but extension.e2 for kernel.k2"},
		{name: "kernel_args with plain installer", src: `profile "p" {
  arch        = "amd64"
  version     = "v1.9.5"
  kernel_args = ["console=tty1"]
  output { kind = "installer" }
}`, line: 9, summary: "kernel_args with a non-secureboot installer", detail: "secureboot = true"},
		{name: "image without disk_size", src: `profile "p" {
  arch    = "arm64"
  version = "v1.13.3"
  output {
    kind = "image"
  }
}`, line: 9, summary: "Missing disk_size", detail: "disk_size"},
		{name: "board outside metal/arm64", src: `profile "p" {
  arch    = "amd64"
  version = "v1.13.3"
  board   = "rpi_generic"
  output { kind = "installer" }
}`, line: 9, summary: "board outside metal/arm64", detail: "metal/amd64"},
		{name: "colliding profile files", src: `profile "p" {
  for_each = toset(["a/b", "a_b"])
  arch     = "arm64"
  version  = "v1.13.3"
  output { kind = "installer" }
}`, line: 6, summary: "Profile file names collide", detail: `profile.p["a/b"] and profile.p["a_b"] would both be written to profile.p__a_b__.yaml`},
		{name: "secureboot without keys", src: `profile "p" {
  arch       = "amd64"
  version    = "v1.13.3"
  secureboot = true
  imager     = "ghcr.io/siderolabs/imager:v1.13.3"
  output { kind = "uki" }
}`, line: 9, summary: "Missing secureboot keys", detail: "secureboot_keys lacks uki-signing-key.pem, uki-signing-cert.pem, pcr-signing-key.pem"},
		{name: "secureboot with a key missing", src: `profile "p" {
  arch       = "amd64"
  version    = "v1.13.3"
  secureboot = true
  imager     = "ghcr.io/siderolabs/imager:v1.13.3"
  secureboot_keys = {
    "uki-signing-key.pem"  = { env = "UKI_KEY" }
    "uki-signing-cert.pem" = { env = "UKI_CERT" }
  }
  output { kind = "iso" }
}`, line: 11, summary: "Missing secureboot keys", detail: "secureboot_keys lacks pcr-signing-key.pem"},
		{name: "secureboot key not a file name", src: `profile "p" {
  arch       = "amd64"
  version    = "v1.13.3"
  secureboot_keys = { "../key.pem" = { env = "K" } }
  output { kind = "installer" }
}`, line: 9, summary: "Invalid secureboot key name", detail: "/secureboot/../key.pem"},
		{name: "secureboot keys without secureboot", warning: true, src: `profile "p" {
  arch       = "amd64"
  version    = "v1.13.3"
  secureboot_keys = { "uki-signing-key.pem" = { env = "K" } }
  output { kind = "installer" }
}`, line: 9, summary: "secureboot_keys without secureboot", detail: "secureboot = true"},
		{name: "secureboot keys wrong shape", src: `profile "p" {
  arch       = "amd64"
  version    = "v1.13.3"
  secureboot_keys = { "uki-signing-key.pem" = "keys/uki.pem" }
  output { kind = "installer" }
}`, line: 9, summary: "Incorrect attribute value type", detail: "secureboot_keys must map each id"},
		{name: "missing output block", src: `profile "p" {
  arch    = "arm64"
  version = "v1.13.3"
}`, line: 6, summary: "Missing output block", detail: "An output block is required"},
		{name: "signing key stage", warning: true, src: `kernel "k" {
  source = source.pkgs
  image  = "r/k"
  signing_cert {
    target = "kernel-build"
    path   = "/src/certs/signing_key.x509"
  }
  stage "kernel-build" {
    image = "r/kb"
  }
}`, line: 13, summary: "Signing key would be published", detail: "remove the stage"},
		{name: "signing key cache", warning: true, src: `kernel "k" {
  source = source.pkgs
  image  = "r/k"
  signing_cert {
    target = "kernel-build"
    path   = "/src/certs/signing_key.x509"
  }
  cache {
    ref  = "r/cache"
    mode = "max"
  }
}`, line: 13, summary: "Signing key would be cached", detail: `mode = "min"`},
		{name: "tls cert without key", src: `builder "remote" {
  address = "tcp://h:1234"
  tls {
    ca_cert = "ca.pem"
    cert    = "client.pem"
  }
}`, line: 8, summary: "Client certificate without its key", detail: "builder.remote: tls cert and key go together"},
		{name: "platform no builder lists", src: `builder "arm" {
  address   = "ssh://runner@arm"
  platforms = ["linux/arm64"]
}
kernel "k" {
  source   = source.pkgs
  image    = "r/k"
  platform = "linux/riscv64"
}`, line: 13, summary: "Platform served by no builder", detail: "kernel.k goes to builder.arm (platforms linux/arm64)", warning: true},
		{name: "for_each list", src: `source "s" {
  for_each = ["a"]
  path     = each.key
}`, line: 7, summary: "Invalid for_each argument", detail: "toset"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := writeConfig(t, map[string]string{"main.sovos.hcl": base + tt.src + "\n"})
			cfg, diags := Load(context.Background(), dir, tt.opts)
			sev := hcl.DiagError
			if tt.warning {
				sev = hcl.DiagWarning
			}
			var got *hcl.Diagnostic
			for _, d := range diags {
				if d.Severity == sev {
					got = d
					break
				}
			}
			var buf bytes.Buffer
			_ = WriteDiagnostics(&buf, cfg.Files, diags, false)
			if got == nil {
				t.Fatalf("no diagnostic of the expected severity; got:\n%s", buf.String())
			}
			if tt.warning && diags.HasErrors() {
				t.Fatalf("unexpected errors:\n%s", buf.String())
			}
			if !strings.Contains(got.Summary, tt.summary) || !strings.Contains(got.Detail, tt.detail) {
				t.Errorf("got %q / %q, want summary ~ %q and detail ~ %q\n%s", got.Summary, got.Detail, tt.summary, tt.detail, buf.String())
			}
			if tt.line > 0 {
				if got.Subject == nil {
					t.Fatalf("diagnostic has no source range:\n%s", buf.String())
				}
				if got.Subject.Start.Line != tt.line || filepath.Base(got.Subject.Filename) != "main.sovos.hcl" {
					t.Errorf("at %s, want main.sovos.hcl:%d\n%s", got.Subject, tt.line, buf.String())
				}
				// The rendered text names the file and line, with a snippet.
				want := fmt.Sprintf("main.sovos.hcl line %d", tt.line)
				if !strings.Contains(buf.String(), want) {
					t.Errorf("rendered diagnostics lack %q:\n%s", want, buf.String())
				}
			}
			if strings.Count(buf.String(), got.Summary) != 1 {
				t.Errorf("diagnostic rendered more than once:\n%s", buf.String())
			}
		})
	}
}

// kernelPair declares two kernels with an extension and an installer each (lines 6-34
// of the test file once appended to base).
const kernelPair = `kernel "k1" {
  source = source.pkgs
  image  = "r/k1"
}
kernel "k2" {
  source = source.pkgs
  image  = "r/k2"
}
extension "e1" {
  source = source.pkgs
  kernel = kernel.k1
  image  = "r/e1"
}
installer "i1" {
  source = source.pkgs
  kernel = kernel.k1
  image  = "r/i1"
}
installer "i2" {
  source = source.pkgs
  kernel = kernel.k2
  image  = "r/i2"
}
`
