// Package state holds sovos's record of what it built: the model (this file), its JSON
// codec, and the backends that store it (an OCI registry or a local OCI image layout),
// with locking. The model knows nothing of configurations or plans.
package state

import (
	"encoding/json"
	"time"
)

// Version is the state document format version this sovos writes. It reads version 1
// (the first release's) too, and upgrades it on the next write: version 2 added History,
// Resource.Attestations and Resource.RolledBack, which a first-release sovos would drop,
// so it refuses the newer version instead.
const Version = 2

// Media types of the state artifact (SPEC §7).
const (
	ArtifactType   = "application/vnd.sovos.state.v1"
	LayerMediaType = "application/vnd.sovos.state.v1+json"
)

// State is the whole state document of one workspace.
type State struct {
	Version      int                `json:"version"`
	Lineage      string             `json:"lineage"`
	Serial       uint64             `json:"serial"`
	SovosVersion string             `json:"sovos_version"`
	Workspace    string             `json:"workspace"`
	Resources    []*Resource        `json:"resources"`
	Outputs      map[string]*Output `json:"outputs,omitempty"`
	// History says what the operation that wrote this serial did (SPEC §10); nil in a
	// version-1 state.
	History *History `json:"history,omitempty"`
}

// Resource is what sovos recorded about one resource instance.
type Resource struct {
	Address string            `json:"address"`
	Type    string            `json:"type"`
	Hash    string            `json:"hash"`
	Tag     string            `json:"tag,omitempty"`
	Image   string            `json:"image,omitempty"`
	Digest  string            `json:"digest,omitempty"`
	Stages  map[string]*Stage `json:"stages,omitempty"`
	// ArtifactType is, for a profile, what its digest is: the artifactType of published
	// boot media (application/vnd.sovos.boot-media.v1), or, for output kind installer,
	// application/vnd.sovos.installer-image.v1 (the installer image itself). Empty for a
	// build, and for what an earlier sovos pushed for a profile (a single-tar image, or an
	// installer archive inside an image), which plan rebuilds.
	ArtifactType string `json:"artifact_type,omitempty"`
	// Tags maps each stable tag to the digest it was last moved to.
	Tags map[string]string `json:"tags,omitempty"`
	// Inputs are the evaluated hashed attributes, sensitive values redacted, so a plan
	// can say "old -> new".
	Inputs map[string]json.RawMessage `json:"inputs,omitempty"`
	// BuiltFrom maps each upstream resource address to the digest this build consumed.
	BuiltFrom map[string]string `json:"built_from,omitempty"`
	// SigningCert is the kernel's module signing certificate (DER).
	SigningCert []byte        `json:"signing_cert,omitempty"`
	Verified    *Verification `json:"verified,omitempty"`
	BuiltAt     time.Time     `json:"built_at,omitzero"`
	// Attestations maps a predicate type to the digest of the attestation manifest
	// (an OCI referrer of Digest) sovos attached for it (SPEC §9): the module-signature
	// attestation of an extension, and the image signature
	// (https://sigstore.dev/cosign/sign/v1) of a build when signing is configured.
	Attestations map[string]string `json:"attestations,omitempty"`
	// RolledBack is set when `sovos rollback` moved this resource's stable tags back to
	// an earlier serial's digests; the next promotion that moves them forward clears it.
	RolledBack *Rollback `json:"rolled_back,omitempty"`
}

// Rollback records which serial a resource's stable tags were rolled back to, and the
// serial the rollback itself wrote.
type Rollback struct {
	To uint64 `json:"to"`
	At uint64 `json:"at"`
}

// Stage is an extra target of a build pushed with the same tag.
type Stage struct {
	Image  string `json:"image"`
	Digest string `json:"digest"`
}

// Verification is the result of checking an extension's modules against its kernel's key.
type Verification struct {
	Digest  string          `json:"digest"`
	Kernel  string          `json:"kernel,omitempty"`
	OK      bool            `json:"ok"`
	At      time.Time       `json:"at,omitzero"`
	Modules []ModuleVerdict `json:"modules,omitempty"`
}

// ModuleVerdict is one kernel module's verdict: ok, unsigned, foreign_key, invalid.
type ModuleVerdict struct {
	Path    string `json:"path"`
	Verdict string `json:"verdict"`
	Detail  string `json:"detail,omitempty"`
}

// Output is a recorded output value.
type Output struct {
	Value     json.RawMessage `json:"value"`
	Sensitive bool            `json:"sensitive,omitempty"`
}

// Resource returns the recorded resource with the given address, or nil.
func (s *State) Resource(addr string) *Resource {
	if s == nil {
		return nil
	}
	for _, r := range s.Resources {
		if r.Address == addr {
			return r
		}
	}
	return nil
}
