# The sovereign OS factory of ADR-005, in sovos's language.
#
# Talos kernels only load modules signed with the ephemeral key generated during *that*
# kernel's build ("key was rejected by service" otherwise). Upstream Talos ships no
# HailoRT 5.x driver for the Hailo-10H, so this factory builds:
#
#   kernel.sovereign      siderolabs/pkgs       the arm64 kernel (+ the hailort-pkg module stage)
#   extension.hailort     siderolabs/extensions HailoRT 5.3.0, module hailo1x_pci, signed by that kernel
#   installer.sovereign   siderolabs/talos      installer-base + imager carrying that kernel
#   profile.talos[...]    imager profiles for cm4-standard (upstream) and cm5-hailo10h (sovereign)
#
# Every *.sovos.hcl file in this directory is one configuration; the split into files is
# only for reading. `sovos plan` hashes every resource from its evaluated inputs and
# rebuilds only what changed, so a one-hour kernel build happens when the kernel's inputs
# change and never otherwise.

sovos {
  required_version = ">= 0.1.0"

  # The state (what was built, by digest, and the kernel's signing certificate) lives in
  # the registry next to the artifacts, as an OCI artifact tagged with the workspace
  # name; the lock is the tag "main.lock". Override locally with -state-path=DIR.
  state {
    registry  = "ghcr.io/urmanac/sovos-state"
    workspace = "main"
  }

  # Every image built and every module-signature attestation is signed keyless with
  # the apply workflow's GitHub OIDC identity (Fulcio + Rekor), so anyone can check
  # them with cosign; promotion only counts attestations signed by that workflow.
  signing {
    keyless  = true
    identity = "^https://github\\.com/urmanac/sovos/\\.github/workflows/sovos-apply\\.yml@refs/heads/main$"
  }
}

variable "registry" {
  type        = string
  default     = "ghcr.io/urmanac"
  description = "Repository prefix every sovereign artifact is pushed under."

  validation {
    condition     = trimspace(var.registry) != ""
    error_message = "The registry must not be empty, e.g. ghcr.io/urmanac."
  }
}

variable "talos_version" {
  type        = string
  default     = "v1.13.3"
  description = "Talos release the profiles target. Keep it in step with the talos source pin and the upstream image pins in upstream.sovos.hcl."

  validation {
    condition     = length(regexall("^v[0-9]+\\.[0-9]+\\.[0-9]+$", var.talos_version)) > 0
    error_message = "The Talos version looks like v1.13.3."
  }
}

variable "hailort_version" {
  type        = string
  default     = "5.3.0"
  description = "HailoRT driver version; it names the extension's stable tags."
}

variable "arm_builder" {
  type        = string
  default     = "unix:///run/buildkit/buildkitd.sock"
  description = "BuildKit daemon on the self-hosted arm64 runner (CI sets SOVOS_VAR_arm_builder)."
}

locals {
  talos    = var.talos_version
  platform = "linux/arm64"
}

# The kernel takes about an hour to build, and natively on arm64 (no QEMU), so every
# linux/arm64 build goes to the self-hosted runner's BuildKit daemon. Builder addresses
# are not hashed: moving the daemon rebuilds nothing. A daemon on another machine is
# tcp://arm-runner:1234 with
#   tls { ca_cert = "...", cert = "...", key = "...", server_name = "arm-runner" }
# (without tls, build secrets and registry credentials travel in clear), or ssh://.
builder "arm64" {
  address   = var.arm_builder
  platforms = [local.platform]
}
