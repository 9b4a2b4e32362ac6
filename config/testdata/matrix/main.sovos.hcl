# A keyed matrix: every board gets its own kernel and an extension signed by that very
# kernel (kernel.k[each.key]), and a profile that boots them on the custom boards only.
locals {
  boards = {
    cm4 = { custom = false }
    cm5 = { custom = true }
  }
}

source "pkgs" {
  git    = "https://github.com/siderolabs/pkgs.git"
  commit = "0123456789abcdef0123456789abcdef01234567"
}

image "upstream_installer" {
  ref    = "ghcr.io/siderolabs/installer:v1.13.3"
  digest = "sha256:0000000000000000000000000000000000000000000000000000000000000001"
}

kernel "k" {
  for_each = local.boards
  source   = source.pkgs
  image    = "ghcr.io/urmanac/kernel-${each.key}"
}

extension "hailort" {
  for_each = local.boards
  source   = source.pkgs
  kernel   = kernel.k[each.key]
  image    = "ghcr.io/urmanac/hailort-${each.key}"
}

installer "talos" {
  for_each = local.boards
  source   = source.pkgs
  kernel   = kernel.k[each.key]
  image    = "ghcr.io/urmanac/installer-${each.key}"
}

profile "talos" {
  for_each   = local.boards
  arch       = "arm64"
  version    = "v1.13.3"
  installer  = each.value.custom ? installer.talos[each.key].ref : image.upstream_installer.ref
  extensions = each.value.custom ? [extension.hailort[each.key].ref] : []
  output {
    kind = "installer"
  }
}
