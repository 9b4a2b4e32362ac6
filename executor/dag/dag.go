// Package dag is a directed acyclic graph of named nodes and a bounded-parallel walk over
// it: a node runs once every node it depends on has succeeded, at most N run at once, a
// failed node skips everything downstream of it, and a cancelled context stops launching
// new nodes. The executor is a walk over this graph, not a loop per resource type.
package dag

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
)

// Graph is a set of nodes and dependency edges. The zero value is not usable; call New.
// Nodes keep the order they were added in: ready nodes are launched in that order, so a
// walk over a graph added in dependency order is deterministic at parallelism 1.
type Graph struct {
	order []string
	deps  map[string][]string // node -> nodes it depends on
	down  map[string][]string // node -> nodes that depend on it
}

// New returns an empty graph.
func New() *Graph {
	return &Graph{deps: map[string][]string{}, down: map[string][]string{}}
}

// Add adds a node; adding it again is a no-op.
func (g *Graph) Add(id string) {
	if _, ok := g.deps[id]; ok {
		return
	}
	g.order = append(g.order, id)
	g.deps[id] = nil
}

// Connect records that node depends on dependency. Both are added if missing.
func (g *Graph) Connect(node, dependency string) {
	g.Add(node)
	g.Add(dependency)
	if slices.Contains(g.deps[node], dependency) {
		return
	}
	g.deps[node] = append(g.deps[node], dependency)
	g.down[dependency] = append(g.down[dependency], node)
}

// Nodes returns the nodes in the order they were added.
func (g *Graph) Nodes() []string { return slices.Clone(g.order) }

// DependenciesOf returns the direct dependencies of a node.
func (g *Graph) DependenciesOf(id string) []string { return slices.Clone(g.deps[id]) }

// Validate returns an error naming the members of a cycle, if there is one.
func (g *Graph) Validate() error {
	const (
		white = iota
		grey
		black
	)
	color := map[string]int{}
	var stack []string
	var visit func(string) []string
	visit = func(n string) []string {
		color[n] = grey
		stack = append(stack, n)
		for _, d := range g.deps[n] {
			switch color[d] {
			case grey:
				i := slices.Index(stack, d)
				return append(slices.Clone(stack[i:]), d)
			case white:
				if c := visit(d); c != nil {
					return c
				}
			}
		}
		stack = stack[:len(stack)-1]
		color[n] = black
		return nil
	}
	for _, n := range g.order {
		if color[n] == white {
			if c := visit(n); c != nil {
				return fmt.Errorf("dependency cycle: %s", strings.Join(c, " -> "))
			}
		}
	}
	return nil
}

// Status is how a node's walk ended.
type Status int

// Statuses of a walked node.
const (
	// Succeeded: the node's function returned nil.
	Succeeded Status = iota
	// Failed: the node's function returned an error.
	Failed
	// Skipped: a dependency failed or was skipped, so the node never ran.
	Skipped
	// Canceled: the context was cancelled before the node could start, or while it ran.
	Canceled
)

func (s Status) String() string {
	switch s {
	case Succeeded:
		return "succeeded"
	case Failed:
		return "failed"
	case Skipped:
		return "skipped"
	case Canceled:
		return "canceled"
	}
	return fmt.Sprintf("Status(%d)", int(s))
}

// Result is the outcome of one node.
type Result struct {
	ID     string
	Status Status
	// Err is the node's error (Failed, Canceled) or a *SkipError (Skipped).
	Err        error
	Start, End time.Time
}

// Duration is how long the node ran (zero if it never started).
func (r *Result) Duration() time.Duration {
	if r.Start.IsZero() {
		return 0
	}
	return r.End.Sub(r.Start)
}

// SkipError says why a node was skipped: Dependency failed, or was itself skipped
// because Root failed.
type SkipError struct {
	Dependency string
	Root       string
}

func (e *SkipError) Error() string {
	if e.Root == "" || e.Root == e.Dependency {
		return "skipped: dependency " + e.Dependency + " failed"
	}
	return "skipped: dependency " + e.Dependency + " was skipped (" + e.Root + " failed)"
}

// ErrNotStarted is the error of a node that never started because the walk was cancelled.
var ErrNotStarted = errors.New("not started: interrupted")

// WalkFunc does the work of one node. It receives a context cancelled when the walk's
// context is.
type WalkFunc func(ctx context.Context, id string) error

// Walk runs fn on every node, each after all its dependencies succeeded, at most
// parallelism (minimum 1) at a time. It returns one result per node in the graph's order.
// It returns only once every started node has returned. The graph must be acyclic
// (Validate); on a cycle, Walk returns the cycle error and runs nothing.
func (g *Graph) Walk(ctx context.Context, parallelism int, fn WalkFunc) ([]*Result, error) {
	if err := g.Validate(); err != nil {
		return nil, err
	}
	if parallelism < 1 {
		parallelism = 1
	}
	results := make(map[string]*Result, len(g.order))
	pending := make(map[string]int, len(g.order)) // unfinished dependencies
	for _, n := range g.order {
		results[n] = &Result{ID: n}
		pending[n] = len(g.deps[n])
	}

	type done struct {
		id  string
		err error
	}
	finished := make(chan done)
	var wg sync.WaitGroup
	var ready []string
	for _, n := range g.order {
		if pending[n] == 0 {
			ready = append(ready, n)
		}
	}
	running, remaining := 0, len(g.order)

	// settle records a final result that did not run and propagates skips downstream.
	var settle func(id string, st Status, err error)
	var release func(id string)
	settle = func(id string, st Status, err error) {
		r := results[id]
		r.Status, r.Err = st, err
		remaining--
		release(id)
	}
	// release tells a finished node's dependents about it.
	release = func(id string) {
		r := results[id]
		for _, d := range g.down[id] {
			pending[d]--
			dr := results[d]
			if r.Status != Succeeded && dr.Err == nil {
				// The first failed dependency is the one reported.
				switch r.Status {
				case Failed:
					dr.Status, dr.Err = Skipped, &SkipError{Dependency: id}
				case Skipped:
					root := id
					var se *SkipError
					if errors.As(r.Err, &se) {
						root = se.Root
						if root == "" {
							root = se.Dependency
						}
					}
					dr.Status, dr.Err = Skipped, &SkipError{Dependency: id, Root: root}
				case Canceled:
					dr.Status, dr.Err = Canceled, ErrNotStarted
				}
			}
			if pending[d] == 0 {
				if dr.Err != nil {
					settle(d, dr.Status, dr.Err)
				} else {
					ready = append(ready, d)
				}
			}
		}
	}

	for remaining > 0 {
		// Launch what we may.
		for running < parallelism && len(ready) > 0 && ctx.Err() == nil {
			id := ready[0]
			ready = ready[1:]
			running++
			results[id].Start = time.Now()
			wg.Add(1)
			go func() {
				defer wg.Done()
				err := fn(ctx, id)
				finished <- done{id, err}
			}()
		}
		if ctx.Err() != nil && len(ready) > 0 {
			for _, id := range ready {
				results[id].Status, results[id].Err = Canceled, ErrNotStarted
			}
			stopped := ready
			ready = nil
			for _, id := range stopped {
				remaining--
				release(id)
			}
			continue
		}
		if running == 0 {
			// Nothing runs and nothing is ready: everything left was settled by release.
			if remaining > 0 && len(ready) == 0 {
				// Unreachable for an acyclic graph; guard against an infinite loop.
				return nil, errors.New("dag: walk stalled")
			}
			continue
		}
		var d done
		select {
		case d = <-finished:
		case <-ctx.Done():
			// Stop launching; keep waiting for the running nodes to notice the context.
			d = <-finished
		}
		running--
		remaining--
		r := results[d.id]
		r.End = time.Now()
		switch {
		case d.err == nil:
			r.Status = Succeeded
		case ctx.Err() != nil:
			r.Status, r.Err = Canceled, d.err
		default:
			r.Status, r.Err = Failed, d.err
		}
		release(d.id)
	}
	wg.Wait()

	out := make([]*Result, 0, len(g.order))
	for _, n := range g.order {
		out = append(out, results[n])
	}
	return out, nil
}
