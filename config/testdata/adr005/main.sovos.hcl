# ADR-005: a Talos factory for Raspberry Pi CM4/CM5 boards, the CM5 with a Hailo-10H.
sovos {
  required_version = ">= 0.1.0"
  state {
    registry  = "ghcr.io/urmanac/sovos-state"
    workspace = "main"
  }
}

variable "registry" {
  type        = string
  default     = "ghcr.io/urmanac"
  description = "where artifacts are pushed"
  validation {
    condition     = length(var.registry) > 0
    error_message = "registry must not be empty."
  }
}

locals {
  talos   = "v1.13.3"
  hailort = "5.3.0"
}

builder "arm64" {
  address   = "ssh://runner@arm-runner"
  platforms = ["linux/arm64"]
}

source "pkgs" {
  git    = "https://github.com/siderolabs/pkgs.git"
  ref    = "v1.13.0"
  commit = "0123456789abcdef0123456789abcdef01234567"
}

source "extensions" {
  git    = "https://github.com/siderolabs/extensions.git"
  ref    = "v1.13.0"
  commit = "89abcdef0123456789abcdef0123456789abcdef"
}

source "talos" {
  git    = "https://github.com/siderolabs/talos.git"
  ref    = local.talos
  commit = "fedcba9876543210fedcba9876543210fedcba98"
}

image "upstream_installer" {
  ref    = "ghcr.io/siderolabs/installer-base:${local.talos}"
  digest = "sha256:1111111111111111111111111111111111111111111111111111111111111111"
}

image "upstream_imager" {
  ref = "ghcr.io/siderolabs/imager:${local.talos}"
}

image "upstream_hailort" {
  ref = "ghcr.io/siderolabs/hailort:4.20.0-${local.talos}"
}

kernel "sovereign" {
  source   = source.pkgs
  frontend = "ghcr.io/siderolabs/bldr:v0.6.2"
  target   = "kernel"
  platform = "linux/arm64"
  args     = { TAG = local.talos }
  image    = "${var.registry}/kernel"
  tags     = ["${local.hailort}-${local.talos}", local.hailort]

  signing_cert {
    target = "kernel-build"
    path   = "/src/certs/signing_key.x509"
  }

  stage "hailort-pkg" {
    image = "${var.registry}/hailort-pkg"
  }
}

extension "hailort" {
  source   = source.extensions
  kernel   = kernel.sovereign
  target   = "hailort"
  platform = "linux/arm64"
  contexts = { pkg = kernel.sovereign.stage["hailort-pkg"].ref }
  image    = "${var.registry}/hailort"
  tags     = ["${local.hailort}-${local.talos}"]
}

installer "sovereign" {
  source   = source.talos
  kernel   = kernel.sovereign
  target   = "installer-base"
  platform = "linux/arm64"
  image    = "${var.registry}/installer-base"

  stage "imager" {
    image = "${var.registry}/imager"
  }
}

profile "cm4-standard" {
  arch       = "arm64"
  platform   = "metal"
  version    = local.talos
  installer  = image.upstream_installer.ref
  extensions = [image.upstream_hailort.ref]
  overlay {
    name  = "rpi_generic"
    image = "ghcr.io/siderolabs/sbc-raspberrypi:v0.1.6"
  }
  output {
    kind        = "image"
    out_format  = ".xz"
    disk_size   = 1306525696
    disk_format = "raw"
  }
  imager = image.upstream_imager.ref
}

profile "cm5-hailo10h" {
  arch        = "arm64"
  platform    = "metal"
  version     = local.talos
  secureboot  = false
  installer   = installer.sovereign.ref
  extensions  = [extension.hailort.ref]
  kernel_args = ["console=tty1"]
  overlay {
    name    = "rpi_generic"
    image   = "ghcr.io/siderolabs/sbc-raspberrypi:v0.1.6"
    options = {}
  }
  output {
    kind        = "image"
    out_format  = ".xz"
    disk_size   = 1306525696
    disk_format = "raw"
  }
  imager = installer.sovereign.stage["imager"].ref
  image  = "${var.registry}/installer-cm5"
  tags   = ["${local.hailort}-${local.talos}"]
}

output "kernel_ref" {
  value = kernel.sovereign.ref
}
