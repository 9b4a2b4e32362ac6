source "extensions" {
  git = "https://example.invalid/siderolabs/extensions.git"
  ref = "v1.13.0"
}

# CRLF line endings stay CRLF
image "overlay" {
  ref    = "ghcr.io/siderolabs/sbc-raspberrypi:v0.1.6"
  digest = "sha256:f850dff80c7e96691862155d5fddbf32835aacf6480055fc16d067bae8057f43"
}
