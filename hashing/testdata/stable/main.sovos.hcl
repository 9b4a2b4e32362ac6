# Resource hashes of this configuration are pinned by TestHashesStable: they were
# computed by the first release and must never change (SPEC §4: same inputs, same hash).
variable "registry" {
  default = "registry.example/urmanac"
}

source "pkgs" {
  git    = "https://github.com/siderolabs/pkgs.git"
  ref    = "v1.13.0"
  commit = "0123456789abcdef0123456789abcdef01234567"
}

source "local" {
  path = "./ctx"
}

image "base" {
  ref    = "ghcr.io/siderolabs/installer-base:v1.13.3"
  digest = "sha256:1111111111111111111111111111111111111111111111111111111111111111"
}

image "recorded" {
  ref = "ghcr.io/siderolabs/imager:v1.13.3"
}

kernel "k" {
  source   = source.pkgs
  target   = "kernel"
  platform = "linux/arm64"
  args     = { BASE = image.base.ref, BASE_HASH = image.base.hash }
  image    = "${var.registry}/kernel"
  stage "pkg" {
    image = "${var.registry}/pkg"
  }
}

extension "e" {
  source   = source.local
  kernel   = kernel.k
  platform = "linux/arm64"
  contexts = { pkg = kernel.k.stage["pkg"].ref, imager = image.recorded.ref }
  triggers = { tag = kernel.k.tag }
  image    = "${var.registry}/ext"
}

installer "i" {
  source   = source.pkgs
  kernel   = kernel.k
  platform = "linux/arm64"
  image    = "${var.registry}/installer"
  stage "imager" {
    image = "${var.registry}/imager"
  }
}

profile "p" {
  arch       = "arm64"
  platform   = "metal"
  version    = "v1.13.3"
  installer  = installer.i.ref
  imager     = installer.i.stage["imager"].ref
  extensions = [extension.e.ref]
  output {
    kind = "installer"
  }
  image = "${var.registry}/installer-p"
}
