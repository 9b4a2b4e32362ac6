package testenv

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// RegistryBinary is the CNCF distribution registry as Debian packages it
// (`apt-get install docker-registry`).
const RegistryBinary = "docker-registry"

// StartRegistry runs a CNCF distribution registry on 127.0.0.1 (plain HTTP, deletes
// enabled, storage in a temporary directory) until the test ends, and returns its
// host:port. Without the binary the test is skipped, or fails under CI (SkipOrFail).
func StartRegistry(t testing.TB) (host string) {
	t.Helper()
	bin, err := exec.LookPath(RegistryBinary)
	if err != nil {
		bin = "/usr/bin/" + RegistryBinary
		if _, serr := os.Stat(bin); serr != nil {
			SkipOrFail(t, fmt.Sprintf("the CNCF registry (%s) is not installed: apt-get install docker-registry", RegistryBinary))
		}
	}
	port, err := freePort()
	if err != nil {
		t.Fatalf("finding a free port for the registry: %v", err)
	}
	host = fmt.Sprintf("127.0.0.1:%d", port)
	dir := t.TempDir()
	config := fmt.Sprintf(`version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: %s
  delete:
    enabled: true
http:
  addr: %s
`, filepath.Join(dir, "data"), host)
	cfgPath := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(cfgPath, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}

	var out lockedBuffer
	cmd := exec.Command(bin, "serve", cfgPath)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", bin, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("registry output:\n%s", out.String())
		}
	})

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+host+"/v2/", nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return host
			}
		}
		select {
		case err := <-exited:
			exited <- err // for the cleanup
			t.Fatalf("the registry exited: %v\n%s", err, out.String())
		case <-ctx.Done():
			t.Fatalf("the registry did not answer on %s within 20s:\n%s", host, out.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// freePort asks the kernel for an unused port. Another process could take it before the
// registry binds it; the registry then fails to start and the test says so.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// lockedBuffer collects a daemon's output, written by exec's copying goroutine and read
// by the test.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
