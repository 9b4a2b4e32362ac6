package planfile

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"sort"
	"strings"

	"github.com/zclconf/go-cty/cty"
	ctyjson "github.com/zclconf/go-cty/cty/json"

	"github.com/urmanac/sovos/config"
	"github.com/urmanac/sovos/planner"
	"github.com/urmanac/sovos/state"
)

// Check refuses to apply the saved plan when the world moved since it was made: the state
// (stateDigest is the digest read now), the configuration files, a non-sensitive
// variable's value, or a resource's inputs (e.g. a path source's files, an image tag
// that moved). Sensitive values cannot be compared (nothing of them is stored): cfg was
// evaluated with those given now, and they enter no hash.
func (f *File) Check(cfg *config.Config, stateDigest string) error {
	if f.Plan.State.Digest != stateDigest {
		return fmt.Errorf("stale plan: the state changed since this plan was made (state digest when planned: %s, now: %s); run `sovos plan` again", orNone(f.Plan.State.Digest), orNone(stateDigest))
	}
	if configDigest(cfg) != f.ConfigDigest {
		return fmt.Errorf("the configuration in %s changed since the plan %s was made; run `sovos plan` again", cfg.Dir, f.Path)
	}
	names := make([]string, 0, len(f.Variables))
	for n := range f.Variables {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		saved := f.Variables[n]
		v := configVariable(cfg, n)
		if v == nil || v.Sensitive != saved.Sensitive {
			return fmt.Errorf("the variables of %s changed since the plan %s was made; run `sovos plan` again", cfg.Dir, f.Path)
		}
		if saved.Sensitive {
			continue
		}
		if now, then := showValue(v.Value), showValue(saved.Value); now != then {
			return fmt.Errorf("var.%s is %s now, but the plan %s was made with %s (from -var, -var-file, SOVOS_VAR_%s or *.auto.sovosvars); apply FILE uses the planned values by itself, so drop the new value, or run `sovos plan` again", n, now, f.Path, then, n)
		}
	}
	byAddr := make(map[string]*config.Resource, len(cfg.Resources))
	for _, r := range cfg.Resources {
		byAddr[r.Addr.String()] = r
	}
	for _, c := range append(append([]*planner.ResourceChange(nil), f.Plan.Changes...), f.Plan.Data...) {
		if c.Action == planner.ActionForget || c.After == nil {
			continue
		}
		r := byAddr[c.Address]
		if r == nil {
			return fmt.Errorf("%s is in the plan %s but not in the configuration; run `sovos plan` again", c.Address, f.Path)
		}
		if r.Image != nil {
			if r.Image.Digest != c.After.Digest {
				return fmt.Errorf("%s (%s) points to %s now, not to %s as when the plan %s was made; run `sovos plan` again", c.Address, r.Image.Ref, planner.ShortDigest(r.Image.Digest), planner.ShortDigest(c.After.Digest), f.Path)
			}
			continue
		}
		if r.Hash != c.After.Hash {
			return fmt.Errorf("the inputs of %s changed since the plan %s was made (hash %s, now %s), e.g. files of a path source; run `sovos plan` again", c.Address, f.Path, planner.ShortHash(c.After.Hash), planner.ShortHash(r.Hash))
		}
	}
	return nil
}

// Bind attaches the configuration and state (already checked with Check) to the saved
// plan, so the executor finds each change's Resource and Prior.
func (f *File) Bind(cfg *config.Config, prior *state.State) (*planner.Plan, error) {
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
	for _, c := range append(append([]*planner.ResourceChange(nil), p.Changes...), p.Data...) {
		c.Prior = recorded[c.Address] // one lookup per change, not a scan of the state
		if c.Action == planner.ActionForget {
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

// showValue is a variable's value as a message shows it: its JSON.
func showValue(v cty.Value) string {
	v, _ = v.UnmarkDeep()
	if !v.IsWhollyKnown() {
		return "(not known)"
	}
	b, err := ctyjson.Marshal(v, v.Type())
	if err != nil {
		return v.GoString()
	}
	return string(b)
}

// configDigest digests the configuration files (*.sovos.hcl, *.sovos.json) by base name
// and content, so the same configuration digests the same whichever -chdir spelling
// reached it. Variable files are left out: they may hold sensitive values, and the
// values they give are compared one by one instead.
func configDigest(cfg *config.Config) string {
	type entry struct {
		name string
		data []byte
	}
	entries := make([]entry, 0, len(cfg.Files))
	for n, f := range cfg.Files {
		if !isConfigFile(cfg.Dir, n) {
			continue
		}
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
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}

// isConfigFile tells the configuration's own files from variable files among the files
// a configuration's evaluation parsed.
func isConfigFile(dir, name string) bool {
	if !strings.HasSuffix(name, ".sovos.hcl") && !strings.HasSuffix(name, ".sovos.json") {
		return false
	}
	abs, err := filepath.Abs(filepath.Dir(name))
	return err == nil && (dir == "" || abs == dir)
}
