package dag

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// diamond: a <- b, a <- c, (b, c) <- d, and e independent.
func diamond() *Graph {
	g := New()
	g.Add("a")
	g.Connect("b", "a")
	g.Connect("c", "a")
	g.Connect("d", "b")
	g.Connect("d", "c")
	g.Add("e")
	return g
}

func statuses(rs []*Result) map[string]Status {
	m := map[string]Status{}
	for _, r := range rs {
		m[r.ID] = r.Status
	}
	return m
}

func TestWalkOrder(t *testing.T) {
	for _, par := range []int{0, 1, 2, 8} {
		g := diamond()
		var mu sync.Mutex
		finished := map[string]bool{}
		rs, err := g.Walk(context.Background(), par, func(ctx context.Context, id string) error {
			mu.Lock()
			defer mu.Unlock()
			for _, d := range g.DependenciesOf(id) {
				if !finished[d] {
					t.Errorf("parallelism %d: %s started before its dependency %s finished", par, id, d)
				}
			}
			finished[id] = true
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		for id, st := range statuses(rs) {
			if st != Succeeded {
				t.Errorf("parallelism %d: %s: %v", par, id, st)
			}
		}
		if len(rs) != 5 || rs[0].ID != "a" || rs[4].ID != "e" {
			t.Errorf("results not in graph order: %v", rs)
		}
	}
}

func TestWalkSequentialIsDeterministic(t *testing.T) {
	g := diamond()
	var got []string
	if _, err := g.Walk(context.Background(), 1, func(ctx context.Context, id string) error {
		got = append(got, id)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if s := strings.Join(got, ","); s != "a,e,b,c,d" {
		t.Errorf("order = %s, want a,e,b,c,d", s)
	}
}

func TestWalkBound(t *testing.T) {
	g := New()
	for i := range 12 {
		g.Add(string(rune('a' + i)))
	}
	for _, par := range []int{1, 3, 4} {
		var cur, peak atomic.Int32
		if _, err := g.Walk(context.Background(), par, func(ctx context.Context, id string) error {
			n := cur.Add(1)
			for {
				p := peak.Load()
				if n <= p || peak.CompareAndSwap(p, n) {
					break
				}
			}
			time.Sleep(10 * time.Millisecond)
			cur.Add(-1)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if int(peak.Load()) != par {
			t.Errorf("parallelism %d: peak concurrency %d", par, peak.Load())
		}
	}
}

func TestWalkSkipPropagation(t *testing.T) {
	g := diamond()
	g.Connect("f", "d")
	boom := errors.New("boom")
	var ran sync.Map
	rs, err := g.Walk(context.Background(), 2, func(ctx context.Context, id string) error {
		ran.Store(id, true)
		if id == "b" {
			return boom
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]Status{"a": Succeeded, "b": Failed, "c": Succeeded, "d": Skipped, "e": Succeeded, "f": Skipped}
	got := statuses(rs)
	for id, st := range want {
		if got[id] != st {
			t.Errorf("%s: %v, want %v", id, got[id], st)
		}
	}
	for _, id := range []string{"d", "f"} {
		if _, ok := ran.Load(id); ok {
			t.Errorf("%s ran although a dependency failed", id)
		}
	}
	byID := map[string]*Result{}
	for _, r := range rs {
		byID[r.ID] = r
	}
	if !errors.Is(byID["b"].Err, boom) {
		t.Errorf("b: %v", byID["b"].Err)
	}
	if s := byID["d"].Err.Error(); s != "skipped: dependency b failed" {
		t.Errorf("d: %q", s)
	}
	if s := byID["f"].Err.Error(); s != "skipped: dependency d was skipped (b failed)" {
		t.Errorf("f: %q", s)
	}
}

func TestWalkCancel(t *testing.T) {
	// a chain a <- b <- c, plus x: cancel while a runs.
	g := New()
	g.Add("a")
	g.Connect("b", "a")
	g.Connect("c", "b")
	g.Add("x")
	var ranB atomic.Bool
	// The cancel must come from outside: run again with a goroutine cancelling.
	ctx, cancel := context.WithCancel(context.Background())
	started := make(chan struct{})
	go func() { <-started; cancel() }()
	rs, err := g.Walk(ctx, 1, func(ctx context.Context, id string) error {
		switch id {
		case "a":
			close(started)
			<-ctx.Done()
			return ctx.Err()
		case "b":
			ranB.Store(true)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if ranB.Load() {
		t.Error("b ran after cancellation")
	}
	got := statuses(rs)
	for id, st := range map[string]Status{"a": Canceled, "b": Canceled, "c": Canceled, "x": Canceled} {
		if got[id] != st {
			t.Errorf("%s: %v, want %v", id, got[id], st)
		}
	}
}

func TestCycle(t *testing.T) {
	g := New()
	g.Connect("a", "b")
	g.Connect("b", "c")
	g.Connect("c", "a")
	_, err := g.Walk(context.Background(), 1, func(context.Context, string) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "a -> b -> c -> a") {
		t.Errorf("err = %v", err)
	}
}
