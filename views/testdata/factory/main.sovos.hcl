# The factory the plan views are rendered from (views/plan_test.go): a kernel with a
# module stage, an extension and an installer built on it, profiles booting them and one
# booting upstream images. Variables make the changes the golden plans show.
sovos {
  state {
    workspace = "main"
  }
}

variable "registry" { default = "registry.example.com/urmanac" }
variable "pkgs_commit" { default = "0123abcd00000000000000000000000000000000" }
variable "boards" {
  type    = list(string)
  default = ["cm5-hailo10h"]
}
variable "rescue" {
  type    = bool
  default = false
}

builder "arm64" {
  address   = "tcp://arm-runner:1234"
  platforms = ["linux/arm64"]
}

source "pkgs" {
  git    = "https://github.com/siderolabs/pkgs.git"
  ref    = "v1.13.0"
  commit = var.pkgs_commit
}

source "talos" {
  git    = "https://github.com/siderolabs/talos.git"
  ref    = "v1.13.3"
  commit = "fedcba9800000000000000000000000000000000"
}

source "ext" { path = "./ext" }

image "upstream_installer" {
  ref    = "ghcr.io/siderolabs/installer-base:v1.13.3"
  digest = "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
}

kernel "sovereign" {
  source = source.pkgs
  target = "kernel"
  args   = { KERNEL_VERSION = "6.12.40" }
  image  = "${var.registry}/kernel"
  tags   = ["5.3.0-v1.13.3", "5.3.0"]
  stage "hailort-pkg" { image = "${var.registry}/hailort-pkg" }
}

extension "hailort" {
  source   = source.ext
  kernel   = kernel.sovereign
  contexts = { pkg = kernel.sovereign.stage["hailort-pkg"].ref }
  image    = "${var.registry}/hailort"
  tags     = ["5.3.0"]
}

installer "sovereign" {
  source = source.talos
  kernel = kernel.sovereign
  target = "installer-base"
  image  = "${var.registry}/installer-base"
  stage "imager" { image = "${var.registry}/imager" }
}

profile "talos" {
  for_each   = toset(var.boards)
  arch       = "arm64"
  platform   = "metal"
  version    = "v1.13.3"
  installer  = installer.sovereign.ref
  imager     = installer.sovereign.stage["imager"].ref
  extensions = [extension.hailort.ref]
  output { kind = "installer" }
  image = "${var.registry}/talos-${each.key}"
  tags  = ["v1.13.3"]
}

profile "cm4-standard" {
  arch      = "arm64"
  platform  = "metal"
  version   = "v1.13.3"
  installer = image.upstream_installer.ref
  output { kind = "installer" }
  image = "${var.registry}/talos-cm4-standard"
  tags  = ["v1.13.3"]
}

profile "rescue" {
  count     = var.rescue ? 1 : 0
  arch      = "arm64"
  platform  = "metal"
  version   = "v1.13.3"
  installer = image.upstream_installer.ref
  output { kind = "installer" }
  image = "${var.registry}/talos-rescue"
  tags  = ["v1.13.3"]
}
