//go:build !unix

package state

import "os"

// tryFlock cannot tell a live holder from a dead one without flock(2): the lock file's
// expiry decides alone.
func tryFlock(f *os.File) (bool, error) { return false, nil }
