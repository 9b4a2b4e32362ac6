package state

// Index finds the resources of a state by address in constant time, and adds, replaces
// and removes them without scanning: an apply of 10,000 resources records each result
// in O(1) instead of O(resources). It stays right only while every change to
// s.Resources goes through it. Removal does not keep the order of s.Resources, which
// Encode sorts anyway.
type Index struct {
	s   *State
	pos map[string]int
}

// NewIndex indexes s.Resources (by the last resource of each address, as Resource
// finds the first: a valid state has one of each).
func NewIndex(s *State) *Index {
	x := &Index{s: s, pos: make(map[string]int, len(s.Resources))}
	for i, r := range s.Resources {
		x.pos[r.Address] = i
	}
	return x
}

// Get returns the resource recorded at addr, or nil.
func (x *Index) Get(addr string) *Resource {
	if i, ok := x.pos[addr]; ok {
		return x.s.Resources[i]
	}
	return nil
}

// Put records r, replacing the resource at its address if there is one.
func (x *Index) Put(r *Resource) {
	if i, ok := x.pos[r.Address]; ok {
		x.s.Resources[i] = r
		return
	}
	x.pos[r.Address] = len(x.s.Resources)
	x.s.Resources = append(x.s.Resources, r)
}

// Remove drops the resource at addr, if any: the last resource takes its place.
func (x *Index) Remove(addr string) {
	i, ok := x.pos[addr]
	if !ok {
		return
	}
	last := len(x.s.Resources) - 1
	if i != last {
		moved := x.s.Resources[last]
		x.s.Resources[i] = moved
		x.pos[moved.Address] = i
	}
	x.s.Resources[last] = nil
	x.s.Resources = x.s.Resources[:last]
	delete(x.pos, addr)
}
