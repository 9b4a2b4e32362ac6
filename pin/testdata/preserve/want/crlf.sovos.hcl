source "extensions" {
  git = "https://example.invalid/siderolabs/extensions.git"
  ref = "v1.13.0"
  commit = "4444444444444444444444444444444444444444"
}

# CRLF line endings stay CRLF
image "overlay" {
  ref    = "ghcr.io/siderolabs/sbc-raspberrypi:v0.1.6"
  digest = "sha256:7777777777777777777777777777777777777777777777777777777777777777"
}
