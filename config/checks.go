package config

import (
	"fmt"
	"math/big"
	"strconv"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
)

// Values the Talos imager accepts, and what it refuses, from siderolabs/talos
// pkg/imager/profile: output.go and its enumer files (kinds, out formats, disk formats
// raw/qcow2/vhd/ova), pkg/machinery/imager/imageropts (bootloaders) and Profile.Validate
// in profile.go, as of v1.13.3; the rules that changed with v1.10.0 (kernel args on a
// non-secureboot installer, a uki without secureboot, both refused up to v1.9) follow
// the profile's version, as the imager of that version would.
var (
	talosArches      = map[string]bool{"amd64": true, "arm64": true}
	talosOutputKinds = map[string]bool{"iso": true, "image": true, "installer": true, "kernel": true,
		"initramfs": true, "uki": true, "cmdline": true}
	talosOutFormats  = map[string]bool{"raw": true, ".tar.gz": true, ".xz": true, ".gz": true, ".zst": true}
	talosDiskFormats = map[string]bool{"raw": true, "qcow2": true, "vhd": true, "ova": true}
	// "none" parses too, but Validate refuses it for a disk image.
	talosBootloaders = map[string]bool{"dual-boot": true, "sd-boot": true, "grub": true}
)

// Talos versions where the imager's rules changed (pkg/machinery/imager/quirks).
var (
	talosMinUKI        = [3]int{1, 5, 0}  // SupportsUKI: secure boot needs a UKI
	talosLenientBefore = [3]int{1, 10, 0} // v1.9 refuses kernel args on a plain installer and a plain uki
)

// talosBefore says whether a profile's Talos version is known and older than v. An
// unknown or unparsable version counts as the latest, as the imager's quirks do.
func talosBefore(version string, v [3]int) bool {
	have, _, err := parseVersion(version)
	return err == nil && compareVersions(have, v) < 0
}

// checkProfile rejects what the Talos imager would reject, before an hour of builds.
func checkProfile(r *Resource, ib *instanceBody, board string) hcl.Diagnostics {
	var diags hcl.Diagnostics
	p := r.Profile
	outRange := r.DeclRange
	var out *evaluatedBlock
	// given lists output attributes that were written, even if they failed to
	// evaluate: their own diagnostic already explains them.
	given := map[string]bool{}
	for _, b := range ib.blocks {
		if b.Type == "output" {
			out, outRange = b, b.DefRange
			for n := range b.attrs {
				given[n] = true
			}
		}
	}
	outAttr := func(name string) hcl.Range {
		if out != nil {
			if a, ok := out.attrs[name]; ok {
				return a.Expr.Range()
			}
		}
		return outRange
	}
	errAt := func(rng hcl.Range, summary, detail string) {
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: summary, Detail: detail, Subject: rng.Ptr()})
	}
	known := func(name string) bool { v, ok := ib.vals[name]; return ok && v.IsWhollyKnown() }
	if known("arch") && !talosArches[p.Arch] {
		errAt(ib.rangeOf("arch"), "Invalid arch", fmt.Sprintf("The Talos imager builds amd64 or arm64, not %q; set arch to one of them.", p.Arch))
	}
	o := p.Output
	kind := o.Kind
	if kind != "" && !talosOutputKinds[kind] {
		errAt(outAttr("kind"), "Invalid output kind", fmt.Sprintf("%q is not an imager output kind; use iso, image, installer, kernel, initramfs, uki or cmdline.", kind))
		kind = ""
	}
	if o.OutFormat != "" && !talosOutFormats[o.OutFormat] {
		errAt(outAttr("out_format"), "Invalid out_format", fmt.Sprintf("%q is not an imager output format; use raw, .tar.gz, .xz, .gz or .zst.", o.OutFormat))
	}
	if o.DiskFormat != "" && !talosDiskFormats[o.DiskFormat] {
		hint := ""
		if o.DiskFormat == "vpc" {
			hint = " (Talos calls the VPC format vhd)"
		}
		errAt(outAttr("disk_format"), "Invalid disk_format", fmt.Sprintf("%q is not an imager disk format%s; use raw, qcow2, vhd or ova.", o.DiskFormat, hint))
	}
	if o.Bootloader != "" && !talosBootloaders[o.Bootloader] {
		errAt(outAttr("bootloader"), "Invalid bootloader", fmt.Sprintf("%q is not a bootloader the imager puts on a disk image; use dual-boot, sd-boot or grub (or leave it out for the version's default).", o.Bootloader))
	}
	if out != nil {
		if v, ok := out.vals["disk_size"]; ok {
			if v, _ := v.Unmark(); v.IsKnown() && !v.IsNull() {
				if bf := v.AsBigFloat(); !bf.IsInt() || bf.Sign() <= 0 {
					errAt(outAttr("disk_size"), "Invalid disk_size", fmt.Sprintf("disk_size is the disk image's size in bytes, a positive whole number (e.g. 1306525696), not %s.", bf.Text('g', -1)))
				} else if _, acc := bf.Int64(); acc != big.Exact {
					errAt(outAttr("disk_size"), "Invalid disk_size", "disk_size is larger than a 64-bit size in bytes; give the disk image's size in bytes.")
				}
			}
		}
	}
	if kind == "image" && o.DiskSize <= 0 && !given["disk_size"] {
		errAt(outRange, "Missing disk_size", "An image output needs output.disk_size in bytes (e.g. 1306525696); the imager rejects an image without a size.")
	}
	if kind != "" && kind != "image" && (given["disk_size"] || given["disk_format"] || given["bootloader"]) {
		errAt(outRange, "Image options on a non-image output", fmt.Sprintf("disk_size, disk_format and bootloader apply only to kind = \"image\", not %q; remove them.", kind))
	}
	sbKnown := known("secureboot") || ib.vals["secureboot"] == cty.NilVal
	sb := p.Secureboot
	if sbKnown && sb && known("version") && talosBefore(p.Version, talosMinUKI) {
		errAt(ib.rangeOf("secureboot"), "secureboot before Talos v1.5", fmt.Sprintf("Talos %s has no secure boot (it needs a UKI, from v1.5.0); remove secureboot or use a newer version.", p.Version))
	}
	lenient := !known("version") || !talosBefore(p.Version, talosLenientBefore)
	switch kind {
	case "kernel", "initramfs":
		if sbKnown && sb {
			errAt(ib.rangeOf("secureboot"), "secureboot with "+A(kind)+" output", fmt.Sprintf("The imager does not sign a bare %s; remove secureboot, or use kind = \"uki\" for a signed kernel.", kind))
		}
		if len(p.KernelArgs) > 0 {
			errAt(ib.rangeOf("kernel_args"), "kernel_args with "+A(kind)+" output", fmt.Sprintf("A bare %s carries no kernel command line, so the imager refuses kernel_args; pass them to the bootloader instead, or use kind = \"uki\" or \"iso\".", kind))
		}
	case "installer":
		if len(p.KernelArgs) > 0 && sbKnown && !sb && !lenient {
			errAt(ib.rangeOf("kernel_args"), "kernel_args with a non-secureboot installer",
				fmt.Sprintf("The Talos %s imager cannot bake extra kernel args into a non-secureboot installer (they go to the bootloader at install time; v1.10 and later can); remove kernel_args, set secureboot = true, or pass them in the machine config.", p.Version))
		}
	case "uki":
		if sbKnown && !sb && !lenient {
			errAt(outAttr("kind"), "uki without secureboot", fmt.Sprintf("The Talos %s imager builds a UKI only for secure boot (v1.10 and later build unsigned ones); set secureboot = true.", p.Version))
		}
	}
	diags = append(diags, checkSecurebootKeys(r, ib)...)
	if board != "" && !(p.Platform == "metal" && p.Arch == "arm64") {
		errAt(ib.rangeOf("board"), "board outside metal/arm64", fmt.Sprintf("A board applies only to platform \"metal\" with arch \"arm64\", not %s/%s; remove board or fix the platform.", p.Platform, p.Arch))
	}
	if board != "" && p.Overlay != nil {
		errAt(ib.rangeOf("board"), "Both board and overlay", "board is the pre-1.7 way to pick an SBC and overlay replaces it; keep only the overlay.")
	}
	if p.Overlay != nil && known("arch") && (p.Arch != "arm64" || p.Platform != "metal") {
		errAt(r.DeclRange, "overlay outside metal/arm64", fmt.Sprintf("Overlays (SBC board support) apply only to platform \"metal\" with arch \"arm64\", not %s/%s; remove the overlay or fix arch and platform.", p.Platform, p.Arch))
	}
	return diags
}

// SecurebootKeyNames are the files the Talos imager signs with when secureboot is on and
// its profile names no other (its defaults, under /secureboot).
var SecurebootKeyNames = []string{"uki-signing-key.pem", "uki-signing-cert.pem", "pcr-signing-key.pem"}

// talosSignedKinds are the outputs the imager signs under secureboot: each holds a UKI.
var talosSignedKinds = map[string]bool{"iso": true, "image": true, "installer": true, "uki": true}

// checkSecurebootKeys requires the signing keys of a secureboot profile whose imager
// signs its output, and keeps key names to plain file names (each is mounted at
// /secureboot/NAME).
func checkSecurebootKeys(r *Resource, ib *instanceBody) hcl.Diagnostics {
	p := r.Profile
	var diags hcl.Diagnostics
	_, given := ib.vals["secureboot_keys"]
	rng := ib.rangeOf("secureboot_keys")
	if sb, ok := ib.vals["secureboot"]; given && !p.Secureboot && (!ok || sb.IsWhollyKnown()) {
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagWarning, Summary: "secureboot_keys without secureboot",
			Detail: "The imager uses the secureboot_keys only when secureboot = true; set it, or remove the keys.", Subject: rng.Ptr()})
	}
	for name := range p.SecurebootKeys {
		if name == "." || name == ".." || FileSafe(name) != name {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid secureboot key name",
				Detail: fmt.Sprintf("%q is mounted at /secureboot/%s, so it must be a plain file name of A-Z, a-z, 0-9, '.', '_' and '-', e.g. \"uki-signing-key.pem\".", name, name), Subject: rng.Ptr()})
		}
	}
	// An imager reference is unknown in validate (no hashes yet), but it is there.
	_, runs := ib.vals["imager"]
	if !p.Secureboot || !talosSignedKinds[p.Output.Kind] || !runs || (given && p.SecurebootKeys == nil) {
		return diags
	}
	var missing []string
	for _, n := range SecurebootKeyNames {
		if _, ok := p.SecurebootKeys[n]; !ok {
			missing = append(missing, n)
		}
	}
	if len(missing) > 0 {
		subject := rng
		if !given {
			subject = ib.rangeOf("secureboot")
		}
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Missing secureboot keys",
			Detail: fmt.Sprintf("With secureboot = true the imager signs %s output with /secureboot/%s; secureboot_keys lacks %s. Add e.g. secureboot_keys = { %q = { file = \"keys/%s\" } } (or { env = \"VAR\" }): they reach the imager as BuildKit secrets, never in a layer, the plan or the state.",
				A(fmt.Sprintf("%q", p.Output.Kind)), strings.Join(SecurebootKeyNames, ", /secureboot/"), strings.Join(missing, ", "), missing[0], missing[0]),
			Subject: subject.Ptr()})
	}
	return diags
}

// kernelOf returns the kernel a resource is built from (itself for a kernel).
func (e *evaluator) kernelOf(addr string) string {
	r := e.instances[addr]
	if r == nil {
		return ""
	}
	switch {
	case r.Addr.Type == TypeKernel:
		return addr
	case r.Build != nil && r.Build.Kernel != nil:
		return r.Build.Kernel.String()
	}
	return ""
}

// checkKernelConsistency enforces that a profile boots the kernel its extensions were
// signed for: otherwise the modules fail with "key was rejected by service".
func (e *evaluator) checkKernelConsistency(r *Resource, ib *instanceBody) hcl.Diagnostics {
	var ext []tie
	for _, m := range consumedRefs(ib, "extensions") {
		if k := e.kernelOf(m.Addr); k != "" && (m.Type == TypeExtension || m.Type == TypeKernel) {
			ext = append(ext, tie{k, m.Addr, "extensions"})
		}
	}
	var boot []tie
	for _, name := range []string{"installer", "imager"} {
		for _, m := range consumedRefs(ib, name) {
			if k := e.kernelOf(m.Addr); k != "" {
				boot = append(boot, tie{k, m.Addr, name})
			}
		}
	}
	var diags hcl.Diagnostics
	if len(ext) == 0 {
		// Without custom extensions, the installer and imager must still agree.
		for _, b := range boot[min(1, len(boot)):] {
			if b.kernel != boot[0].kernel {
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Mismatched kernels",
					Detail:  fmt.Sprintf("%s: %s (%s) is built from %s but %s (%s) from %s; build both from the same kernel.", r.Addr, boot[0].attr, boot[0].via, boot[0].kernel, b.attr, b.via, b.kernel),
					Subject: ib.rangeOf(b.attr).Ptr()})
			}
		}
		return diags
	}
	want := ext[0]
	for _, x := range ext[1:] {
		if x.kernel != want.kernel {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Extensions for different kernels",
				Detail:  fmt.Sprintf("%s: %s is signed for %s but %s for %s; one profile boots one kernel, so build every extension against the same kernel.", r.Addr, want.via, want.kernel, x.via, x.kernel),
				Subject: ib.rangeOf("extensions").Ptr()})
		}
	}
	for _, b := range boot {
		if b.kernel != want.kernel {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Kernel mismatch",
				Detail:  fmt.Sprintf("%s would boot %s (through %s = %s) with %s built for %s, whose modules that kernel rejects (\"key was rejected by service\"); build %s from %s.", r.Addr, b.kernel, b.attr, b.via, want.via, want.kernel, b.via, want.kernel),
				Subject: ib.rangeOf(b.attr).Ptr()})
		}
	}
	for _, name := range []string{"installer", "imager"} {
		if _, ok := ib.vals[name]; ok && !hasTie(boot, name) && name == "installer" {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagWarning, Summary: "Custom extension with an upstream installer",
				Detail:  fmt.Sprintf("%s uses %s (signed for %s) but its installer is not built by sovos, so its kernel will likely reject the modules; use an installer built from %s.", r.Addr, want.via, want.kernel, want.kernel),
				Subject: ib.rangeOf(name).Ptr()})
		}
	}
	return diags
}

// consumedRefs returns the resources attribute name consumes (its marks, the untaken
// branch of a conditional pruned): a matrix instance that took the upstream branch is
// not tied to the sovereign kernel its other branch names.
func consumedRefs(ib *instanceBody, name string) []refMark {
	v, ok := ib.flow(name)
	if !ok {
		return nil
	}
	return refsOf(v)
}

// tie says which kernel a profile attribute brings in, and through which resource.
type tie struct{ kernel, via, attr string }

func hasTie(ts []tie, attr string) bool {
	for _, t := range ts {
		if t.attr == attr {
			return true
		}
	}
	return false
}

// checkRoute warns when a build's platform is listed by no builder, so it went to a
// builder that declares other platforms: BuildKit would emulate it (hours for a
// kernel) or refuse it, and the user most likely forgot a builder or misspelt the
// platform. A builder without platforms takes anything, silently.
func (e *evaluator) checkRoute(r *Resource, ib *instanceBody) hcl.Diagnostics {
	b := e.cfg.Builders[r.Builder]
	if b == nil || len(b.Platforms) == 0 || r.Platform == "" {
		return nil
	}
	for _, p := range b.Platforms {
		if p == r.Platform {
			return nil
		}
	}
	return hcl.Diagnostics{{Severity: hcl.DiagWarning, Summary: "Platform served by no builder",
		Detail: fmt.Sprintf("No builder lists %s in its platforms, so %s goes to builder.%s (platforms %s), which would have to emulate it; add the platform to a builder, or set builder = builder.%s to mean it.",
			r.Platform, r.Addr, b.Name, strings.Join(b.Platforms, ", "), b.Name),
		Subject: ib.rangeOf("platform").Ptr()}}
}

// checkKernelSecrets warns when the signing key could leave the kernel's build: the
// signing_cert target holds signing_key.pem next to the certificate.
func (e *evaluator) checkKernelSecrets(r *Resource, ib *instanceBody) hcl.Diagnostics {
	sc := r.Build.SigningCert
	if r.Addr.Type != TypeKernel || sc == nil || sc.Target == "" {
		return nil
	}
	var diags hcl.Diagnostics
	for _, b := range ib.blocks {
		switch {
		case b.Type == "stage" && b.Labels[0] == sc.Target:
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagWarning, Summary: "Signing key would be published",
				Detail:  fmt.Sprintf("The stage %q is the signing_cert target, which holds the kernel's private signing key; pushing it lets anyone sign modules for this kernel, so remove the stage.", sc.Target),
				Subject: b.DefRange.Ptr()})
		case b.Type == "cache" && str(b.vals["mode"]) == "max":
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagWarning, Summary: "Signing key would be cached",
				Detail:  fmt.Sprintf("cache mode = \"max\" exports every intermediate step, including %q with the kernel's private signing key, to %s; use mode = \"min\" or a private cache.", sc.Target, str(b.vals["ref"])),
				Subject: b.DefRange.Ptr()})
		}
	}
	return diags
}

// checkVersion enforces sovos.required_version before anything else is evaluated, since
// a newer configuration may use what this version cannot decode.
func (m *Module) checkVersion() hcl.Diagnostics {
	if m.settings == nil {
		return nil
	}
	a, ok := m.settings.body.attrs["required_version"]
	if !ok {
		return nil
	}
	v, diags := a.Expr.Value(nil)
	if diags.HasErrors() {
		return diags
	}
	if v.Type() != cty.String || v.IsNull() {
		return hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Invalid required_version",
			Detail: "required_version must be a literal string such as \">= 0.1.0\".", Subject: a.Expr.Range().Ptr()}}
	}
	ok, err := versionSatisfies(SovosVersion, v.AsString())
	if err != nil {
		return hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Invalid required_version",
			Detail: fmt.Sprintf("%s; write constraints like \">= 0.1.0, < 1.0.0\" or \"~> 0.1\".", err), Subject: a.Expr.Range().Ptr()}}
	}
	if !ok {
		return hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Unsupported sovos version",
			Detail: fmt.Sprintf("This configuration requires sovos %s, but this is sovos %s; install a matching sovos or relax required_version.", v.AsString(), SovosVersion), Subject: a.Expr.Range().Ptr()}}
	}
	return nil
}

// versionSatisfies checks a Terraform-style constraint list ("=", "!=", ">", ">=",
// "<", "<=", "~>") against a version.
func versionSatisfies(version, constraints string) (bool, error) {
	have, _, err := parseVersion(version)
	if err != nil {
		return false, err
	}
	for _, c := range strings.Split(constraints, ",") {
		c = strings.TrimSpace(c)
		op := "="
		for _, o := range []string{">=", "<=", "!=", "~>", ">", "<", "="} {
			if strings.HasPrefix(c, o) {
				op, c = o, strings.TrimSpace(c[len(o):])
				break
			}
		}
		want, n, err := parseVersion(c)
		if err != nil {
			return false, err
		}
		cmp := compareVersions(have, want)
		var ok bool
		switch op {
		case "=":
			ok = cmp == 0
		case "!=":
			ok = cmp != 0
		case ">":
			ok = cmp > 0
		case ">=":
			ok = cmp >= 0
		case "<":
			ok = cmp < 0
		case "<=":
			ok = cmp <= 0
		case "~>":
			// ~> 0.1 allows 0.x >= 0.1; ~> 0.1.2 allows 0.1.x >= 0.1.2.
			upper := want
			if n < 2 {
				n = 2
			}
			upper[n-2]++
			for i := n - 1; i < 3; i++ {
				upper[i] = 0
			}
			ok = cmp >= 0 && compareVersions(have, upper) < 0
		}
		if !ok {
			return false, nil
		}
	}
	return true, nil
}

func parseVersion(s string) ([3]int, int, error) {
	var v [3]int
	s = strings.TrimPrefix(strings.TrimSpace(s), "v")
	if i := strings.IndexAny(s, "-+"); i >= 0 {
		s = s[:i]
	}
	parts := strings.Split(s, ".")
	if len(parts) == 0 || len(parts) > 3 || parts[0] == "" {
		return v, 0, fmt.Errorf("invalid version %q", s)
	}
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 {
			return v, 0, fmt.Errorf("invalid version %q", s)
		}
		v[i] = n
	}
	return v, len(parts), nil
}

func compareVersions(a, b [3]int) int {
	for i := range a {
		if a[i] != b[i] {
			if a[i] < b[i] {
				return -1
			}
			return 1
		}
	}
	return 0
}
