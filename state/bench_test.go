package state

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

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

// TestLockRoundTrips counts the HTTP requests of a lock, a renewal, a fenced write, a
// fence check (a tag move's) and a release.
func TestLockRoundTrips(t *testing.T) {
	ctx := context.Background()
	host := testenv.MemRegistry(t)
	ct := &countingTransport{rt: http.DefaultTransport}
	r := newTestRegistry(t, host, "main", oci.WithTransport(ct))
	var h *Held
	for _, step := range []struct {
		name string
		do   func() error
	}{
		{"lock", func() (err error) { h, err = Hold(ctx, r, NewLockInfo("apply", "0.1.0")); return err }},
		{"renew", func() error { return h.lease.renew(ctx, &LockInfo{ID: h.Info().ID, Renewed: time.Now()}) }},
		{"fenced write", func() error { _, err := h.Write(ctx, bigState(100)); return err }},
		{"fence (tag move)", func() error { return h.fence(ctx) }},
		{"release", func() error { return h.Release(ctx) }},
	} {
		ct.n.Store(0)
		if err := step.do(); err != nil {
			t.Fatalf("%s: %v", step.name, err)
		}
		t.Logf("%s: %d HTTP requests", step.name, ct.n.Load())
	}
}

// BenchmarkListHistory lists 40 history entries of a registry that takes 2 ms per
// request (a registry across a network answers slower still): the reads of the entries
// dominate.
func BenchmarkListHistory(b *testing.B) {
	slow := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			time.Sleep(2 * time.Millisecond)
			next.ServeHTTP(w, r)
		})
	}
	host := testenv.MemRegistry(b, slow)
	r, err := NewRegistry(host+"/sovos/state", "main", WithClient(oci.New(oci.WithInsecure(host))), WithLockSettle(0))
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	s := bigState(20)
	for range 40 {
		s.History = NewHistory("apply")
		w := NewWriter(r, s, nil)
		w.Update(func(*State) {})
		if err := w.Close(ctx); err != nil {
			b.Fatal(err)
		}
	}
	for b.Loop() {
		entries, err := ListHistory(ctx, r, 0)
		if err != nil || len(entries) != 40 {
			b.Fatalf("%d entries, %v", len(entries), err)
		}
	}
}
