package main

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// plantedSecret is the value of every case's sensitive variable (SOVOS_VAR_pw): it may
// appear in no output and no file.
const plantedSecret = "PLANTED-s3cr3t-7f2a"

// noSecretIn fails if any file under dir holds plantedSecret, except the variable
// files that hold it on purpose (*.planted.sovosvars).
func noSecretIn(t *testing.T, dir string) {
	t.Helper()
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() || strings.HasSuffix(path, ".planted.sovosvars") {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if strings.Contains(string(b), plantedSecret) {
			t.Errorf("%s holds the secret", path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

const (
	// pwVar declares the sensitive variable every secret case gets from SOVOS_VAR_pw.
	pwVar = "variable \"pw\" {\n  type      = string\n  sensitive = true\n}\n"
	// buildBase is a source with a Dockerfile, for the cases that declare a build.
	buildBase   = "source \"s\" { path = \"./src\" }\n"
	pinnedImage = `image "up" {
  ref    = "127.0.0.1:1/siderolabs/installer:v1.13.3"
  digest = "sha256:5fbc6235d2c41e3a4fcec46cf680cb20ad33d9562ade2f5436ca023d65f13e59"
}
`
)

// kernelWith is a kernel block with attrs added.
func kernelWith(attrs string) string {
	return buildBase + "kernel \"k\" {\n  source = source.s\n  image  = \"127.0.0.1:1/x/kernel\"\n" + attrs + "\n}\n"
}

// profileWith is a profile on the pinned upstream installer with attrs added.
func profileWith(attrs, output string) string {
	return pinnedImage + "profile \"p\" {\n  arch      = \"arm64\"\n  installer = image.up.ref\n" + attrs + "\n  output {\n" + output + "\n  }\n}\n"
}

// hardeningFixtures are the configurations of issue 12's bad inputs, by file name
// relative to the test's directory.
func hardeningFixtures() map[string]string {
	deep := func(open, close string, n int) string {
		return strings.Repeat(open, n) + "1" + strings.Repeat(close, n)
	}
	files := map[string]string{
		// Inputs that crash, hang or flood.
		"deep/main.sovos.hcl":      "locals {\n  x = " + deep("[", "]", 100000) + "\n}\n",
		"deeptmpl/main.sovos.hcl":  "locals {\n  x = " + deep(`"${`, `}"`, 100000) + "\n}\n",
		"deepjson/main.sovos.json": `{"locals": {"x": ` + deep("[", "]", 100000) + "}}\n",
		"fifook/main.sovos.hcl":    "locals { a = 1 }\n",
		"longline/main.sovos.hcl":  "locals { x = \"" + strings.Repeat("a", 5<<20) + " }\n",
		"notutf8/main.sovos.hcl":   "locals {\n  x = \"a\xff\xfeb\"\n}\n",
		"editor/main.sovos.hcl":    "locals { a = 1 }\n",
		"editor/.#main.sovos.hcl":  "garbage {",
		"editor/#main.sovos.hcl#":  "garbage {",
		"editor/main.sovos.hcl~":   "garbage {",
		"filezero/main.sovos.hcl":  "locals {\n  z = file(\"/dev/zero\")\n}\n",
		"deepvar/main.sovos.hcl":   "variable \"l\" { type = list(any) }\n",
		"bigcount/main.sovos.hcl":  "source \"s\" {\n  count = 1e9\n  path  = \".\"\n}\n",

		// Secrets.
		"secout/main.sovos.hcl": pwVar + "output \"o\" {\n  value = \"token: ${var.pw}\"\n}\n",
		"secvalid/main.sovos.hcl": `variable "pw" {
  type      = string
  sensitive = true
  validation {
    condition     = length(var.pw) > 100
    error_message = "${var.pw} is too short."
  }
}
`,
		"secfunc/main.sovos.hcl":           pwVar + "locals {\n  n = tonumber(var.pw)\n}\n",
		"sectags/main.sovos.hcl":           pwVar + kernelWith("  tags = [var.pw]"),
		"secimage/main.sovos.hcl":          pwVar + buildBase + "kernel \"k\" {\n  source = source.s\n  image  = \"127.0.0.1:1/${var.pw}\"\n}\n",
		"secplatform/main.sovos.hcl":       pwVar + kernelWith("  platform = var.pw"),
		"secpath/main.sovos.hcl":           pwVar + "source \"s\" {\n  path = var.pw\n}\n",
		"secdest/main.sovos.hcl":           pwVar + profileWith("  version = \"v1.13.3\"\n  dest = \"out/${var.pw}\"", `kind = "installer"`),
		"secargs/main.sovos.hcl":           pwVar + kernelWith("  args = { TOKEN = lower(var.pw) }"),
		"seckargs/main.sovos.hcl":          pwVar + profileWith("  version = \"v1.13.3\"\n  kernel_args = [\"token=${var.pw}\"]", `kind = "iso"`),
		"sectriggers/main.sovos.hcl":       pwVar + kernelWith("  triggers = { t = var.pw }"),
		"secgit/main.sovos.hcl":            pwVar + "source \"g\" {\n  git    = \"https://x:${var.pw}@github.com/x/y.git\"\n  commit = \"0123456789abcdef0123456789abcdef01234567\"\n}\n",
		"secforeach/main.sovos.hcl":        pwVar + "source \"s\" {\n  for_each = toset([var.pw])\n  path     = \".\"\n}\n",
		"secnumber/main.sovos.hcl":         "variable \"pin\" {\n  type      = number\n  sensitive = true\n}\noutput \"o\" {\n  value     = var.pin\n  sensitive = true\n}\n",
		"secvarfile/main.sovos.hcl":        "variable \"pin\" {\n  type      = number\n  sensitive = true\n}\n",
		"secvarfile/pin.planted.sovosvars": "pin = \"" + plantedSecret + "\"\n",
		// The right ways: a sensitive output said to be sensitive, a validation.
		"secretok/main.sovos.hcl": errorsConfig + `variable "pw" {
  type      = string
  sensitive = true
}
variable "pin" {
  type      = number
  sensitive = true
  validation {
    condition     = var.pin > 0
    error_message = "The PIN is positive."
  }
}
output "token" {
  value     = "token: ${var.pw}"
  sensitive = true
}
`,

		// Configuration checks that pass validate today and fail after an hour.
		"imgupper/main.sovos.hcl":    buildBase + "kernel \"k\" {\n  source = source.s\n  image  = \"Registry.example.com/UPPER/Case\"\n}\n",
		"imgtag/main.sovos.hcl":      buildBase + "kernel \"k\" {\n  source = source.s\n  image  = \"ghcr.io/x/kernel:v1\"\n}\n",
		"imgdigest/main.sovos.hcl":   buildBase + "kernel \"k\" {\n  source = source.s\n  image  = \"ghcr.io/x/kernel@sha256:5fbc6235d2c41e3a4fcec46cf680cb20ad33d9562ade2f5436ca023d65f13e59\"\n}\n",
		"imgempty/main.sovos.hcl":    buildBase + "kernel \"k\" {\n  source = source.s\n  image  = \"\"\n}\n",
		"platbanana/main.sovos.hcl":  kernelWith("  platform = \"banana\""),
		"platextra/main.sovos.hcl":   kernelWith("  platform = \"linux/arm64/v8/extra\""),
		"builderplat/main.sovos.hcl": "builder \"b\" {\n  address   = \"unix:///run/buildkit/buildkitd.sock\"\n  platforms = [\"linux/arm64\", \"linux/banana\"]\n}\n",
		"badtag/main.sovos.hcl":      kernelWith("  tags = [\"5.3.0\", \"-latest\"]"),
		"ctxnumber/main.sovos.hcl":   kernelWith("  contexts = { base = 5 }"),
		"ctxref/main.sovos.hcl":      kernelWith("  contexts = { base = \"Not An Image\" }"),
		"nopath/main.sovos.hcl":      "source \"s\" {\n  path = \"./gone\"\n}\n",
		"badref/main.sovos.hcl":      "image \"u\" {\n  ref = \"ghcr.io/Siderolabs/installer:v1\"\n}\n",
		"badaddr/main.sovos.hcl":     "builder \"b\" {\n  address = \"tcp//arm-runner:1234\"\n}\n",
		"notls/main.sovos.hcl":       "builder \"b\" {\n  address = \"tcp://arm-runner:1234\"\n  tls {\n    ca_cert = \"certs/ca.pem\"\n  }\n}\n",
		"tcpwarn/main.sovos.hcl":     "builder \"b\" {\n  address = \"tcp://arm-runner:1234\"\n}\n",
		"vpc/main.sovos.hcl":         profileWith("  version = \"v1.13.3\"", "kind = \"image\"\n    disk_size = 1306525696\n    disk_format = \"vpc\""),
		"size0/main.sovos.hcl":       profileWith("  version = \"v1.13.3\"", "kind = \"image\"\n    disk_size = 0"),
		"sizefrac/main.sovos.hcl":    profileWith("  version = \"v1.13.3\"", "kind = \"image\"\n    disk_size = 1.5"),
		"ukiplain/main.sovos.hcl":    profileWith("  version = \"v1.9.5\"", "kind = \"uki\""),
		"kernelargs/main.sovos.hcl":  profileWith("  version = \"v1.13.3\"\n  kernel_args = [\"console=tty1\"]", "kind = \"kernel\""),
		"initrdsb/main.sovos.hcl":    profileWith("  version = \"v1.13.3\"\n  secureboot = true", "kind = \"initramfs\""),
		"lilo/main.sovos.hcl":        profileWith("  version = \"v1.13.3\"", "kind = \"image\"\n    disk_size = 1306525696\n    bootloader = \"lilo\""),
		"replace/main.sovos.hcl":     kernelWith(""),
		"wsconfig/main.sovos.hcl":    "sovos {\n  state {\n    workspace = \"feature/x\"\n  }\n}\nlocals { a = 1 }\n",
		"secnofile/main.sovos.hcl":   kernelWith("  secrets = {\n    a = { file = \"nope.txt\" }\n  }"),
		"sbnofile/main.sovos.hcl": profileWith("  version = \"v1.13.3\"\n  secureboot = true\n  secureboot_keys = {\n    \"uki-signing-key.pem\" = { file = \"nokey.pem\" }\n  }",
			"kind = \"uki\""),
		"secenv/main.sovos.hcl":       kernelWith("  secrets = {\n    tok = { env = \"SOVOS_TEST_UNSET_TOKEN\" }\n  }"),
		"nodockerfile/main.sovos.hcl": kernelWith("  dockerfile = \"nope/Dockerfile\""),
		"nodefaultdf/main.sovos.hcl":  kernelWith(""),
		"nodefaultdf/src/README":      "no build file here\n",
		"pkgfile/main.sovos.hcl":      kernelWith(""),
		"pkgfile/src/Pkgfile":         "# syntax = ghcr.io/siderolabs/bldr:v0.6.2\n",
		"heredocref/main.sovos.hcl": `source "s" {
  git    = "https://example.invalid/s.git"
  ref    = <<EOT
v2
EOT
  commit = "0123456789abcdef0123456789abcdef01234567"
}
`,
		"spaceref/main.sovos.hcl": "image \"u\" {\n  ref = \"ghcr.io/x/y:v1 \"\n}\n",
		"optref/main.sovos.hcl":   "source \"s\" {\n  git    = \"https://example.invalid/s.git\"\n  ref    = \"--upload-pack=evil\"\n}\n",
		"pinaddr/main.sovos.hcl": `source "a" {
  git    = "https://example.invalid/a.git"
  ref    = "v1"
  commit = "0123456789abcdef0123456789abcdef01234567"
}

image "m" {
  for_each = toset(["x", "y"])
  ref      = "127.0.0.1:1/m:v1"
  digest   = "sha256:5fbc6235d2c41e3a4fcec46cf680cb20ad33d9562ade2f5436ca023d65f13e59"
}
`,
		"collide/main.sovos.hcl": pinnedImage + `profile "p" {
  for_each  = toset(["a/b", "a_b", "a\"b"])
  arch      = "arm64"
  version   = "v1.13.3"
  installer = image.up.ref
  output {
    kind = "installer"
  }
}
`,
	}
	for _, d := range []string{"sectags", "secimage", "secplatform", "secargs", "sectriggers", "imgupper", "imgtag",
		"imgdigest", "imgempty", "platbanana", "platextra", "badtag", "ctxnumber", "ctxref", "replace", "secnofile", "secenv", "nodockerfile"} {
		files[d+"/src/Dockerfile"] = "FROM scratch\n"
	}
	return files
}
