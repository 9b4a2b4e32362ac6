package executor

import "github.com/urmanac/sovos/executor/verify"

// ExtensionCheck is the verdict of `sovos verify` on one recorded extension: its
// modules against its kernel's signing key, and its Talos compatibility against the
// profiles that use it.
type ExtensionCheck struct {
	Address string
	Ref     string // image@digest checked
	Kernel  string // the kernel's address
	OK      bool
	// Error says why the extension could not be checked (then Modules is empty).
	Error string
	// Problem is a failure of the image as a whole (no module where one is expected).
	Problem            string
	Modules            []verify.ModuleResult
	TalosCompatibility string
	Profiles           []ProfileCheck
}

// ProfileCheck is the Talos compatibility of an extension with one profile using it.
type ProfileCheck struct {
	Address string
	Version string
	OK      bool
	Error   string
}
