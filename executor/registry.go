package executor

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"

	"github.com/google/go-containerregistry/pkg/v1/remote"
	ctyjson "github.com/zclconf/go-cty/cty/json"

	"github.com/urmanac/sovos/config"
	"github.com/urmanac/sovos/planner"
	"github.com/urmanac/sovos/state"
)

// promote moves every stable tag of the plan's resources to the resource's digest, in
// dependency order, and records it. An extension's tags move only when this exact digest
// passed verification and has a module-signature attestation that counts for its
// kernel (gate). Every tag move, and every retry of one, is fenced by the state lock: it
// starts only while the lock is still this apply's (state.Held.Guard).
func (a *applier) promote(ctx context.Context) ([]Promotion, error) {
	ctx = a.opts.Writer.Held().Guard(ctx)
	var done []Promotion
	for _, c := range a.p.Changes {
		if c.Action == planner.ActionForget || c.Resource == nil {
			continue
		}
		tags := stableTags(c)
		if len(tags) == 0 {
			continue
		}
		art := a.artifact(c.Address)
		if art == nil || art.digest == "" {
			continue
		}
		if c.Type == "extension" {
			a.mu.Lock()
			ok := a.verified[c.Address] == art.digest
			a.mu.Unlock()
			if !ok {
				return done, fmt.Errorf("%s: not promoted: %s@%s has not passed verification", c.Address, art.image, art.digest)
			}
		}
		var prior map[string]string
		if c.Prior != nil {
			prior = c.Prior.Tags
		}
		reg := a.opts.Registry
		src, err := reg.ParseReference(art.image + "@" + art.digest)
		if err != nil {
			return done, fmt.Errorf("%s: promoting: %w", c.Address, err)
		}
		var desc *remote.Descriptor
		moved := map[string]string{}
		for _, t := range tags {
			if prior[t] == art.digest {
				continue
			}
			if desc == nil {
				// Before the first tag moves: an extension passes the attestation gate,
				// and an image built before signing was configured is signed.
				if c.Type == config.TypeExtension {
					if err := a.gate(ctx, c, art); err != nil {
						return done, err
					}
				}
				if err := a.signBeforePromotion(ctx, c, art); err != nil {
					return done, fmt.Errorf("not promoted: %w", err)
				}
				// One manifest read per resource; tagging re-puts the manifest only.
				if desc, err = reg.Get(ctx, src); err != nil {
					return done, fmt.Errorf("%s: promoting: reading %s: %w", c.Address, src, err)
				}
			}
			dst, err := reg.NewTag(art.image + ":" + t)
			if err != nil {
				return done, fmt.Errorf("%s: stable tag %q: %w", c.Address, t, err)
			}
			if err := reg.Tag(ctx, dst, desc); err != nil {
				return done, fmt.Errorf("%s: moving %s to %s: %w", c.Address, dst, art.digest, err)
			}
			moved[t] = art.digest
			done = append(done, Promotion{Address: c.Address, Ref: dst.String(), Digest: art.digest})
		}
		if len(moved) == 0 {
			continue
		}
		a.update(func(x *state.Index) {
			if rec := x.Get(c.Address); rec != nil {
				if rec.Tags == nil {
					rec.Tags = map[string]string{}
				}
				maps.Copy(rec.Tags, moved)
				// Moved forward: whatever a rollback did to them is undone.
				rec.RolledBack = nil
			}
		})
	}
	return done, nil
}

func stableTags(c *planner.ResourceChange) []string {
	if len(c.Tags) > 0 {
		out := slices.Collect(maps.Keys(c.Tags))
		slices.Sort(out)
		return out
	}
	r := c.Resource
	switch {
	case r.Build != nil:
		return r.Build.Tags
	case r.Profile != nil:
		return r.Profile.Tags
	}
	return nil
}

// recordOutputs stores the configuration's output values in the state; a sensitive
// output's value is stored as (sensitive value) (SPEC §2): the state is read by whoever
// may plan, a pull request from a fork included.
func (a *applier) recordOutputs() error {
	outs := map[string]*state.Output{}
	for _, o := range a.p.Config.Outputs {
		if o.Sensitive {
			outs[o.Name] = &state.Output{Value: json.RawMessage(`"` + config.Redacted + `"`), Sensitive: true}
			continue
		}
		v, _ := o.Value.UnmarkDeep()
		if !v.IsWhollyKnown() {
			continue
		}
		data, err := ctyjson.Marshal(v, v.Type())
		if err != nil {
			return fmt.Errorf("output %q: %w", o.Name, err)
		}
		outs[o.Name] = &state.Output{Value: json.RawMessage(data), Sensitive: o.Sensitive}
	}
	a.opts.Writer.Update(func(s *state.State) {
		if len(outs) == 0 {
			s.Outputs = nil
			return
		}
		s.Outputs = outs
	})
	return nil
}
