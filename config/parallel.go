package config

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// The instances of one resource block never refer to each other, so they are evaluated
// concurrently: on a matrix, evaluation is most of a plan's time, and a second core
// halves it. Their results are registered afterwards in instance order, so values,
// diagnostics and their order do not depend on the number of workers.
const (
	// minPerWorker is the fewest instances worth a worker of their own: below it,
	// waking another thread costs more than evaluating them here.
	minPerWorker = 32
	// chunk is how many consecutive instances a worker takes at a time: small enough
	// that a worker slowed by another process does not keep the others waiting at the
	// end, large enough that handing them out costs nothing.
	chunk = 8
)

// forEach calls fn(i) for every i in [0, n), on up to workers goroutines, the caller's
// among them; it returns when every call has. With one worker (or few calls) it is a
// plain loop in the caller's goroutine.
func forEach(n, workers int, fn func(i int)) {
	workers = min(workers, n/minPerWorker)
	var next atomic.Int64
	work := func() {
		for {
			end := int(next.Add(chunk))
			start := end - chunk
			if start >= n {
				return
			}
			for i := start; i < min(end, n); i++ {
				fn(i)
			}
		}
	}
	var wg sync.WaitGroup
	for range workers - 1 {
		wg.Go(work)
	}
	work()
	wg.Wait()
}

// instanceWorkers is how many goroutines evaluate the instances of d. Pruning a
// conditional edits d's expression trees for a moment (consumedValue), so a block that
// prunes is evaluated on one.
func instanceWorkers(d *decl) int {
	if d.prunes() {
		return 1
	}
	return runtime.GOMAXPROCS(0)
}
