# The quickstart: the factory of ADR-005 (examples/sovereign-os) in miniature, built
# offline in about a minute against a local registry. `make demo` sets everything up and
# runs it; see README.md at the repository root for the tour.
#
#   kernel.sovereign       kernel/     kernel + throw-away signing key + signed hailo1x_pci
#   extension.hailort      extension/  the module repackaged as a system extension
#   installer.sovereign    talos/      installer-base + imager FROM ${PKG_KERNEL}
#   profile.cm4-standard   upstream installer (an image the demo pushed, pinned)
#   profile.cm5-hailo10h   the sovereign installer, extension and imager
#
# The sources are local directories (path sources), hashed by content: change one file
# and only what is built from it, and what consumes that, is rebuilt.

sovos {
  required_version = ">= 0.1.0"

  # The local registry speaks plain HTTP. This covers sovos's own calls; the BuildKit
  # daemon needs the same in its buildkitd.toml ([registry."HOST"] http = true), which
  # the demo writes.
  insecure_registries = [var.registry]

  # The state lives in the registry next to the artifacts, tag = workspace.
  state {
    registry  = "${var.registry}/quickstart/sovos-state"
    workspace = "main"
  }
}

variable "registry" {
  type        = string
  default     = "127.0.0.1:5000"
  description = "The local registry (host:port). The demo sets SOVOS_VAR_registry when port 5000 is taken."
}

variable "platform" {
  type        = string
  default     = "linux/amd64"
  description = "Platform of the builds; the demo sets SOVOS_VAR_platform to the machine's own, since busybox is copied from it."
}

locals {
  repo  = "${var.registry}/quickstart"
  talos = "v1.13.3"
}

source "kernel" { path = "./kernel" }
source "extension" { path = "./extension" }
source "talos" { path = "./talos" }

# Stands in for ghcr.io/siderolabs/installer: pushed by the demo (upstream/Dockerfile,
# a reproducible build) and pinned, so planning needs no registry call for it.
image "upstream_installer" {
  ref    = "${var.registry}/siderolabs/installer:${local.talos}"
  digest = "sha256:5fbc6235d2c41e3a4fcec46cf680cb20ad33d9562ade2f5436ca023d65f13e59"
}

kernel "sovereign" {
  source   = source.kernel
  target   = "kernel"
  platform = var.platform
  image    = "${local.repo}/kernel"

  # The certificate of the key kernel-build generated; solved in the kernel's own
  # session, read from the result, kept in the state. kernel-build is never pushed.
  signing_cert {
    target = "kernel-build"
    path   = "/src/certs/signing_key.x509"
  }

  # The module, signed in that same session with that same key, pushed as
  # hailort-pkg:TAG with the kernel's TAG.
  stage "hailort-pkg" {
    image = "${local.repo}/hailort-pkg"
  }
}

extension "hailort" {
  source   = source.extension
  platform = var.platform
  image    = "${local.repo}/hailort"

  # Every module in this extension must be signed by this kernel's key: apply checks it
  # before anything is built on the extension, and so does `sovos verify`.
  kernel = kernel.sovereign

  # COPY --from=hailort-pkg in extension/Dockerfile gets the kernel's stage, by digest.
  contexts = {
    "hailort-pkg" = kernel.sovereign.stage["hailort-pkg"].ref
  }

  # Moved to this build's digest by `apply -promote`, once it passed verification.
  tags = ["5.3.0-${local.talos}", "5.3.0"]
}

installer "sovereign" {
  source   = source.talos
  target   = "installer-base"
  platform = var.platform
  image    = "${local.repo}/installer-base"

  # sovos passes PKG_KERNEL = <kernel image>@<digest> (talos/Dockerfile: FROM ${PKG_KERNEL}).
  kernel = kernel.sovereign

  stage "imager" {
    image = "${local.repo}/imager"
  }

  tags = [local.talos]
}

# A board on the stock kernel: upstream artifacts only, so only its YAML is rendered
# (to _out/profiles/profile.cm4-standard.yaml).
profile "cm4-standard" {
  arch      = "arm64"
  platform  = "metal"
  version   = local.talos
  installer = image.upstream_installer.ref
  output { kind = "installer" }
}

# The Hailo-10H board: our installer, our extension, and our imager, all from
# kernel.sovereign (sovos refuses a profile that mixes kernels). The imager runs
# privileged with the host's devices (buildkitd needs --allow-insecure-entitlement
# security.insecure) and makes a disk image on a loop device; it is published to `image`
# as an OCI artifact (`sovos fetch profile.cm5-hailo10h`, or `oras pull`). A real CM5
# image is 1306525696 bytes; the stand-in makes 64 MiB, gzipped, to stay quick.
profile "cm5-hailo10h" {
  arch        = "arm64"
  platform    = "metal"
  version     = local.talos
  installer   = installer.sovereign.ref
  extensions  = [extension.hailort.ref]
  imager      = installer.sovereign.stage["imager"].ref
  kernel_args = ["console=tty1"]
  image       = "${local.repo}/talos-cm5-hailo10h"
  output {
    kind        = "image"
    out_format  = ".gz"
    disk_size   = 67108864
    disk_format = "raw"
  }
  tags = ["${local.talos}-hailort"]
}

output "kernel" { value = kernel.sovereign.ref }
output "hailort" { value = extension.hailort.ref }
output "installer" { value = installer.sovereign.ref }
