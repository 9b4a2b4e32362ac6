# Printed after apply and by `sovos output [-json] [NAME]`.

output "kernel" {
  value = kernel.sovereign.ref
}

output "hailort" {
  value = extension.hailort.ref
}

output "installer" {
  value = installer.sovereign.ref
}

output "imager" {
  value = installer.sovereign.stage["imager"].ref
}
