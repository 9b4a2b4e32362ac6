# The imager profiles: hardware × extension variants.
#
#   cm4-standard  Raspberry Pi CM4 boards on the stock Talos kernel: upstream installer,
#                 imager and (for the hailort variant) the upstream Hailo-8 extension.
#                 Nothing of ours boots there, so nothing of ours can break them.
#   cm5-hailo10h  CM5 boards with a Hailo-10H: the sovereign installer and imager, which
#                 carry kernel.sovereign, and extension.hailort signed by its key.
#
# Variants: "minimal" (no extensions) and "hailort" (the HailoRT runtime and driver).

locals {
  hardware = {
    "cm4-standard" = { sovereign = false }
    "cm5-hailo10h" = { sovereign = true }
  }
  variants = ["minimal", "hailort"]

  # One instance per (hardware, variant): profile.talos["cm5-hailo10h-hailort"], ...
  matrix = {
    for pair in setproduct(keys(local.hardware), local.variants) :
    "${pair[0]}-${pair[1]}" => {
      hardware  = pair[0]
      variant   = pair[1]
      sovereign = local.hardware[pair[0]].sovereign
    }
  }
}

profile "talos" {
  for_each = local.matrix

  arch       = "arm64"
  platform   = "metal"
  version    = local.talos
  secureboot = false

  # Kernel consistency: an extension tied to kernel.sovereign may only be booted by an
  # installer and imager built from kernel.sovereign, so the three choices below switch
  # together. validate names both kernels if they ever disagree.
  #
  # As in Terraform, both branches of a conditional are dependencies: the cm4 instances
  # also wait for the sovereign builds. But each instance consumes only the branch its
  # condition takes, so only that branch enters its hash: the cm4 instances are not
  # rebuilt when the sovereign kernel, installer or extension is.
  installer = each.value.sovereign ? installer.sovereign.ref : image.upstream_installer.ref
  imager    = each.value.sovereign ? installer.sovereign.stage["imager"].ref : image.upstream_imager.ref
  extensions = (
    each.value.variant == "minimal" ? [] :
    each.value.sovereign ? [extension.hailort.ref] : [image.upstream_hailort.ref]
  )

  kernel_args = ["console=tty1"]

  overlay {
    name    = "rpi_generic"
    image   = image.sbc_raspberrypi.ref
    options = {}
  }

  output {
    kind        = "image"
    out_format  = ".xz"
    disk_size   = 1306525696
    disk_format = "raw"
  }

  # The rendered YAML goes to _out/profiles/; the imager's disk image is pushed here as
  # an OCI artifact and tagged for the boards' provisioning.
  image = "${var.registry}/talos-${each.value.hardware}"
  tags  = ["${local.talos}-${each.value.variant}"]
}
