// Package planner decides what sovos must do: it compares the hashed configuration with
// the recorded state and the registry, and produces a Plan with one action and its
// reasons per resource. It never hashes (package hashing does), never builds and never
// prints (package views renders a Plan).
package planner

import (
	"encoding/json"
	"fmt"

	"github.com/urmanac/sovos/config"
	"github.com/urmanac/sovos/hashing"
	"github.com/urmanac/sovos/internal/oci"
	"github.com/urmanac/sovos/state"
)

// FormatVersion is the version of the plan's JSON representation (SPEC §4).
const FormatVersion = "1.0"

// Action is what a plan does to one resource.
type Action string

// Actions, SPEC §4.
const (
	ActionCreate  Action = "create"
	ActionAdopt   Action = "adopt"
	ActionRebuild Action = "rebuild"
	ActionPromote Action = "promote"
	ActionForget  Action = "forget"
	ActionNoop    Action = "no-op"
)

// Reason kinds: the machine-readable half of a Reason.
const (
	ReasonNotInState      = "not_in_state"
	ReasonFoundInRegistry = "found_in_registry"
	ReasonAttrChanged     = "attr_changed"
	ReasonSourceChanged   = "source_changed"
	ReasonImageChanged    = "image_changed"
	ReasonDependency      = "dependency"
	ReasonUpstreamDigest  = "upstream_digest"
	ReasonArtifactMissing = "artifact_missing"
	ReasonReplace         = "replace"
	ReasonHashChanged     = "hash_changed"
	ReasonPromote         = "promote"
	// ReasonRolledBack: a promote that moves stable tags forward again after `sovos
	// rollback` moved them back.
	ReasonRolledBack   = "rolled_back"
	ReasonRemoved      = "removed_from_config"
	ReasonVerifyFailed = "verification_failed"
	// ReasonArtifactFormat: the recorded artifact is what an earlier sovos pushed for a
	// profile: a single-tar image where boot media are now an OCI artifact, or an image
	// holding an installer archive where the installer image itself is now pushed.
	ReasonArtifactFormat = "artifact_format"
	// ReasonCertMissing: a kernel found in the registry without its signing-certificate
	// artifact, which is not adopted.
	ReasonCertMissing = "signing_cert_missing"
)

// AnnotationHash is the manifest annotation every sovos build carries: the resource hash
// it was built from. It lets a plan adopt an artifact that is missing from the state.
// hashing.AnnotationHash is its one definition.
const AnnotationHash = hashing.AnnotationHash

// CertArtifactType is the artifact type of a kernel's signing certificate, stored as a
// referrer of the kernel's manifest before the kernel is recorded in the state. A kernel
// found in the registry without it is not adopted: its modules could not be verified.
const CertArtifactType = "application/vnd.sovos.signing-cert.v1"

// NewBuild is the "after" of a tag that moves to a digest not known before the build.
const NewBuild = "(new build)"

// Reason explains one cause of an action.
type Reason struct {
	Kind    string
	Message string
}

// Snapshot is one side of a change: what is recorded (Before) or what the configuration
// asks for (After, which has no digest until it is built).
type Snapshot struct {
	Hash, Tag, Ref, Digest string
}

// TagChange is a stable tag that -promote moves.
type TagChange struct {
	Before, After string
}

// Moves reports whether the tag points somewhere else after the plan.
func (tc TagChange) Moves() bool { return tc.Before != tc.After }

// Text says how tag moves, the one wording of reasons and renderers:
// `5.3.0: sha256:0123456789ab -> (new build)`, "(unset)" for a tag not set before.
func (tc TagChange) Text(tag string) string {
	before := tc.Before
	if before == "" {
		before = "(unset)"
	}
	return fmt.Sprintf("%s: %s -> %s", tag, ShortDigest(before), ShortDigest(tc.After))
}

// ResourceChange is the planned action for one resource.
type ResourceChange struct {
	Address, Type, Name string
	// Index is the instance key: nil, a string (for_each) or an int (count).
	Index any

	Action  Action
	Reasons []Reason

	// Builder is the builder address ("builder.arm64"); empty for profiles without one.
	Builder string
	// Tags holds the stable tags -promote moves (only when the plan promotes).
	Tags map[string]TagChange

	Before *Snapshot // nil when not in the state
	After  *Snapshot // nil for forget

	DependsOn []string

	// Inputs are what the state records as the resource's inputs (RecordedInputs),
	// computed when planning, so the executor records what was planned; nil for forget.
	Inputs map[string]json.RawMessage

	// Resource is the configuration of the resource; nil for forget and for a plan read
	// from a file until it is bound to a configuration (File.Bind).
	Resource *config.Resource
	// Prior is the recorded resource; nil when it is not in the state.
	Prior *state.Resource

	// AdoptDigest is, for adopt, the digest found in the registry at image:tag, and
	// AdoptStages the digests of its stages (target → digest).
	AdoptDigest string
	AdoptStages map[string]string

	// Boots is, for a profile, the images it boots: what a reviewer checks first
	// (upstream or sovereign). Kept in saved plans, so `show FILE` renders it too.
	Boots *ProfileImages
}

// ProfileImages are the images a profile's YAML names, as evaluated at plan time.
type ProfileImages struct {
	Installer  string   `json:"installer,omitempty"`
	Imager     string   `json:"imager,omitempty"`
	Extensions []string `json:"extensions,omitempty"`
}

// StateRef identifies the state a plan was made against.
type StateRef struct {
	Lineage string
	Serial  uint64
	Digest  string
}

// Summary counts the actions of a plan.
type Summary struct {
	Create, Adopt, Rebuild, Promote, Forget, NoOp int
}

// Plan is the result of planning: one ResourceChange per build resource and profile, in
// dependency order, followed by the forgotten ones.
type Plan struct {
	FormatVersion string
	SovosVersion  string
	Workspace     string
	State         StateRef
	Changes       []*ResourceChange
	// Data lists the sources and images the builds read. They are never built, so they
	// carry no action of their own (always no-op): a changed source shows up as a reason
	// on the builds that use it. The executor records them so the next plan can say what
	// changed in them.
	Data    []*ResourceChange
	Summary Summary
	// Promote is true when the plan moves stable tags (-promote).
	Promote   bool
	Applyable bool
	// Targets limited the plan (-target); kept so a saved plan says so.
	Targets []string

	Config *config.Config // not serialized
	Prior  *state.State   // not serialized
}

// Options tune MakePlan.
type Options struct {
	// Targets limits the plan to these addresses and their dependencies.
	Targets []string
	// Replace forces a rebuild of these addresses.
	Replace []string
	// Refresh checks the registry: recorded artifacts still exist, unrecorded ones may be
	// adopted. Without it the plan makes no network call.
	Refresh bool
	// Promote plans moving each resource's stable tags to its digest.
	Promote bool
	// Registry makes the refresh's registry calls; nil means oci.New().
	Registry *oci.Client
	// Concurrency bounds concurrent registry requests (default 16).
	Concurrency int
}

// HasChanges reports whether applying the plan would do anything.
func (p *Plan) HasChanges() bool {
	s := p.Summary
	return s.Create+s.Adopt+s.Rebuild+s.Promote+s.Forget > 0
}

// Change returns the change for an address, or nil.
func (p *Plan) Change(addr string) *ResourceChange {
	for _, c := range p.Changes {
		if c.Address == addr {
			return c
		}
	}
	return nil
}

func (p *Plan) summarize() {
	p.Summary = Summary{}
	for _, c := range p.Changes {
		switch c.Action {
		case ActionCreate:
			p.Summary.Create++
		case ActionAdopt:
			p.Summary.Adopt++
		case ActionRebuild:
			p.Summary.Rebuild++
		case ActionPromote:
			p.Summary.Promote++
		case ActionForget:
			p.Summary.Forget++
		default:
			p.Summary.NoOp++
		}
	}
	p.Applyable = p.HasChanges()
}

// isData reports whether a resource type is read, not built.
func isData(typ string) bool { return typ == config.TypeSource || typ == config.TypeImage }
