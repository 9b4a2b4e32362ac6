// Package modsigntest signs kernel modules the way the kernel build's sign-file does and
// makes throw-away module-signing keys and modules, for tests and for the modsign tool
// (internal/modsign) that end-to-end builds run. sovos itself only verifies signatures
// (executor/verify); production code must not import this package.
package modsigntest
