package config

// Edges lists every dependency edge as {resource, dependency}, in the order of
// Resources and then of DependsOn, so renderings are deterministic.
func (c *Config) Edges() [][2]Address {
	var out [][2]Address
	for _, r := range c.Resources {
		for _, d := range r.DependsOn {
			out = append(out, [2]Address{r.Addr, d})
		}
	}
	return out
}
