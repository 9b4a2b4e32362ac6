package state

import (
	"fmt"
	"os"
	"path/filepath"
)

// ErroredStatePath is where WriteErrored saves a state that could not be stored,
// relative to the configuration directory.
const ErroredStatePath = ".sovos/errored-state.json"

// WriteErrored saves s to dir/.sovos/errored-state.json when the final state write failed
// (registry down), so that nothing built is forgotten; `sovos state push` stores it later.
// It returns the file's path.
func WriteErrored(dir string, s *State) (string, error) {
	data, err := Encode(s)
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, filepath.FromSlash(ErroredStatePath))
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return "", fmt.Errorf("saving the errored state: %w", err)
	}
	// Only its owner reads it: it is the whole state, outputs included.
	if err := writeFileAtomic(path, data, 0o600); err != nil {
		return "", fmt.Errorf("saving the errored state: %w", err)
	}
	return path, nil
}
