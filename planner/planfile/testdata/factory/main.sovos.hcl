# A small factory for the saved-plan tests: non-sensitive variables of several types, a
# sensitive one (a PIN) that must never reach a plan file in any form, a path source, a
# pinned image and a kernel built from both.
variable "registry" { type = string }
variable "flavours" {
  type    = list(string)
  default = ["arm64"]
}
variable "pin" {
  type      = string
  sensitive = true
  validation {
    condition     = length(var.pin) == 4
    error_message = "The PIN has four digits."
  }
}

source "src" { path = "./src" }

image "base" {
  ref    = "registry.example/base:v1"
  digest = "sha256:1111111111111111111111111111111111111111111111111111111111111111"
}

kernel "k" {
  for_each = toset(var.flavours)
  source   = source.src
  platform = "linux/arm64"
  args     = { BASE = image.base.ref, FLAVOUR = each.key }
  image    = "${var.registry}/kernel"
  tags     = ["stable"]
}

output "pin" {
  value     = var.pin
  sensitive = true
}
