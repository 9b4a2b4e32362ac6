package state

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/urmanac/sovos/internal/testenv"
)

// memBackend is a Backend in memory that counts writes.
type memBackend struct {
	mu     sync.Mutex
	writes []*State
	fail   error
}

func (m *memBackend) Read(context.Context) (*State, string, error) { return nil, "", nil }
func (m *memBackend) Write(_ context.Context, s *State) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return "", m.fail
	}
	m.writes = append(m.writes, s)
	return "sha256:" + strings.Repeat("0", 63) + string(rune('0'+len(m.writes)%10)), nil
}
func (m *memBackend) String() string { return "memory" }

func (m *memBackend) count() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.writes)
}

func TestWriterCoalesces(t *testing.T) {
	ctx := context.Background()
	b := &memBackend{}
	s := New("main", "0.1.0")
	lineage := s.Lineage
	w := newWriter(b, s, nil, 200*time.Millisecond)

	// 100 concurrent updates over about half a second.
	var wg sync.WaitGroup
	for i := range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			time.Sleep(time.Duration(i) * 5 * time.Millisecond)
			w.Update(func(s *State) {
				s.Resources = append(s.Resources, &Resource{Address: "kernel.k" + string(rune('a'+i/26)) + string(rune('a'+i%26)), Type: "kernel", Hash: testHash})
			})
		}()
	}
	wg.Wait()
	if err := w.Close(ctx); err != nil {
		t.Fatal(err)
	}
	n := b.count()
	// About 500ms of updates at one write per 200ms: the first write at once, then one
	// per interval, and the final flush.
	if n < 2 || n > 5 {
		t.Errorf("%d writes for 100 updates, want 2..5", n)
	}
	last := b.writes[n-1]
	if len(last.Resources) != 100 || last.Serial != uint64(n) || last.Lineage != lineage {
		t.Errorf("last write: %d resources, serial %d (want %d), lineage %s", len(last.Resources), last.Serial, n, last.Lineage)
	}
	for i, s := range b.writes {
		if s.Serial != uint64(i+1) {
			t.Errorf("write %d has serial %d", i, s.Serial)
		}
	}
	// Nothing changed: Close again writes nothing.
	if err := w.Close(ctx); err != nil || b.count() != n {
		t.Errorf("idle Close: %v, %d writes", err, b.count())
	}
}

func TestWriterFailure(t *testing.T) {
	ctx := context.Background()
	b := &memBackend{fail: errors.New("registry down")}
	w := newWriter(b, New("main", "0.1.0"), nil, time.Hour)
	w.Update(func(s *State) {})
	err := w.Flush(ctx)
	if err == nil || !strings.Contains(err.Error(), "registry down") || !strings.Contains(err.Error(), "memory") {
		t.Errorf("Flush = %v", err)
	}
	b.mu.Lock()
	b.fail = nil
	b.mu.Unlock()
	// The failed write is retried: the state is still dirty.
	if err := w.Close(ctx); err != nil || b.count() != 1 || b.writes[0].Serial != 1 {
		t.Errorf("Close after recovery: %v, %d writes", err, b.count())
	}
}

func TestWriterLostLock(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	l, _ := NewLayout(dir, "main")
	h, err := Hold(ctx, l, NewLockInfo("apply", "0.1.0"))
	if err != nil {
		t.Fatal(err)
	}
	w := NewWriter(l, New("main", "0.1.0"), h)
	w.Update(func(*State) {})
	if err := w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	other, _ := NewLayout(dir, "main")
	if err := other.Unlock(ctx, h.Info().ID); err != nil {
		t.Fatal(err)
	}
	w.Update(func(*State) {})
	if err := w.Close(ctx); !errors.Is(err, ErrLockLost) || !strings.Contains(err.Error(), "lost the state lock "+h.Info().ID) || !strings.Contains(err.Error(), "force-unlock") {
		t.Errorf("write after losing the lock: %v", err)
	}
	select {
	case <-h.Lost():
	default:
		t.Error("Lost is not closed")
	}
	if s, _, _ := l.Read(ctx); s == nil || s.Serial != 1 {
		t.Errorf("stored state %+v", s)
	}
}

// storeLate is a MemRegistry wrap for a registry that stores a PUT late: the nth PUT
// of a manifest whose path matches is received whole, then stored only once the
// next such PUT has been stored (or after a second when none comes), whether its client
// still waits or not; that next PUT is answered after it. arrived is closed when the
// nth PUT has been received.
func storeLate(t *testing.T, match func(path string) bool, nth int) (wrap func(http.Handler) http.Handler, arrived <-chan struct{}) {
	var (
		mu   sync.Mutex
		puts int
	)
	received := make(chan struct{})
	later := make(chan struct{})  // the next PUT was stored
	landed := make(chan struct{}) // the nth PUT was stored
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method != http.MethodPut || !match(r.URL.Path) {
				next.ServeHTTP(w, r)
				return
			}
			mu.Lock()
			puts++
			n := puts
			mu.Unlock()
			switch n {
			case nth:
				body, err := io.ReadAll(r.Body)
				if err != nil {
					t.Errorf("reading PUT %s: %v", r.URL.Path, err)
				}
				close(received)
				select {
				case <-later:
				case <-time.After(time.Second):
				}
				r = r.WithContext(context.WithoutCancel(r.Context()))
				r.Body = io.NopCloser(bytes.NewReader(body))
				next.ServeHTTP(w, r)
				close(landed)
			case nth + 1:
				rec := httptest.NewRecorder()
				next.ServeHTTP(rec, r)
				close(later)
				<-landed
				for k, v := range rec.Header() {
					w.Header()[k] = v
				}
				w.WriteHeader(rec.Code)
				_, _ = w.Write(rec.Body.Bytes())
			default:
				next.ServeHTTP(w, r)
			}
		})
	}, received
}

// TestWriterCloseLetsWriteFinish: Close lets a background write in flight finish before
// the final write, rather than abandoning it. A registry may still store an abandoned
// manifest PUT after the final write has been stored: the state then moves back under
// the lock, and the fence refuses the history tag ("the state … changed under the lock",
// "not tagged as its history entry fresh.v1", as an apply of a new workspace that only
// adopts, whose Close comes while its first background write is in flight, saw in
// TestQuickstartEndToEnd).
func TestWriterCloseLetsWriteFinish(t *testing.T) {
	ctx := context.Background()
	late, arrived := storeLate(t, func(p string) bool { return strings.HasSuffix(p, "/manifests/main") }, 1)
	host := testenv.MemRegistry(t, late)
	r := lockRegistryTimeout(t, host, "a", 5*time.Second)
	h, err := Hold(ctx, r, lockInfo("a"))
	if err != nil {
		t.Fatal(err)
	}
	defer h.Release(ctx)
	s := New("main", "0.1.0")
	s.History = NewHistory("apply")
	w := NewWriter(h, s, h)
	w.Update(func(s *State) {
		s.Resources = append(s.Resources, &Resource{Address: "kernel.k", Type: "kernel", Hash: testHash})
	})
	<-arrived // the first write is in flight
	w.Update(func(s *State) { s.History.Adopted = []string{"kernel.k"} })
	if err := w.Close(ctx); err != nil {
		t.Fatalf("Close while a write was in flight: %v", err)
	}
	got, d, err := lockRegistryTimeout(t, host, "b", 5*time.Second).Read(ctx)
	if err != nil || got == nil {
		t.Fatalf("reading the state: %v", err)
	}
	if d != w.Digest() || got.Serial != 2 || got.History == nil || len(got.History.Adopted) != 1 {
		t.Fatalf("the state is %s (serial %d), want the final write %s (serial 2)", d, got.Serial, w.Digest())
	}
	if _, hd, err := r.ReadHistory(ctx, got.Serial); err != nil || hd != d {
		t.Errorf("history entry %s = %s, %v; want %s", HistoryTag("main", got.Serial), hd, err, d)
	}
}
