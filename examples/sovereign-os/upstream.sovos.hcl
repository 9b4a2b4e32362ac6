# What the factory starts from: three pinned git sources and the upstream images the
# cm4-standard boards keep using.
#
# PINS TO BE UPDATED: the commits and digests below are placeholders of the right shape
# for the refs they name. Before a real apply, run
#
#     sovos -chdir=examples/sovereign-os pin -upgrade
#
# It asks each source's remote (git ls-remote; a tag pins the commit it peels to) and
# each image's registry (the digest `crane digest` prints) what the ref points at now, and
# rewrites only the `commit` and `digest` values in this file. `sovos pin -check` tells
# whether any pin is behind (examples/github-actions/sovos-pins.yml runs it weekly).
# sovos hashes a git source by its commit (and subdirectory) only: `ref` is what `pin`
# follows, and switching the URL from https to ssh rebuilds nothing.

# siderolabs/pkgs builds the kernel. hailort-pkg, the out-of-tree hailo1x_pci module, is a
# package of this tree too (ADR-005 carries it on top of the release), because a module
# must be compiled in the same BuildKit session as the kernel-build step whose key signs it.
source "pkgs" {
  git    = "https://github.com/siderolabs/pkgs.git"
  ref    = "v1.13.0"
  commit = "8b9fad9a8dd320b4f9aa69f557dd2981d05a12fb"
}

# siderolabs/extensions packages the module (plus the HailoRT userspace) as a system
# extension image with its manifest.yaml.
source "extensions" {
  git    = "https://github.com/siderolabs/extensions.git"
  ref    = "v1.13.0"
  commit = "d9c090bb0192f41b22245ccfc711c6589f3b44a8"
}

# siderolabs/talos builds installer-base and the imager; the imager carries the kernel.
source "talos" {
  git    = "https://github.com/siderolabs/talos.git"
  ref    = "v1.13.3"
  commit = "e80c41d68e180669ae70f9177d3ee2bbea2cc9a0"
}

# Upstream images are resolved to a digest at plan time. With a `digest` pin no registry
# call is needed at all, which is what lets `plan -refresh=false` run offline; a pin is
# also what makes "upstream changed under the same tag" a reviewed config change instead
# of a surprise. If you change var.talos_version, change these refs' pins with it.

# cm4-standard boots the stock Talos kernel, so it keeps the stock installer and imager:
# they carry the kernel upstream's own extensions are signed for.
image "upstream_installer" {
  ref    = "ghcr.io/siderolabs/installer:${local.talos}"
  digest = "sha256:0d767883b78df3dc9a36abe9172a0ee0170d6680d10c92fd80a87f065243e5c6"
}

image "upstream_imager" {
  ref    = "ghcr.io/siderolabs/imager:${local.talos}"
  digest = "sha256:ad017ce689b91c66a6b4d2e1c43a59a65bcd095044594b4b18ea2d01b4f64449"
}

# The upstream HailoRT extension (4.x, for the Hailo-8) is signed by the upstream kernel's
# key, so it may only go into profiles that boot the upstream kernel. Putting
# extension.hailort (signed by kernel.sovereign) there instead is exactly what sovos's
# kernel-consistency check rejects.
image "upstream_hailort" {
  ref    = "ghcr.io/siderolabs/hailort:4.21.0-${local.talos}"
  digest = "sha256:ae00220a20c7b6f2af41451a1673b265fea11ad6f11f1bef5508b94bd50ad979"
}

# The Raspberry Pi overlay (firmware, DTBs, u-boot) used by both CM4 and CM5 boards.
image "sbc_raspberrypi" {
  ref    = "ghcr.io/siderolabs/sbc-raspberrypi:v0.1.6"
  digest = "sha256:f850dff80c7e96691862155d5fddbf32835aacf6480055fc16d067bae8057f43"
}
