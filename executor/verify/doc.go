// Package verify checks that kernel modules are signed by the key of the kernel that will
// load them, as the kernel itself does with CONFIG_MODULE_SIG_FORCE: it parses the
// signature that the kernel's sign-file appends to a module (a detached PKCS#7/CMS
// SignedData), checks the signature against the kernel's module-signing certificate, and
// walks the final filesystem of a system-extension image to do so for every module in it.
//
// It exists because a Talos kernel refuses any module not signed by the ephemeral key of
// its own build ("key was rejected by service"), and a board booted with such a module
// does not come up; sovos catches that before anything is promoted.
package verify
