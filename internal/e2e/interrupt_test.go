package e2e

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/urmanac/sovos/state"
)

// TestCLIInterrupt sends SIGINT to `sovos apply` while the installer's slow build runs
// and the extension's has finished: the apply exits 1 with a clear message, the state
// keeps the extension, the lock is released, and the next apply does only what is left.
func TestCLIInterrupt(t *testing.T) {
	c := setup(t)
	c.OK("apply", "-auto-approve", "-progress=quiet")
	backend, err := state.NewLayout(filepath.Join(c.Dir, ".sovos", "state"), "default")
	if err != nil {
		t.Fatal(err)
	}
	read := func() *state.State {
		s, _, err := backend.Read(context.Background())
		if err != nil || s == nil {
			t.Fatalf("reading the state: %v", err)
		}
		return s
	}
	before := read()

	edit := func(rel, old, new string) string {
		p := filepath.Join(c.Dir, rel)
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(strings.Replace(string(data), old, new, 1)+map[bool]string{true: "RUN sleep 300\n"}[old == ""]), 0o644); err != nil {
			t.Fatal(err)
		}
		return string(data)
	}
	edit("ext/manifest.yaml", "1.0.0", "1.0.2")
	installer := edit("installer/Dockerfile", "", "")

	cmd := c.Command("apply", "-auto-approve", "-progress=plain")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.Now().Add(2 * time.Minute)
	var signalled uint64 // the serial when the signal is sent
	for {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("the extension was never recorded\nstderr:\n%s", stderr.String())
		}
		if s, _, err := backend.Read(context.Background()); err == nil && s != nil {
			if e := s.Resource("extension.e"); e != nil && e.Digest != before.Resource("extension.e").Digest && e.Verified != nil && e.Verified.Digest == e.Digest {
				signalled = s.Serial
				break
			}
		}
		select {
		case err := <-exited:
			t.Fatalf("apply ended before the interruption: %v\n%s\n%s", err, stdout.String(), stderr.String())
		case <-time.After(200 * time.Millisecond):
		}
	}
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		ee, ok := err.(*exec.ExitError)
		if !ok || ee.ExitCode() != 1 {
			t.Errorf("exit: %v, want status 1", err)
		}
	case <-time.After(time.Minute):
		cmd.Process.Kill()
		t.Fatal("apply did not exit after SIGINT")
	}
	if !strings.Contains(stderr.String(), "apply interrupted") || !strings.Contains(stderr.String(), "Interrupt received") {
		t.Errorf("stderr lacks the interruption:\n%s", stderr.String())
	}
	after := read()
	if after.Resource("installer.i").Digest != before.Resource("installer.i").Digest {
		t.Error("the interrupted installer was recorded")
	}
	// The final write happened after the signal: the apply's history entry, tagged.
	if after.Serial <= signalled || after.History == nil || after.History.Operation != "apply" || !slices.Contains(after.History.Built, "extension.e") {
		t.Errorf("after SIGINT: serial %d (%d when signalled), history %+v", after.Serial, signalled, after.History)
	}
	if h, _, err := backend.ReadHistory(context.Background(), after.Serial); err != nil || h == nil {
		t.Errorf("no history entry default.v%d after SIGINT: %v", after.Serial, err)
	}

	// The lock was released, and what is left is the installer and the profile.
	if err := os.WriteFile(filepath.Join(c.Dir, "installer", "Dockerfile"), []byte(installer), 0o644); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := c.Run("apply", "-auto-approve", "-progress=quiet")
	if code != 0 || strings.Contains(out, "\nextension.e: built sha256") || !strings.Contains(out, "profile.cm5: built") {
		t.Errorf("apply after the interruption: exit %d\n%s\n%s", code, out, errOut)
	}
}
