package testenv

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Packages' tests start daemons side by side. buildkitd serves a trace socket besides
// its API, by default at one fixed path (/run/buildkit/otel-grpc.sock); two daemons
// starting together raced for it and one exited with "bind: address already in use"
// (seen in CI). Each daemon's trace socket is its own, beside its API socket.
func TestBuildkitdOwnTraceSocket(t *testing.T) {
	for i := range 2 {
		b := StartBuildkitd(t)
		sock := filepath.Join(filepath.Dir(strings.TrimPrefix(b.Addr, "unix://")), "otel-grpc.sock")
		if _, err := os.Stat(sock); err != nil {
			t.Errorf("daemon %d: its trace socket is not beside its API socket: %v", i, err)
		}
	}
}
