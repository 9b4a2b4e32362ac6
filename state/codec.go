package state

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/google/uuid"
	"github.com/urmanac/sovos/internal/grammar"
)

// ErrNotState is wrapped by Decode (and the backends) when a document or an artifact is
// not a sovos state at all, as opposed to a sovos state that is damaged.
var ErrNotState = errors.New("not a sovos state")

// ErrCorrupt is matched (errors.Is) by the errors of a sovos state that is damaged: a
// blob whose content does not match its digest, a document that is not valid JSON or
// breaks the format's rules. The message is the underlying error's; the CLI uses the
// match to say how to recover.
var ErrCorrupt = errors.New("the state is corrupted")

// corruptError marks err as ErrCorrupt without changing its message.
type corruptError struct{ err error }

func (e *corruptError) Error() string        { return e.err.Error() }
func (e *corruptError) Unwrap() error        { return e.err }
func (e *corruptError) Is(target error) bool { return target == ErrCorrupt }

func corrupt(err error) error { return &corruptError{err: err} }

// New returns an empty state for workspace, with a fresh lineage. Its serial is 0: the
// first write stores serial 1.
func New(workspace, sovosVersion string) *State {
	return &State{
		Version:      Version,
		Lineage:      uuid.NewString(),
		SovosVersion: sovosVersion,
		Workspace:    workspace,
		Resources:    []*Resource{},
	}
}

// Encode returns the JSON document of s: indented, with resources sorted by address so
// two writes of the same state are byte-identical (a state diff in review stays small).
// It refuses a state that Decode would refuse, so sovos never stores what it cannot read.
func Encode(s *State) ([]byte, error) {
	if s == nil {
		return nil, errors.New("encoding state: no state")
	}
	if err := validate(s); err != nil {
		return nil, fmt.Errorf("encoding state: %w", err)
	}
	c := *s
	c.Resources = slices.Clone(s.Resources)
	if c.Resources == nil {
		c.Resources = []*Resource{}
	}
	slices.SortStableFunc(c.Resources, func(a, b *Resource) int { return strings.Compare(a.Address, b.Address) })
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(&c); err != nil {
		return nil, fmt.Errorf("encoding state: %w", err)
	}
	return buf.Bytes(), nil
}

// Decode parses and validates a state document. where names the document's origin
// ("registry ghcr.io/x/state:main", a file name) and starts every error message.
func Decode(data []byte, where string) (*State, error) {
	// A first pass over the envelope tells a foreign document (another tool's JSON, a
	// Terraform state) and a newer format apart from a damaged sovos state, so the user
	// gets the message that matches their mistake.
	var probe map[string]json.RawMessage
	if err := json.Unmarshal(data, &probe); err != nil {
		if !json.Valid(data) {
			return nil, corrupt(fmt.Errorf("%s: the state document is not valid JSON (%v): it is corrupted, or not a sovos state", where, err))
		}
		return nil, fmt.Errorf("%s: %w: the document is JSON but not an object", where, ErrNotState)
	}
	// Terraform states have a version and a lineage too: tell them apart first.
	if _, tf := probe["terraform_version"]; tf {
		return nil, fmt.Errorf("%s: %w: this is a Terraform state", where, ErrNotState)
	}
	rawVersion, ok := probe["version"]
	if !ok {
		return nil, fmt.Errorf("%s: %w: the document has no \"version\" field", where, ErrNotState)
	}
	if _, ok := probe["lineage"]; !ok {
		return nil, fmt.Errorf("%s: %w: the document has no \"lineage\" field", where, ErrNotState)
	}
	var version int
	if err := json.Unmarshal(rawVersion, &version); err != nil {
		return nil, fmt.Errorf("%s: state \"version\" must be an integer, got %s", where, truncate(string(rawVersion)))
	}
	if version > Version {
		return nil, fmt.Errorf("%s: the state has format version %d, written by a newer sovos; this sovos reads version %d: upgrade sovos", where, version, Version)
	}
	if version < 1 {
		return nil, fmt.Errorf("%s: the state has an invalid format version %d", where, version)
	}

	var s State
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, corrupt(fmt.Errorf("%s: the state document is malformed: %w", where, err))
	}
	if s.Resources == nil {
		s.Resources = []*Resource{}
	}
	// A version-1 document is a version-2 document without the fields version 2 added:
	// it is read as it is and written back as version 2.
	s.Version = Version
	if err := validate(&s); err != nil {
		return nil, corrupt(fmt.Errorf("%s: the state document is invalid: %w", where, err))
	}
	return &s, nil
}

var hexRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[0-9a-f]+$`) })

// validate checks the invariants the planner and executor rely on.
func validate(s *State) error {
	if s.Version != Version {
		return fmt.Errorf("format version %d, want %d", s.Version, Version)
	}
	if s.Lineage == "" {
		return errors.New("lineage is missing")
	}
	if _, err := uuid.Parse(s.Lineage); err != nil {
		return fmt.Errorf("lineage %q is not a UUID", truncate(s.Lineage))
	}
	if s.Workspace == "" {
		return errors.New("workspace is missing")
	}
	seen := make(map[string]bool, len(s.Resources))
	for i, r := range s.Resources {
		if r == nil {
			return fmt.Errorf("resources[%d] is null", i)
		}
		if r.Address == "" {
			return fmt.Errorf("resources[%d] has no address", i)
		}
		where := "resource " + truncate(r.Address)
		if seen[r.Address] {
			return fmt.Errorf("%s is recorded twice", where)
		}
		seen[r.Address] = true
		if r.Type == "" {
			return fmt.Errorf("%s has no type", where)
		}
		if len(r.Hash) != 64 || !hexRE().MatchString(r.Hash) {
			return fmt.Errorf("%s: hash %q is not 64 lowercase hex characters", where, truncate(r.Hash))
		}
		if r.Tag != "" && !grammar.IsTag(r.Tag) {
			return fmt.Errorf("%s: tag %q is not a valid OCI tag", where, truncate(r.Tag))
		}
		if err := checkDigest(r.Digest, true); err != nil {
			return fmt.Errorf("%s: digest: %w", where, err)
		}
		for target, st := range r.Stages {
			if st == nil {
				return fmt.Errorf("%s: stage %q is null", where, truncate(target))
			}
			if err := checkDigest(st.Digest, true); err != nil {
				return fmt.Errorf("%s: stage %q digest: %w", where, truncate(target), err)
			}
		}
		for tag, d := range r.Tags {
			if !grammar.IsTag(tag) {
				return fmt.Errorf("%s: stable tag %q is not a valid OCI tag", where, truncate(tag))
			}
			if err := checkDigest(d, false); err != nil {
				return fmt.Errorf("%s: stable tag %q: %w", where, tag, err)
			}
		}
		for up, d := range r.BuiltFrom {
			if err := checkDigest(d, false); err != nil {
				return fmt.Errorf("%s: built_from %q: %w", where, truncate(up), err)
			}
		}
		if r.Verified != nil {
			if err := checkDigest(r.Verified.Digest, false); err != nil {
				return fmt.Errorf("%s: verified digest: %w", where, err)
			}
		}
		for pt, d := range r.Attestations {
			if err := checkDigest(d, false); err != nil {
				return fmt.Errorf("%s: attestation %q: %w", where, truncate(pt), err)
			}
		}
	}
	if h := s.History; h != nil {
		if h.Operation == "" {
			return errors.New("history: no operation")
		}
		for ref, d := range h.Promoted {
			if err := checkDigest(d, false); err != nil {
				return fmt.Errorf("history: promoted %q: %w", truncate(ref), err)
			}
		}
	}
	for name, o := range s.Outputs {
		if o == nil || o.Value == nil {
			return fmt.Errorf("output %q has no value", truncate(name))
		}
	}
	return nil
}

// checkDigest accepts "sha256:<64 hex>" and "sha512:<128 hex>" (the algorithms
// registries use), and "" when optional.
func checkDigest(d string, optional bool) error {
	if d == "" {
		if optional {
			return nil
		}
		return errors.New("missing digest")
	}
	alg, hex, ok := strings.Cut(d, ":")
	want := map[string]int{"sha256": 64, "sha512": 128}[alg]
	if !ok || want == 0 || len(hex) != want || !hexRE().MatchString(hex) {
		return fmt.Errorf("%q is not a sha256 or sha512 digest", truncate(d))
	}
	return nil
}

// truncate keeps messages about garbage input readable.
func truncate(s string) string {
	const max = 80
	if len(s) <= max {
		return s
	}
	return s[:max] + "..."
}
