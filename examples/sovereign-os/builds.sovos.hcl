# The three builds. Each is pushed as IMAGE:TAG where TAG is the content tag, the first
# 16 hex characters of the resource's hash; `.ref` is "IMAGE:TAG" and is known at plan
# time, so references below are resolved (and hashed) before anything is built. When a
# build consumes another one, sovos hands it the upstream's exact digest just before it
# runs.

# The kernel. pkgs is a bldr tree: the Pkgfile is read by the bldr frontend, which
# BuildKit runs as a gateway frontend exactly as `docker buildx build -f Pkgfile` would.
kernel "sovereign" {
  source     = source.pkgs
  frontend   = "ghcr.io/siderolabs/bldr:v0.6.2"
  dockerfile = "Pkgfile"
  target     = "kernel"
  platform   = local.platform
  image      = "${var.registry}/kernel"

  # Talos generates a throw-away module signing key inside the kernel-build step and
  # embeds its certificate in the kernel. sovos solves kernel-build in the kernel's own
  # BuildKit session, reads the certificate out of it and keeps only that (in the state
  # and as an artifact referring to the kernel image): `sovos verify` and every apply of
  # an extension check each .ko against it. kernel-build also holds the private key
  # signing_key.pem, which is why it is not a `stage` and is never pushed.
  signing_cert {
    target = "kernel-build"
    path   = "/src/certs/signing_key.x509"
  }

  # The hailo1x_pci module must be signed by this very build's key, which exists only
  # inside this session; building it later (or in the extensions tree) would mean a new
  # kernel-build and a new key. So the module package is a stage of the kernel: solved
  # together with "kernel" on the same builder in one session, and pushed as
  # hailort-pkg:TAG with the kernel's TAG. The extension below repackages it by digest.
  stage "hailort-pkg" {
    image = "${var.registry}/hailort-pkg"
  }

  # Layer cache for the next kernel build. Not hashed. mode = "max" would also export
  # the kernel-build step, private key included, so keep "min" (validate warns).
  cache {
    ref  = "${var.registry}/cache:kernel"
    mode = "min"
  }
}

# The HailoRT 5.3.0 system extension (module hailo1x_pci, for the Hailo-10H on CM5).
extension "hailort" {
  source     = source.extensions
  frontend   = "ghcr.io/siderolabs/bldr:v0.6.2"
  dockerfile = "Pkgfile"
  target     = "hailort"
  platform   = local.platform
  image      = "${var.registry}/hailort"

  # Ties the extension to the kernel whose key must have signed every module in it.
  # apply verifies that (SPEC §6) before anything downstream is built on it, and
  # `validate`/`plan` refuse a profile that would boot another kernel with it.
  kernel = kernel.sovereign

  # The Pkgfile copies the module from a "hailort-pkg" image; this named context
  # replaces it with the kernel's own stage, pinned by digest at apply time. Because the
  # reference is part of the hash, a kernel rebuild rebuilds the extension too.
  contexts = {
    "hailort-pkg" = kernel.sovereign.stage["hailort-pkg"].ref
  }

  args = {
    HAILORT_VERSION = var.hailort_version
    TAG             = local.talos
  }

  # Stable tags, moved to this build's digest by `apply -promote` only once the build
  # succeeded and its modules passed verification. Tags are not hashed.
  tags = ["${var.hailort_version}-${local.talos}", var.hailort_version]
}

# The installer. In Talos the kernel ends up in the imager, not in installer-base, so
# one build of siderolabs/talos produces both: installer-base as the primary target and
# the imager as a stage. sovos passes PKG_KERNEL = <kernel image>@<digest> as a build
# arg automatically (rename it with kernel_arg), which is how Talos's Dockerfile picks
# the kernel it packs.
installer "sovereign" {
  source   = source.talos
  target   = "installer-base"
  platform = local.platform
  image    = "${var.registry}/installer-base"
  kernel   = kernel.sovereign

  args = {
    TAG = local.talos
  }

  stage "imager" {
    image = "${var.registry}/imager"
  }

  tags = [local.talos]
}
