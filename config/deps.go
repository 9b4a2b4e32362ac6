package config

import (
	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
)

// blockInstances are the instances of one resource block, in order and by key.
type blockInstances struct {
	list  []*Resource
	byKey map[any]*Resource // string (for_each) or int (count) keys
}

func (b *blockInstances) add(r *Resource) {
	b.list = append(b.list, r)
	if r.Addr.Key != nil {
		if b.byKey == nil {
			b.byKey = map[any]*Resource{}
		}
		b.byKey[r.Addr.Key] = r
	}
}

// lookup returns the instance with the given key value, or nil.
func (b *blockInstances) lookup(k cty.Value) *Resource {
	k, _ = k.Unmark()
	if b == nil || !k.IsKnown() || k.IsNull() {
		return nil
	}
	switch k.Type() {
	case cty.String:
		return b.byKey[k.AsString()]
	case cty.Number:
		i, acc := k.AsBigFloat().Int64()
		if acc != 0 {
			return nil
		}
		return b.byKey[int(i)]
	}
	return nil
}

// blockDeps are the dependencies of a resource block's instances: those every instance
// shares (a whole block, or one instance named by a literal key) and those each instance
// finds by evaluating a key expression (kernel.k[each.key]).
type blockDeps struct {
	parts []depPart
	// shared is the answer when no part has a key expression.
	shared      []*Resource
	sharedAddrs []Address
	dynamic     bool
	// explicit holds the instances depends_on lists: always consumed.
	explicit map[*Resource]bool
}

type depPart struct {
	fixed   []*Resource    // the instances, when known for every instance
	keyExpr hcl.Expression // else: the key, evaluated per instance
	block   *blockInstances
}

// depsOf resolves n's resource dependencies into instances, as far as the block can.
func (e *evaluator) depsOf(n *node) *blockDeps {
	bd := &blockDeps{}
	for _, r := range n.resDeps {
		bi := e.blocks[r.nodeKey()]
		p := depPart{block: bi}
		switch {
		case r.keyExpr != nil:
			p.keyExpr = r.keyExpr
			bd.dynamic = true
		case r.key != cty.NilVal:
			if inst := bi.lookup(r.key); inst != nil {
				p.fixed = []*Resource{inst}
			}
		case bi != nil:
			p.fixed = bi.list
		}
		if r.explicit {
			if bd.explicit == nil {
				bd.explicit = map[*Resource]bool{}
			}
			for _, inst := range p.fixed {
				bd.explicit[inst] = true
			}
		}
		bd.parts = append(bd.parts, p)
	}
	if !bd.dynamic {
		bd.shared = bd.collect(nil)
		bd.sharedAddrs = addrsOf(bd.shared)
	}
	return bd
}

// forInstance returns the dependencies of the instance evaluated in ctx. A key that
// cannot be evaluated there (or names no instance) makes every instance of the block a
// dependency, so the graph never misses an edge.
func (bd *blockDeps) forInstance(ctx *hcl.EvalContext) ([]*Resource, []Address) {
	if !bd.dynamic {
		return bd.shared, bd.sharedAddrs
	}
	deps := bd.collect(ctx)
	return deps, addrsOf(deps)
}

func (bd *blockDeps) collect(ctx *hcl.EvalContext) []*Resource {
	var out []*Resource
	var seen map[*Resource]bool
	add := func(r *Resource) {
		if len(out) < 8 {
			for _, o := range out {
				if o == r {
					return
				}
			}
		} else {
			if seen == nil {
				seen = make(map[*Resource]bool, len(out)*2)
				for _, o := range out {
					seen[o] = true
				}
			}
			if seen[r] {
				return
			}
			seen[r] = true
		}
		out = append(out, r)
	}
	for _, p := range bd.parts {
		insts := p.fixed
		if p.keyExpr != nil {
			insts = nil
			if p.block != nil {
				insts = p.block.list
				if k, diags := p.keyExpr.Value(ctx); !diags.HasErrors() {
					if inst := p.block.lookup(k); inst != nil {
						insts = []*Resource{inst}
					}
				}
			}
		}
		for _, r := range insts {
			add(r)
		}
	}
	return out
}

func addrsOf(rs []*Resource) []Address {
	out := make([]Address, len(rs))
	for i, r := range rs {
		out[i] = r.Addr
	}
	return out
}

// consumes returns the dependencies whose marks reach r's own attributes, plus those
// depends_on lists, in the order of r.deps.
func (bd *blockDeps) consumes(r *Resource, ib *instanceBody) ([]*Resource, []Address) {
	if len(r.deps) == 0 {
		return nil, []Address{}
	}
	var out []*Resource
	for _, d := range r.deps {
		if ib.refs[d.addr] || bd.explicit[d] {
			out = append(out, d)
		}
	}
	return out, addrsOf(out)
}
