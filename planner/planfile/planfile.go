// Package planfile is the saved plan (`sovos plan -out=FILE`): its file format, and the
// checks `sovos apply FILE` makes before carrying it out. The format is its own,
// versioned and documented in docs/planfile.md; it does not follow the public JSON of
// `show -format=json`, so either can change without the other.
package planfile

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/zclconf/go-cty/cty"
	ctyjson "github.com/zclconf/go-cty/cty/json"

	"github.com/urmanac/sovos/config"
	"github.com/urmanac/sovos/planner"
)

// Magic marks a saved plan; Version is the format version this sovos writes and reads.
// Version 1 and 2 were written by earlier releases (version 1 held a salted hash of the
// sensitive variables, which a low-entropy value could be recovered from); they are
// refused: plan again.
const (
	Magic   = "sovos-plan"
	Version = 3
)

// File is a saved plan read back: the plan, and what `apply FILE` checks before
// trusting it.
type File struct {
	Plan *planner.Plan
	// SovosVersion is the version of the sovos that wrote the file.
	SovosVersion string
	// ConfigDigest covers the configuration files' names and bytes.
	ConfigDigest string
	// Variables are the non-sensitive variables' values the plan was made with; the
	// sensitive ones are only named (Sensitive), never stored in any form.
	Variables map[string]Variable
	// Path is where the file was read from, for messages.
	Path string
}

// Variable is one variable of a saved plan.
type Variable struct {
	Sensitive bool
	Value     cty.Value // cty.NilVal when Sensitive
}

// The file's document. Every field is written on purpose: nothing here is derived from
// a sensitive value (reasons and inputs are redacted by the planner, resource hashes
// never hold sensitive values, variables are stored only when not sensitive).
type document struct {
	Magic        string                 `json:"magic"`
	Version      int                    `json:"version"`
	SovosVersion string                 `json:"sovos_version"`
	Workspace    string                 `json:"workspace"`
	State        stateRef               `json:"state"`
	Config       configRef              `json:"configuration"`
	Variables    map[string]variableDoc `json:"variables"`
	Promote      bool                   `json:"promote"`
	Targets      []string               `json:"targets,omitempty"`
	Changes      []*change              `json:"changes"`
	Data         []*change              `json:"data"`
	Summary      summary                `json:"summary"`
	Applyable    bool                   `json:"applyable"`
}

type summary struct {
	Create  int `json:"create"`
	Adopt   int `json:"adopt"`
	Rebuild int `json:"rebuild"`
	Promote int `json:"promote"`
	Forget  int `json:"forget"`
	NoOp    int `json:"no_op"`
}

type stateRef struct {
	Lineage string `json:"lineage"`
	Serial  uint64 `json:"serial"`
	Digest  string `json:"digest"`
}

type configRef struct {
	Digest string `json:"digest"`
}

type variableDoc struct {
	Sensitive bool            `json:"sensitive,omitempty"`
	Type      json.RawMessage `json:"type,omitempty"`
	Value     json.RawMessage `json:"value,omitempty"`
}

type change struct {
	Address     string                     `json:"address"`
	Type        string                     `json:"type"`
	Name        string                     `json:"name"`
	Index       any                        `json:"index"`
	Action      planner.Action             `json:"action"`
	Reasons     []reason                   `json:"reasons,omitempty"`
	Builder     string                     `json:"builder,omitempty"`
	Tags        map[string]tagChange       `json:"tags,omitempty"`
	Before      *snapshot                  `json:"before,omitempty"`
	After       *snapshot                  `json:"after,omitempty"`
	DependsOn   []string                   `json:"depends_on"`
	Inputs      map[string]json.RawMessage `json:"inputs,omitempty"`
	AdoptDigest string                     `json:"adopt_digest,omitempty"`
	AdoptStages map[string]string          `json:"adopt_stages,omitempty"`
	Boots       *planner.ProfileImages     `json:"boots,omitempty"`
}

type reason struct {
	Kind    string `json:"kind"`
	Message string `json:"message"`
}

type tagChange struct {
	Before string `json:"before,omitempty"`
	After  string `json:"after"`
}

type snapshot struct {
	Hash   string `json:"hash,omitempty"`
	Tag    string `json:"tag,omitempty"`
	Ref    string `json:"ref,omitempty"`
	Digest string `json:"digest,omitempty"`
}

// Write saves p (made from p.Config against the state with digest p.State.Digest) to
// path, atomically, readable by its owner only: it names registries and holds the
// non-sensitive variables.
func Write(path string, p *planner.Plan) error {
	data, err := Encode(p)
	if err != nil {
		return fmt.Errorf("saving the plan: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".sovos-plan-*")
	if err != nil {
		return fmt.Errorf("saving the plan to %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("saving the plan to %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("saving the plan to %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("saving the plan to %s: %w", path, err)
	}
	return nil
}

// Encode returns the saved-plan document of p.
func Encode(p *planner.Plan) ([]byte, error) {
	if p.Config == nil {
		return nil, errors.New("the plan has no configuration")
	}
	doc := &document{
		Magic:        Magic,
		Version:      Version,
		SovosVersion: p.SovosVersion,
		Workspace:    p.Workspace,
		State:        stateRef(p.State),
		Config:       configRef{Digest: configDigest(p.Config)},
		Variables:    map[string]variableDoc{},
		Promote:      p.Promote,
		Targets:      p.Targets,
		Changes:      make([]*change, 0, len(p.Changes)),
		Data:         make([]*change, 0, len(p.Data)),
		Summary:      summary(p.Summary),
		Applyable:    p.Applyable,
	}
	for _, v := range p.Config.Variables {
		if v.Sensitive {
			// Not the value, nor any hash of it: a hash of a low-entropy value (a PIN)
			// is reversed by trying every candidate.
			doc.Variables[v.Name] = variableDoc{Sensitive: true}
			continue
		}
		val, _ := v.Value.UnmarkDeep()
		if !val.IsWhollyKnown() {
			return nil, fmt.Errorf("variable %q has no known value", v.Name)
		}
		ty, err := ctyjson.MarshalType(val.Type())
		if err != nil {
			return nil, fmt.Errorf("variable %q: %w", v.Name, err)
		}
		js, err := ctyjson.Marshal(val, val.Type())
		if err != nil {
			return nil, fmt.Errorf("variable %q: %w", v.Name, err)
		}
		doc.Variables[v.Name] = variableDoc{Type: ty, Value: js}
	}
	for _, c := range p.Changes {
		doc.Changes = append(doc.Changes, encodeChange(c))
	}
	for _, c := range p.Data {
		doc.Data = append(doc.Data, encodeChange(c))
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", " ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(doc); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func encodeChange(c *planner.ResourceChange) *change {
	out := &change{
		Address:     c.Address,
		Type:        c.Type,
		Name:        c.Name,
		Index:       c.Index,
		Action:      c.Action,
		Builder:     c.Builder,
		Before:      (*snapshot)(c.Before),
		After:       (*snapshot)(c.After),
		DependsOn:   c.DependsOn,
		Inputs:      c.Inputs,
		AdoptDigest: c.AdoptDigest,
		AdoptStages: c.AdoptStages,
		Boots:       c.Boots,
	}
	if out.DependsOn == nil {
		out.DependsOn = []string{}
	}
	for _, r := range c.Reasons {
		out.Reasons = append(out.Reasons, reason(r))
	}
	if len(c.Tags) > 0 {
		out.Tags = make(map[string]tagChange, len(c.Tags))
		for t, tc := range c.Tags {
			out.Tags[t] = tagChange(tc)
		}
	}
	return out
}

// Read reads a saved plan. A file that is not one, or one made by another sovos
// version's format, is an error saying what to do.
func Read(path string) (*File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("the plan file %s does not exist; create it with `sovos plan -out=%s`", path, path)
		}
		return nil, fmt.Errorf("reading the plan file: %w", err)
	}
	return Decode(data, path)
}

// Decode reads a saved-plan document; path names it in messages.
func Decode(data []byte, path string) (*File, error) {
	notPlan := fmt.Errorf("%s is not a sovos plan file; create one with `sovos plan -out=%s`", path, path)
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return nil, notPlan
	}
	var head struct {
		Magic        string `json:"magic"`
		Version      int    `json:"version"`
		SovosVersion string `json:"sovos_version"`
	}
	if err := json.Unmarshal(trimmed, &head); err != nil || head.Magic != Magic {
		return nil, notPlan
	}
	switch {
	case head.Version < Version:
		return nil, fmt.Errorf("%s was made by an older sovos; plan again (`sovos plan -out=%s`)", path, path)
	case head.Version > Version:
		by := "a newer sovos"
		if head.SovosVersion != "" {
			by = "sovos " + head.SovosVersion
		}
		return nil, fmt.Errorf("%s was made by %s (plan file format %d; this sovos reads format %d); apply it with that sovos, or plan again with this one", path, by, head.Version, Version)
	}
	damaged := func(what string, err error) error {
		if err != nil {
			return fmt.Errorf("%s is a damaged sovos plan file: %s: %v; plan again", path, what, err)
		}
		return fmt.Errorf("%s is a damaged sovos plan file: %s; plan again", path, what)
	}
	var doc document
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil {
		return nil, damaged("reading it", err)
	}
	if doc.Changes == nil {
		return nil, damaged("it holds no changes", nil)
	}
	p := &planner.Plan{
		FormatVersion: planner.FormatVersion,
		SovosVersion:  doc.SovosVersion,
		Workspace:     doc.Workspace,
		State:         planner.StateRef(doc.State),
		Summary:       planner.Summary(doc.Summary),
		Promote:       doc.Promote,
		Applyable:     doc.Applyable,
		Targets:       doc.Targets,
	}
	for _, c := range doc.Changes {
		rc, err := decodeChange(c)
		if err != nil {
			return nil, damaged("changes", err)
		}
		p.Changes = append(p.Changes, rc)
	}
	for _, c := range doc.Data {
		rc, err := decodeChange(c)
		if err != nil {
			return nil, damaged("data", err)
		}
		p.Data = append(p.Data, rc)
	}
	f := &File{Plan: p, SovosVersion: doc.SovosVersion, ConfigDigest: doc.Config.Digest, Variables: map[string]Variable{}, Path: path}
	for name, v := range doc.Variables {
		if v.Sensitive {
			f.Variables[name] = Variable{Sensitive: true}
			continue
		}
		ty, err := ctyjson.UnmarshalType(v.Type)
		if err != nil {
			return nil, damaged("variable "+name, err)
		}
		val, err := ctyjson.Unmarshal(v.Value, ty)
		if err != nil {
			return nil, damaged("variable "+name, err)
		}
		f.Variables[name] = Variable{Value: val}
	}
	return f, nil
}

func decodeChange(c *change) (*planner.ResourceChange, error) {
	if c == nil || c.Address == "" {
		return nil, errors.New("a change without an address")
	}
	rc := &planner.ResourceChange{
		Address:     c.Address,
		Type:        c.Type,
		Name:        c.Name,
		Action:      c.Action,
		Builder:     c.Builder,
		Before:      (*planner.Snapshot)(c.Before),
		After:       (*planner.Snapshot)(c.After),
		DependsOn:   c.DependsOn,
		Inputs:      c.Inputs,
		AdoptDigest: c.AdoptDigest,
		AdoptStages: c.AdoptStages,
		Boots:       c.Boots,
	}
	// The file is indented; recorded inputs are compact JSON, as the planner makes them.
	for name, raw := range rc.Inputs {
		var buf bytes.Buffer
		if err := json.Compact(&buf, raw); err != nil {
			return nil, fmt.Errorf("%s: input %s: %w", c.Address, name, err)
		}
		rc.Inputs[name] = buf.Bytes()
	}
	switch k := c.Index.(type) {
	case nil, string:
		rc.Index = k
	case json.Number:
		// Instance keys of count are ints.
		n, err := k.Int64()
		if err != nil {
			return nil, fmt.Errorf("%s: index %s is not an integer", c.Address, k)
		}
		rc.Index = int(n)
	default:
		return nil, fmt.Errorf("%s: index is neither a string nor a number", c.Address)
	}
	for _, r := range c.Reasons {
		rc.Reasons = append(rc.Reasons, planner.Reason(r))
	}
	if len(c.Tags) > 0 {
		rc.Tags = make(map[string]planner.TagChange, len(c.Tags))
		for t, tc := range c.Tags {
			rc.Tags[t] = planner.TagChange(tc)
		}
	}
	return rc, nil
}

// Values are the saved non-sensitive variable values, for config.EvalOptions.Saved:
// `apply FILE` evaluates the configuration with them, so they need not be given again.
func (f *File) Values() map[string]cty.Value {
	out := make(map[string]cty.Value, len(f.Variables))
	for name, v := range f.Variables {
		if !v.Sensitive {
			out[name] = v.Value
		}
	}
	return out
}

// configVariable finds a variable of cfg by name.
func configVariable(cfg *config.Config, name string) *config.Variable {
	for _, v := range cfg.Variables {
		if v.Name == name {
			return v
		}
	}
	return nil
}
