//go:build unix

package state

import (
	"errors"
	"os"
	"syscall"
)

// flockSupported says whether file locks tell a live lock holder from a dead one.
const flockSupported = true

// tryFlock takes an exclusive flock on f without blocking; false when another open file
// (in this process or another) holds it.
func tryFlock(f *os.File) (bool, error) {
	err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	if errors.Is(err, syscall.EWOULDBLOCK) {
		return false, nil
	}
	return err == nil, err
}

// flock waits for an exclusive or shared flock on f. Closing f releases it.
func flock(f *os.File, exclusive bool) error {
	how := syscall.LOCK_SH
	if exclusive {
		how = syscall.LOCK_EX
	}
	for {
		err := syscall.Flock(int(f.Fd()), how)
		if !errors.Is(err, syscall.EINTR) {
			return err
		}
	}
}
