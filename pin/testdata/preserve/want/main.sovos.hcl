# Pins kept by `sovos pin`. Everything in this file but the pins must survive
# byte for byte: comments, tabs, odd spacing, the order of blocks and attributes.

locals {
  talos  = "v1.13.3"
  pinned = "0123456789abcdef0123456789abcdef01234567"
}

/* A block comment
   before a block. */
source "pkgs" {
	git    = "https://example.invalid/siderolabs/pkgs.git"	# tab-indented
	ref    = "v1.13.0"   // the release tag
	commit = "1c2d3e4f11111111111111111111111111111111"   # behind the tag
}

source   "talos"   {
    git="https://example.invalid/siderolabs/talos.git"
    ref="main"    /* a block comment
                     that runs on */
    commit = "2222222222222222222222222222222222222222"
    subdir   =   "hack"
}

# A pin written as an expression is the user's to keep.
source "by_expr" {
  git    = "https://example.invalid/x.git"
  ref    = "v1.0.0"
  commit = local.pinned
}

source "local" { path = "." }

image "installer" {
  # the ref is a template; its pin is a literal
  ref     = "ghcr.io/siderolabs/installer:${local.talos}"
  digest  = "sha256:41aa666666666666666666666666666666666666666666666666666666666666"
}


image "current" {
  ref = "ghcr.io/siderolabs/imager:v1.13.3"
  digest = "sha256:1111111111111111111111111111111111111111111111111111111111111111"
}
