package state

import (
	"context"
	"fmt"
	"net/http"
	"testing"

	"github.com/urmanac/sovos/internal/oci"
	"github.com/urmanac/sovos/internal/testenv"
)

func bigState(n int) *State {
	s := New("main", "0.1.0")
	for i := range n {
		s.Resources = append(s.Resources, &Resource{Address: fmt.Sprintf("profile.p[%d]", i), Type: "profile",
			Hash: testHash, Tag: testHash[:16], Image: "ghcr.io/x/p", Digest: testDigest,
			Tags: map[string]string{"5.3.0": testDigest}, BuiltFrom: map[string]string{"kernel.k": testDigest}})
	}
	return s
}

func BenchmarkCodec(b *testing.B) {
	for _, n := range []int{500, 2000, 10000} {
		s := bigState(n)
		data, _ := Encode(s)
		b.Run(fmt.Sprintf("encode/%d", n), func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				if _, err := Encode(s); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("decode/%d", n), func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				if _, err := Decode(data, "bench"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestLockRoundTrips counts the HTTP requests of a lock, a renewal and an unlock.
func TestLockRoundTrips(t *testing.T) {
	ctx := context.Background()
	host := testenv.MemRegistry(t)
	ct := &countingTransport{rt: http.DefaultTransport}
	r := newTestRegistry(t, host, "main", oci.WithTransport(ct))
	info := NewLockInfo("apply", "0.1.0")
	for _, step := range []struct {
		name string
		do   func() error
	}{
		{"lock (first)", func() error { return r.Lock(ctx, info) }},
		{"renew", func() error { return r.Renew(ctx, info) }},
		{"unlock", func() error { return r.Unlock(ctx, info.ID) }},
		{"lock (again)", func() error { return r.Lock(ctx, info) }},
		{"write", func() error { _, err := r.Write(ctx, bigState(100)); return err }},
	} {
		ct.n.Store(0)
		if err := step.do(); err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: %d HTTP requests", step.name, ct.n.Load())
	}
}
