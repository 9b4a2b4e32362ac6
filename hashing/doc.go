// Package hashing computes what identifies a resource: the RFC 8785 (JCS) canonical JSON
// and its SHA-256 (the resource hash and its content tag), the content hash of source
// trees, and the digests of images. Its Hasher implements config.Hooks, so the
// configuration learns hashes while it is evaluated; docs/hashing.md fixes the encoding.
package hashing
