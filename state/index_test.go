package state

import (
	"fmt"
	"testing"
)

func TestIndex(t *testing.T) {
	s := New("default", "test")
	for i := range 5 {
		s.Resources = append(s.Resources, &Resource{Address: fmt.Sprintf("kernel.k%d", i), Hash: fmt.Sprint(i)})
	}
	x := NewIndex(s)
	x.Remove("kernel.k1")
	x.Remove("kernel.nope")
	x.Put(&Resource{Address: "kernel.k3", Hash: "new"})
	x.Put(&Resource{Address: "kernel.k9", Hash: "9"})
	x.Remove("kernel.k4")
	want := map[string]string{"kernel.k0": "0", "kernel.k2": "2", "kernel.k3": "new", "kernel.k9": "9"}
	if len(s.Resources) != len(want) {
		t.Fatalf("%d resources, want %d", len(s.Resources), len(want))
	}
	for addr, hash := range want {
		if r := x.Get(addr); r == nil || r.Hash != hash {
			t.Errorf("Get(%s) = %+v, want hash %s", addr, r, hash)
		}
		if r := s.Resource(addr); r == nil || r.Hash != hash {
			t.Errorf("the state holds %+v at %s, want hash %s", r, addr, hash)
		}
	}
	for _, gone := range []string{"kernel.k1", "kernel.k4"} {
		if x.Get(gone) != nil || s.Resource(gone) != nil {
			t.Errorf("%s is still recorded", gone)
		}
	}
}
