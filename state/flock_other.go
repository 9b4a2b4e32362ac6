//go:build !unix

package state

import "os"

// flockSupported says whether file locks tell a live lock holder from a dead one: not
// here, so a lock file left by a dead sovos needs `sovos force-unlock`.
const flockSupported = false

// tryFlock cannot tell a live holder from a dead one without flock(2).
func tryFlock(f *os.File) (bool, error) { return false, nil }

// flock is a no-op without flock(2): two sovos processes writing one layout at once are
// not kept apart on this platform.
func flock(f *os.File, exclusive bool) error { return nil }
