// Package executor carries out a plan: it walks the plan's resources in dependency order
// (package dag), builds kernels, extensions and installers through a BuildKit daemon
// (package bkdriver), checks every extension's modules against its kernel's key (package
// verify), renders and runs imager profiles, records each result in the state as soon as
// it is known, and finally moves stable tags when asked to promote.
//
// What each action does:
//
//   - create, rebuild (kernel, extension, installer): one BuildKit session per resource
//     builds its target, its stages and its signing_cert target, and pushes IMAGE:TAG
//     (annotated dev.sovos.hash). Every reference to another resource (contexts, build
//     args equal to a .ref, the installer's PKG_KERNEL) is pinned as image@digest first.
//     A kernel's certificate is kept in the state (DER) and pushed as an OCI artifact
//     (CertArtifactType) whose subject is the kernel manifest.
//   - extension (any action): its image is checked against its kernel's certificate,
//     unless this exact digest already passed; a bad module fails the node, so nothing
//     built on it (a profile) runs.
//   - profile: its imager profile is rendered to DEST/ADDRESS.yaml (ADDRESS file-safe) on
//     every apply; when created or rebuilt with an imager, the imager image runs on it
//     through BuildKit, privileged (security.insecure, in that solve only) and with the
//     host's devices (imager-init mounts a devtmpfs at /dev, then runs the imager's
//     entrypoint with "-" and the profile on stdin). /out is exported to disk, then the
//     installer image in its installer-<arch>.tar is pushed (kind installer), or its
//     files are published as a boot-media artifact (package bootmedia for both); without
//     an image, /out is exported to DEST/ADDRESS/.
//   - adopt: the digest the plan found is recorded, with no build (a kernel's
//     certificate comes from the artifact next to its image). forget: dropped from the
//     state. no-op: nothing.
//
// The state is updated as each node finishes (the state.Writer coalesces writes) and
// flushed before Apply returns, also when the context is cancelled; when that last write
// fails, the state is saved to .sovos/errored-state.json for `sovos state push`.
package executor
