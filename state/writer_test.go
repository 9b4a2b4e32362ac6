package state

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
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
