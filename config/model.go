package config

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"unsafe"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
)

// Resource types that form the graph.
const (
	TypeSource    = "source"
	TypeImage     = "image"
	TypeKernel    = "kernel"
	TypeExtension = "extension"
	TypeInstaller = "installer"
	TypeProfile   = "profile"
)

// Address names one resource instance: kernel.sovereign, profile.talos["cm5-hailo10h"],
// source.pkgs[0]. Key is nil (no for_each/count), a string (for_each) or an int (count).
type Address struct {
	Type string
	Name string
	Key  any
}

// String renders the address the way users write it.
func (a Address) String() string {
	switch k := a.Key.(type) {
	case nil:
		return a.Type + "." + a.Name
	case int:
		return a.Type + "." + a.Name + "[" + strconv.Itoa(k) + "]"
	case string:
		// Built in one allocation: plans and evaluation render every instance's address
		// several times.
		b := make([]byte, 0, len(a.Type)+len(a.Name)+len(k)+5)
		b = append(append(append(b, a.Type...), '.'), a.Name...)
		b = append(strconv.AppendQuote(append(b, '['), k), ']')
		return unsafe.String(unsafe.SliceData(b), len(b))
	default:
		return a.Type + "." + a.Name + fmt.Sprintf("[%v]", k)
	}
}

// Base is the address without its instance key (kernel.sovereign for kernel.sovereign[0]).
func (a Address) Base() string { return a.Type + "." + a.Name }

// ParseAddress parses "type.name", `type.name["key"]` or "type.name[0]".
func ParseAddress(s string) (Address, error) {
	var a Address
	rest := s
	if i := strings.IndexByte(rest, '['); i >= 0 {
		if !strings.HasSuffix(rest, "]") {
			return a, fmt.Errorf("invalid address %q: unclosed [", s)
		}
		key := rest[i+1 : len(rest)-1]
		rest = rest[:i]
		if uq, err := strconv.Unquote(key); err == nil {
			a.Key = uq
		} else if n, err := strconv.Atoi(key); err == nil {
			a.Key = n
		} else {
			return a, fmt.Errorf("invalid address %q: instance key must be a quoted string or a number", s)
		}
	}
	parts := strings.Split(rest, ".")
	if len(parts) != 2 || parts[0] == "" || parts[1] == "" {
		return a, fmt.Errorf("invalid address %q: expected TYPE.NAME, e.g. kernel.sovereign", s)
	}
	a.Type, a.Name = parts[0], parts[1]
	return a, nil
}

// Config is an evaluated configuration: the input of the planner.
type Config struct {
	Dir      string
	Files    map[string]*hcl.File // by file name, for rendering diagnostics
	Settings Settings
	// Variables holds every declared variable with its final value.
	Variables []*Variable
	Builders  map[string]*Builder
	// Resources lists every resource instance in dependency order (a resource comes
	// after everything it depends on).
	Resources []*Resource
	Outputs   []*Output

	// index maps address strings to Resources; filled by Evaluate so Resource is O(1)
	// for planners that look up every dependency.
	index map[string]*Resource
	// consumers maps an address to the resources consuming it (Consumers).
	consumers map[string][]*Resource
}

// Resource returns the resource with the given address, or nil.
func (c *Config) Resource(addr string) *Resource {
	if r := c.index[addr]; r != nil {
		return r
	}
	for _, r := range c.Resources {
		if r.Addr.String() == addr {
			return r
		}
	}
	return nil
}

// Settings is the sovos block.
type Settings struct {
	RequiredVersion    string
	InsecureRegistries []string
	State              StateSettings
	// Signing is sovos.signing (SPEC §9); nil when images and attestations are not
	// signed.
	Signing *SigningSettings
	// Unset maps each setting that derives from a required variable without a value
	// (EvalOptions.Validate) to those variables, by its name as written:
	// "sovos.insecure_registries", "sovos.state.registry", "sovos.state.path", and
	// "sovos.state.workspace" when no -workspace or SOVOS_WORKSPACE decides instead.
	// Such a setting reads as absent; a command that needs it asks with Needs.
	Unset map[string][]string
}

// Needs returns an *UnsetError when the setting named (a key of Unset) derives from a
// required variable without a value.
func (s Settings) Needs(setting string) error {
	if vars := s.Unset[setting]; len(vars) > 0 {
		return &UnsetError{What: setting, Vars: vars}
	}
	return nil
}

// SigningSettings is sovos.signing: a cosign key pair (Key, optionally PublicKey), or
// Sigstore keyless signing (Keyless and its options). Paths are absolute after
// evaluation; the key files are read only when something is signed or verified.
type SigningSettings struct {
	// Key is the cosign private key (its password comes from COSIGN_PASSWORD);
	// PublicKey the matching cosign.pub, which verification uses when it is set (so
	// checking needs no password).
	Key, PublicKey string
	Keyless        bool
	// Identity is a regular expression the keyless certificate's subject alternative
	// name must match when verifying (empty: any); Issuer its OIDC issuer (empty:
	// GitHub Actions).
	Identity, Issuer string
	// FulcioURL, RekorURL: the Sigstore instances (empty: the public good ones);
	// TrustedRoot a trusted_root.json to verify against instead of Sigstore's TUF root.
	FulcioURL, RekorURL, TrustedRoot string
	DeclRange                        hcl.Range
}

// DefaultStatePath is where the state is kept without a sovos.state block (or a
// -state-registry/-state-path flag): an OCI image layout, relative to the configuration
// directory.
const DefaultStatePath = ".sovos/state"

// StateSettings is sovos.state. Exactly one of Registry and Path is set after
// evaluation (Path defaults to DefaultStatePath, relative to the configuration directory).
type StateSettings struct {
	Registry  string
	Path      string
	Workspace string
}

// Variable is a declared input variable and its final value.
type Variable struct {
	Name        string
	Description string
	Sensitive   bool
	Value       cty.Value
	DeclRange   hcl.Range
}

// Builder is a BuildKit daemon.
type Builder struct {
	Name      string
	Address   string
	Platforms []string
	TLS       *BuilderTLS
	DeclRange hcl.Range
}

// BuilderTLS holds client TLS settings for a remote builder.
type BuilderTLS struct {
	CACert, Cert, Key, ServerName string
}

// Output is an output block after evaluation.
type Output struct {
	Name      string
	Value     cty.Value
	Sensitive bool
}

// Resource is one evaluated resource instance.
type Resource struct {
	Addr      Address
	DeclRange hcl.Range
	// DependsOn lists the direct dependencies: every resource instance referenced by the
	// block (both branches of a conditional) plus depends_on. A reference indexed by a
	// key the instance knows (kernel.k[each.key]) names that one instance; otherwise
	// every instance of the referenced block. Builders are not resources.
	DependsOn []Address
	// Consumes is the part of DependsOn whose values reach this instance's evaluated
	// attributes, its nested blocks' included (data flow, by cty marks; a conditional
	// with a known condition only through the branch it took), plus depends_on. Only these enter the hash and make
	// it follow a rebuild, so one instance of a matrix is not rebuilt for a resource
	// only its other branch names. Never nil after evaluation.
	Consumes []Address
	// Unset maps each attribute whose value derives from a required variable without a
	// value (EvalOptions.Validate) to those variables: a nested block's attribute as
	// "block.attr", and "for_each" or "count" when the instance's key waits for one. A
	// command asks with Needs. Nil otherwise.
	Unset map[string][]string
	// Platform of a build or profile ("linux/arm64"); empty for sources and images.
	Platform string
	// Builder is the name of the builder the resource is routed to (not hashed).
	Builder string

	// HashedAttrs are the evaluated attributes that enter the hash (SPEC §4), with
	// source/kernel references replaced by the referenced resource's hash. Values may
	// carry the "sensitive" mark (see MarkSensitive); hashers must unmark them.
	HashedAttrs map[string]cty.Value

	// Hash (full sha256 hex) and Tag (its content tag) are filled during evaluation by
	// the Hooks; empty when evaluated without hooks (validate, graph). An image has no
	// hash: it is identified by its digest (ImageSpec.Digest).
	Hash string
	Tag  string

	// Exactly one of these is set, according to Addr.Type.
	Source  *SourceSpec
	Image   *ImageSpec
	Build   *BuildSpec
	Profile *ProfileSpec

	// Kept by the evaluator so that nothing is looked up by address string twice: the
	// address as a string, and the instances of DependsOn and Consumes.
	addr     string
	deps     []*Resource
	consumed []*Resource
}

// Address is r.Addr as a string: rendered once when the evaluator made r (a Resource
// built otherwise renders it on each call).
func (r *Resource) Address() string {
	if r.addr == "" {
		return r.Addr.String()
	}
	return r.addr
}

// hashInput is what r contributes to the hash of a resource that consumes it: its hash,
// or an image's digest.
func (r *Resource) hashInput() string {
	if r.Image != nil {
		return r.Image.Digest
	}
	return r.Hash
}

// MarkSensitive is the cty mark carried by values derived from sensitive variables.
const MarkSensitive = "sensitive"

// SourceSpec is a source block. Exactly one of Git and Path is set.
type SourceSpec struct {
	Git    string
	Ref    string
	Commit string
	Subdir string
	// Path is absolute (resolved against the configuration directory).
	Path string
}

// ImageSpec is an image block. Digest is the pin, or the digest resolved through
// Hooks.ImageDigest.
type ImageSpec struct {
	Ref    string
	Digest string
}

// BuildSpec holds the attributes shared by kernel, extension and installer.
type BuildSpec struct {
	Source     Address
	Dockerfile string // default "Dockerfile"
	Frontend   string
	Target     string
	Args       map[string]string
	// Contexts maps a named context to a source address (ContextSources) or to an
	// image reference string (ContextRefs).
	ContextSources map[string]Address
	ContextRefs    map[string]string
	Secrets        map[string]SecretSpec
	Image          string
	Stages         []Stage
	Tags           []string
	Cache          *CacheSpec
	// Kernel is the kernel an extension or installer is tied to.
	Kernel *Address
	// KernelArg is the build arg an installer receives the kernel in (PKG_KERNEL).
	KernelArg string
	// NoModules is an extension's `modules = false`: it carries no kernel module, so
	// verification does not fail for want of one.
	NoModules   bool
	SigningCert *SigningCert
	Triggers    map[string]string
	// Provenance is the mode of the SLSA provenance attached to the build: ProvenanceMin
	// (the default) or ProvenanceMax. Not hashed: how much is recorded about a build
	// does not change what is built (like cache settings); -replace records it anew.
	Provenance string
}

// Provenance modes (BuildSpec.Provenance).
const (
	ProvenanceMin = "min"
	ProvenanceMax = "max"
)

// Stage is an extra target of a build, pushed as Image:TAG.
type Stage struct {
	Target string
	Image  string
}

// SecretSpec says where a secret's value comes from; values are never read by config.
type SecretSpec struct {
	Env  string
	File string
}

// CacheSpec is a BuildKit registry cache import/export.
type CacheSpec struct {
	Ref  string
	Mode string
}

// SigningCert names the kernel's signing certificate inside one of its targets.
type SigningCert struct {
	Target string
	Path   string
}

// ProfileSpec is a profile block: a Talos imager profile.
type ProfileSpec struct {
	Arch       string
	Platform   string // Talos platform (metal, aws, ...)
	Version    string
	Secureboot bool
	Installer  string
	Extensions []string
	KernelArgs []string
	Overlay    *Overlay
	Output     ProfileOutput
	Imager     string
	Image      string
	Tags       []string
	// Dest is absolute (resolved against the configuration directory).
	Dest string
	// SecurebootKeys reach the imager as BuildKit secrets mounted at /secureboot/NAME;
	// like build secrets, only where their values come from is known here.
	SecurebootKeys map[string]SecretSpec
}

// Overlay is a profile's overlay block.
type Overlay struct {
	Name    string
	Image   string
	Options map[string]any
}

// ProfileOutput is a profile's output block.
type ProfileOutput struct {
	Kind       string
	OutFormat  string
	DiskSize   int64
	DiskFormat string
	Bootloader string
}

// Hooks let the evaluator learn what only the planner knows: content hashes and image
// digests. Resources are evaluated in dependency order, so a hook sees every
// dependency's Hash already set. The instances of one block are evaluated
// concurrently, so the hooks must be safe for concurrent use.
type Hooks interface {
	// SourceHash returns the content hash (sha256 hex) of a source resource.
	SourceHash(ctx context.Context, r *Resource) (string, error)
	// ImageDigest resolves an image resource to a digest ("sha256:...").
	ImageDigest(ctx context.Context, r *Resource) (string, error)
	// ResourceHash returns the hash (sha256 hex) of a build resource or profile from its
	// type, platform, HashedAttrs and the hashes of its dependencies (an image's digest).
	ResourceHash(r *Resource, deps map[string]string) (string, error)
	// ContentTag returns the content tag of a hash: the tag a build is pushed under.
	ContentTag(hash string) string
}
