package config

// Consumers is the one answer to "what uses this resource?" (e.g. which profiles use an
// extension): the resources that consume addr (Resource.Consumes: a value derived from
// it reaches their evaluated attributes), in the order of Resources. A configuration
// not built by the evaluator (no Consumes) falls back to DependsOn.
func (c *Config) Consumers(addr string) []*Resource {
	if c.consumers != nil {
		return c.consumers[addr]
	}
	var out []*Resource
	for _, r := range c.Resources {
		for _, d := range consumedBy(r) {
			if d.String() == addr {
				out = append(out, r)
				break
			}
		}
	}
	return out
}

func consumedBy(r *Resource) []Address {
	if r.Consumes == nil {
		return r.DependsOn
	}
	return r.Consumes
}

// indexConsumers fills the index Consumers reads, once evaluation is done.
func (c *Config) indexConsumers() {
	c.consumers = map[string][]*Resource{}
	for _, r := range c.Resources {
		for _, d := range consumedBy(r) {
			a := d.String()
			if n := len(c.consumers[a]); n > 0 && c.consumers[a][n-1] == r {
				continue // one instance consuming another twice
			}
			c.consumers[a] = append(c.consumers[a], r)
		}
	}
}
