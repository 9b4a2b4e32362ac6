# A miniature of ADR-005: a kernel whose kernel-build stage generates the module-signing
# key and signs a module (stage "modules"), an extension repackaging that module by
# digest, an installer FROM ${PKG_KERNEL}, and two profiles (one on upstream artifacts,
# one on ours, run through a stand-in imager that makes a real disk image, published as
# boot media).

variable "registry" { type = string }
variable "busybox" { type = string }   # HOST/testenv/busybox
variable "busybox_digest" { type = string }

sovos {
  insecure_registries = [split("/", var.registry)[0]]
}

source "kernel" { path = "./kernel" }
source "ext" { path = "./ext" }
source "installer" { path = "./installer" }

image "busybox" {
  ref    = var.busybox
  digest = var.busybox_digest
}

kernel "k" {
  source = source.kernel
  target = "kernel"
  image  = "${var.registry}/kernel"
  args   = { BUSYBOX = image.busybox.ref }
  stage "modules" { image = "${var.registry}/modules" }
  signing_cert {
    target = "kernel-build"
    path   = "/src/certs/signing_key.x509"
  }
  tags = ["stable"]
}

extension "e" {
  source   = source.ext
  kernel   = kernel.k
  image    = "${var.registry}/ext"
  contexts = { modules = kernel.k.stage["modules"].ref }
  args     = { BUSYBOX = image.busybox.ref }
  tags     = ["stable"]
}

installer "i" {
  source = source.installer
  kernel = kernel.k
  target = "installer-base"
  image  = "${var.registry}/installer"
  args   = { BUSYBOX = image.busybox.ref }
  stage "imager" { image = "${var.registry}/imager" }
  tags = ["stable"]
}

profile "cm4" {
  arch      = "arm64"
  platform  = "metal"
  version   = "v1.13.3"
  installer = image.busybox.ref
  output { kind = "installer" }
}

profile "cm5" {
  arch        = "arm64"
  platform    = "metal"
  version     = "v1.13.3"
  installer   = installer.i.ref
  extensions  = [extension.e.ref]
  kernel_args = ["console=tty1"]
  imager      = installer.i.stage["imager"].ref
  image       = "${var.registry}/cm5"
  output {
    kind        = "image"
    out_format  = ".gz"
    disk_size   = 33554432
    disk_format = "raw"
  }
  tags = ["stable"]
}

output "kernel" { value = kernel.k.ref }
