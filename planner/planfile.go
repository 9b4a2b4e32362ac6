package planner

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"

	ctyjson "github.com/zclconf/go-cty/cty/json"

	"github.com/urmanac/sovos/config"
	"github.com/urmanac/sovos/state"
)

// PlanFileMagic marks a saved plan; PlanFileVersion is its format version.
const (
	PlanFileMagic   = "sovos-plan"
	PlanFileVersion = 2
)

// File is a saved plan (`plan -out=FILE`): the plan, and what `apply FILE` checks before
// trusting it. It holds no sensitive value: only a salted HMAC of them.
type File struct {
	Plan *Plan
	// StateDigest is the digest of the state the plan was made against ("" for none).
	StateDigest string
	// ConfigDigest covers the configuration files' bytes; VarsDigest the non-sensitive
	// variable values; SensitiveHMAC the sensitive ones, keyed by SensitiveSalt.
	ConfigDigest  string
	VarsDigest    string
	SensitiveSalt []byte
	SensitiveHMAC string
	Path          string // where it was read from, for messages
}

type fileDoc struct {
	Magic         string                    `json:"magic"`
	Version       int                       `json:"version"`
	StateDigest   string                    `json:"state_digest"`
	ConfigDigest  string                    `json:"config_digest"`
	VarsDigest    string                    `json:"variables_digest"`
	SensitiveSalt string                    `json:"sensitive_salt"`
	SensitiveHMAC string                    `json:"sensitive_hmac"`
	Promote       bool                      `json:"promote"`
	Targets       []string                  `json:"targets,omitempty"`
	Plan          *jsonPlan                 `json:"plan"`
	Adopt         map[string]fileAdopt      `json:"adopt,omitempty"`
	Boots         map[string]*ProfileImages `json:"boots,omitempty"`
	Data          []*jsonChange             `json:"data,omitempty"`
	// Inputs are the recorded inputs of every change and data entry, by address.
	Inputs map[string]map[string]json.RawMessage `json:"inputs,omitempty"`
}

type fileAdopt struct {
	Digest string            `json:"digest"`
	Stages map[string]string `json:"stages,omitempty"`
}

// WriteFile saves p (made from p.Config against the state with digest p.State.Digest) so
// `apply FILE` can carry it out.
func WriteFile(path string, p *Plan) error {
	if p.Config == nil {
		return errors.New("saving the plan: it has no configuration")
	}
	salt := make([]byte, 32)
	if _, err := rand.Read(salt); err != nil {
		return fmt.Errorf("saving the plan: %w", err)
	}
	fp, err := fingerprint(p.Config, salt)
	if err != nil {
		return fmt.Errorf("saving the plan: %w", err)
	}
	doc := &fileDoc{
		Magic:         PlanFileMagic,
		Version:       PlanFileVersion,
		StateDigest:   p.State.Digest,
		ConfigDigest:  fp.config,
		VarsDigest:    fp.vars,
		SensitiveSalt: base64.StdEncoding.EncodeToString(salt),
		SensitiveHMAC: fp.sensitive,
		Promote:       p.Promote,
		Targets:       p.Targets,
		Plan:          toJSON(p),
	}
	for _, c := range p.Changes {
		if c.Action == ActionAdopt {
			if doc.Adopt == nil {
				doc.Adopt = map[string]fileAdopt{}
			}
			doc.Adopt[c.Address] = fileAdopt{Digest: c.AdoptDigest, Stages: c.AdoptStages}
		}
	}
	for _, c := range p.Changes {
		if c.Boots != nil {
			if doc.Boots == nil {
				doc.Boots = map[string]*ProfileImages{}
			}
			doc.Boots[c.Address] = c.Boots
		}
	}
	for _, d := range p.Data {
		doc.Data = append(doc.Data, changeToJSON(d))
	}
	for _, c := range append(append([]*ResourceChange(nil), p.Changes...), p.Data...) {
		if c.Inputs != nil {
			if doc.Inputs == nil {
				doc.Inputs = map[string]map[string]json.RawMessage{}
			}
			doc.Inputs[c.Address] = c.Inputs
		}
	}
	data, err := json.MarshalIndent(doc, "", " ")
	if err != nil {
		return fmt.Errorf("saving the plan: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".sovos-plan-*")
	if err != nil {
		return fmt.Errorf("saving the plan to %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(append(data, '\n')); err != nil {
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

// ReadFile reads a saved plan. A file that is not one is an error saying so.
func ReadFile(path string) (*File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("the plan file %s does not exist; create it with `sovos plan -out=%s`", path, path)
		}
		return nil, fmt.Errorf("reading the plan file: %w", err)
	}
	notPlan := fmt.Errorf("%s is not a sovos plan file; create one with `sovos plan -out=%s`", path, path)
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return nil, notPlan
	}
	var doc fileDoc
	if err := json.Unmarshal(data, &doc); err != nil || doc.Magic != PlanFileMagic {
		return nil, notPlan
	}
	if doc.Version != PlanFileVersion {
		return nil, fmt.Errorf("%s is a sovos plan file of format version %d, which this sovos does not read (it reads version %d); make the plan again with this sovos", path, doc.Version, PlanFileVersion)
	}
	if doc.Plan == nil {
		return nil, fmt.Errorf("%s is a damaged sovos plan file: it holds no plan", path)
	}
	salt, err := base64.StdEncoding.DecodeString(doc.SensitiveSalt)
	if err != nil {
		return nil, fmt.Errorf("%s is a damaged sovos plan file: sensitive_salt: %w", path, err)
	}
	// The file is indented; recorded inputs are compact JSON, as RecordedInputs makes them.
	for _, in := range doc.Inputs {
		for k, raw := range in {
			var buf bytes.Buffer
			if err := json.Compact(&buf, raw); err != nil {
				return nil, fmt.Errorf("%s is a damaged sovos plan file: inputs: %w", path, err)
			}
			in[k] = buf.Bytes()
		}
	}
	jp := doc.Plan
	p := &Plan{
		FormatVersion: jp.FormatVersion,
		SovosVersion:  jp.SovosVersion,
		Workspace:     jp.Workspace,
		State:         StateRef(jp.State),
		Summary:       Summary(jp.Summary),
		Promote:       doc.Promote,
		Applyable:     jp.Applyable,
		Targets:       doc.Targets,
	}
	for _, jc := range jp.ResourceChanges {
		c := changeFromJSON(jc)
		if a, ok := doc.Adopt[c.Address]; ok {
			c.AdoptDigest, c.AdoptStages = a.Digest, a.Stages
		}
		c.Boots = doc.Boots[c.Address]
		c.Inputs = doc.Inputs[c.Address]
		p.Changes = append(p.Changes, c)
	}
	for _, jc := range doc.Data {
		c := changeFromJSON(jc)
		c.Inputs = doc.Inputs[c.Address]
		p.Data = append(p.Data, c)
	}
	return &File{
		Plan:          p,
		StateDigest:   doc.StateDigest,
		ConfigDigest:  doc.ConfigDigest,
		VarsDigest:    doc.VarsDigest,
		SensitiveSalt: salt,
		SensitiveHMAC: doc.SensitiveHMAC,
		Path:          path,
	}, nil
}

// Check refuses to apply the saved plan when the world moved since it was made: the state
// (stateDigest is the digest read now), the configuration files, the variables or the
// sensitive variables given again, or a resource's inputs (e.g. a path source's files).
func (f *File) Check(cfg *config.Config, stateDigest string) error {
	if f.StateDigest != stateDigest {
		return fmt.Errorf("stale plan: the state changed since this plan was made (state digest when planned: %s, now: %s); run `sovos plan` again", orNone(f.StateDigest), orNone(stateDigest))
	}
	fp, err := fingerprint(cfg, f.SensitiveSalt)
	if err != nil {
		return err
	}
	if fp.config != f.ConfigDigest {
		return fmt.Errorf("the configuration in %s changed since the plan %s was made; run `sovos plan` again", cfg.Dir, f.Path)
	}
	if fp.vars != f.VarsDigest {
		return fmt.Errorf("the variables differ from those the plan %s was made with (-var, -var-file, SOVOS_VAR_*, *.auto.sovosvars); give the same values, or run `sovos plan` again", f.Path)
	}
	if fp.sensitive != f.SensitiveHMAC {
		return fmt.Errorf("the sensitive variables differ from those the plan %s was made with; a saved plan does not store them, so give the same values again (-var, SOVOS_VAR_*)", f.Path)
	}
	byAddr := make(map[string]*config.Resource, len(cfg.Resources))
	for _, r := range cfg.Resources {
		byAddr[r.Addr.String()] = r
	}
	for _, c := range append(append([]*ResourceChange(nil), f.Plan.Changes...), f.Plan.Data...) {
		if c.Action == ActionForget || c.After == nil {
			continue
		}
		r := byAddr[c.Address]
		if r == nil {
			return fmt.Errorf("%s is in the plan %s but not in the configuration; run `sovos plan` again", c.Address, f.Path)
		}
		if r.Image != nil {
			if r.Image.Digest != c.After.Digest {
				return fmt.Errorf("%s (%s) points to %s now, not to %s as when the plan %s was made; run `sovos plan` again", c.Address, r.Image.Ref, shortDigest(r.Image.Digest), shortDigest(c.After.Digest), f.Path)
			}
			continue
		}
		if r.Hash != c.After.Hash {
			return fmt.Errorf("the inputs of %s changed since the plan %s was made (hash %s, now %s), e.g. files of a path source; run `sovos plan` again", c.Address, f.Path, shortHash(c.After.Hash), shortHash(r.Hash))
		}
	}
	return nil
}

// Bind attaches the configuration and state (already checked with Check) to the saved
// plan, so the executor finds each change's Resource and Prior.
func (f *File) Bind(cfg *config.Config, prior *state.State) (*Plan, error) {
	p := f.Plan
	p.Config, p.Prior = cfg, prior
	byAddr := make(map[string]*config.Resource, len(cfg.Resources))
	for _, r := range cfg.Resources {
		byAddr[r.Addr.String()] = r
	}
	recorded := map[string]*state.Resource{}
	if prior != nil {
		recorded = make(map[string]*state.Resource, len(prior.Resources))
		for _, r := range prior.Resources {
			recorded[r.Address] = r
		}
	}
	for _, c := range append(append([]*ResourceChange(nil), p.Changes...), p.Data...) {
		c.Prior = recorded[c.Address] // one lookup per change, not a scan of the state
		if c.Action == ActionForget {
			continue
		}
		if c.Resource = byAddr[c.Address]; c.Resource == nil {
			return nil, fmt.Errorf("%s is in the plan %s but not in the configuration; run `sovos plan` again", c.Address, f.Path)
		}
	}
	return p, nil
}

// orNone is a state digest, or "none" for a workspace nothing was applied to.
func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

type fingerprints struct {
	config, vars, sensitive string
}

// fingerprint digests what a saved plan depends on besides the state: the configuration
// files' bytes, the non-sensitive variable values, and (keyed by salt, so the file does not
// reveal guessable values) the sensitive ones.
func fingerprint(cfg *config.Config, salt []byte) (fingerprints, error) {
	var fp fingerprints
	// Files are keyed by base name so the same configuration fingerprints the same
	// whichever -chdir spelling reached it; entries sort by name, then content.
	type entry struct {
		name string
		data []byte
	}
	entries := make([]entry, 0, len(cfg.Files))
	for n, f := range cfg.Files {
		var b []byte
		if f != nil {
			b = f.Bytes
		}
		entries = append(entries, entry{filepath.Base(n), b})
	}
	sort.Slice(entries, func(i, j int) bool {
		if entries[i].name != entries[j].name {
			return entries[i].name < entries[j].name
		}
		return bytes.Compare(entries[i].data, entries[j].data) < 0
	})
	h := sha256.New()
	for _, e := range entries {
		fmt.Fprintf(h, "%s\x00%d\x00", e.name, len(e.data))
		h.Write(e.data)
	}
	fp.config = "sha256:" + hex.EncodeToString(h.Sum(nil))

	vars := append([]*config.Variable(nil), cfg.Variables...)
	sort.Slice(vars, func(i, j int) bool { return vars[i].Name < vars[j].Name })
	hv := sha256.New()
	hs := hmac.New(sha256.New, salt)
	for _, v := range vars {
		val, _ := v.Value.UnmarkDeep()
		b, err := ctyjson.Marshal(val, val.Type())
		if err != nil {
			return fp, fmt.Errorf("variable %q: %w", v.Name, err)
		}
		w := hv
		if v.Sensitive {
			w = hs
		}
		fmt.Fprintf(w, "%s\x00%d\x00", v.Name, len(b))
		w.Write(b)
	}
	fp.vars = "sha256:" + hex.EncodeToString(hv.Sum(nil))
	fp.sensitive = hex.EncodeToString(hs.Sum(nil))
	return fp, nil
}
