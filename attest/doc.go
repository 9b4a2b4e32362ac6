// Package attest makes what sovos pushes checkable by anyone with standard tools (SPEC
// §9): the module-signature attestation of an extension (an in-toto Statement v1 about
// the extension's index digest), the signatures of images and attestations (Sigstore
// bundles of DSSE envelopes, made with sigstore-go, with a cosign key pair or keyless
// through Fulcio and Rekor), and how both are attached to what they are about: as OCI
// 1.1 referrers laid out as cosign v3 writes and reads them, so `cosign verify` and
// `cosign verify-attestation` check them without sovos.
//
// Passing is the one answer to "does this extension digest have a passing
// module-signature attestation for this kernel (digest, certificate)?": promotion, `sovos
// verify` and rollback all ask it.
package attest
