package testenv

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	controlapi "github.com/moby/buildkit/api/services/control"
	"github.com/moby/buildkit/client"
)

// Buildkitd is a buildkitd process owned by one test. It is stopped by the test's
// cleanup; Stop and Kill end it earlier (e.g. to test an interrupted apply).
type Buildkitd struct {
	// Addr is the daemon's address for client.New, e.g. unix:///tmp/bk123/buildkitd.sock.
	Addr string
	// Root is the daemon's state directory.
	Root string
	// TLS is set for a daemon started WithTLS: it listens on Addr
	// (tcp://127.0.0.1:PORT) and requires a client certificate from these files.
	TLS *TLSFiles

	cmd     *exec.Cmd
	logPath string
	done    chan struct{}
	once    sync.Once
}

// BuildkitdOption configures StartBuildkitd.
type BuildkitdOption func(*buildkitdConfig)

type buildkitdConfig struct {
	insecure     []string
	tls          *TLSFiles
	noPrivileged bool
}

// WithoutPrivileged starts the daemon without --allow-insecure-entitlement
// security.insecure, as BuildKit's default is: it refuses any solve that asks for the
// entitlement (a profile's imager step), and runs every build.
func WithoutPrivileged() BuildkitdOption {
	return func(c *buildkitdConfig) { c.noPrivileged = true }
}

// WithTLS makes the daemon listen on tcp://127.0.0.1:PORT instead of a unix socket,
// serving the server certificate of files and requiring a client certificate signed
// by its CA, as a remote builder does (see NewTLS).
func WithTLS(files *TLSFiles) BuildkitdOption {
	return func(c *buildkitdConfig) { c.tls = files }
}

// WithInsecureRegistries lets the daemon pull from and push to these plain-HTTP
// registries (host:port), e.g. the one StartRegistry returns. It writes
// `[registry."HOST"] http = true, insecure = true` into the daemon's buildkitd.toml,
// which is what `FROM HOST/...` needs; pushes additionally need the exporter's
// registry.insecure attribute.
func WithInsecureRegistries(hosts ...string) BuildkitdOption {
	return func(c *buildkitdConfig) { c.insecure = append(c.insecure, hosts...) }
}

// StartBuildkitd starts a private buildkitd (native snapshotter, runc worker) as
// root and waits until it answers. Like the daemon the README and `make demo` start, it
// allows the security.insecure entitlement a profile's imager step asks for, unless
// WithoutPrivileged. The binary comes from $SOVOS_BUILDKITD or the
// repository's .tools/bin/buildkitd.
func StartBuildkitd(t testing.TB, opts ...BuildkitdOption) *Buildkitd {
	t.Helper()
	var cfg buildkitdConfig
	for _, o := range opts {
		o(&cfg)
	}

	bin := buildkitdPath(t)
	if os.Geteuid() != 0 {
		SkipOrFail(t, "buildkitd needs root for its runc worker (run the tests as root, as CI does)")
	}
	if _, err := exec.LookPath("runc"); err != nil {
		SkipOrFail(t, "runc is not in PATH (apt-get install runc)")
	}

	root := t.TempDir()
	// A unix socket path must stay under ~108 bytes; test temp dirs embed the
	// test name and can be longer.
	sockDir, err := os.MkdirTemp("", "bk")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(sockDir) })

	var toml strings.Builder
	// buildkitd always serves a trace socket, by default at /run/buildkit/otel-grpc.sock;
	// two daemons starting at once (go test runs packages side by side) race for that
	// one path and the loser exits with "bind: address already in use". Each daemon
	// gets its own, beside its API socket.
	fmt.Fprintf(&toml, "[otel]\n  socketPath = %q\n\n", filepath.Join(sockDir, "otel-grpc.sock"))
	for _, h := range cfg.insecure {
		fmt.Fprintf(&toml, "[registry.%q]\n  http = true\n  insecure = true\n\n", h)
	}
	confPath := filepath.Join(root, "buildkitd.toml")
	if err := os.WriteFile(confPath, []byte(toml.String()), 0o644); err != nil {
		t.Fatal(err)
	}

	b := &Buildkitd{
		Addr:    "unix://" + filepath.Join(sockDir, "buildkitd.sock"),
		Root:    filepath.Join(root, "state"),
		logPath: filepath.Join(root, "buildkitd.log"),
		done:    make(chan struct{}),
		TLS:     cfg.tls,
	}
	args := []string{"--root", b.Root, "--oci-worker-snapshotter=native", "--config", confPath}
	if !cfg.noPrivileged {
		args = append(args, "--allow-insecure-entitlement", "security.insecure")
	}
	if f := cfg.tls; f != nil {
		b.Addr = "tcp://" + freeTCPAddr(t)
		args = append(args, "--tlscacert", f.CACert, "--tlscert", f.ServerCert, "--tlskey", f.ServerKey)
	}
	args = append(args, "--addr", b.Addr)
	logf, err := os.Create(b.logPath)
	if err != nil {
		t.Fatal(err)
	}
	b.cmd = exec.Command(bin, args...)
	b.cmd.Stdout = logf
	b.cmd.Stderr = logf
	// Its own process group, so a Ctrl-C of `go test` does not race our SIGTERM.
	b.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := b.cmd.Start(); err != nil {
		logf.Close()
		t.Fatalf("starting %s: %v", bin, err)
	}
	go func() {
		b.cmd.Wait()
		logf.Close()
		close(b.done)
	}()
	// Registered after t.TempDir, so it runs before the state directory is removed.
	t.Cleanup(func() {
		b.Stop()
		if t.Failed() {
			t.Logf("buildkitd log (%s):\n%s", b.logPath, tail(b.logPath, 40))
		}
	})

	if err := b.waitReady(30 * time.Second); err != nil {
		t.Fatalf("buildkitd did not become ready: %v\nlog:\n%s", err, tail(b.logPath, 40))
	}
	return b
}

func (b *Buildkitd) waitReady(timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var last error
	for {
		select {
		case <-b.done:
			return fmt.Errorf("buildkitd exited: %v", b.cmd.ProcessState)
		default:
		}
		if err := ping(ctx, b.Addr, b.ClientOpts()...); err == nil {
			return nil
		} else {
			last = err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("timed out after %s: %w", timeout, last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// ClientOpts are the options client.New needs to reach the daemon at Addr: its TLS
// credentials when started WithTLS, else none.
func (b *Buildkitd) ClientOpts() []client.ClientOpt {
	if b.TLS == nil {
		return nil
	}
	return b.TLS.ClientOpts()
}

func ping(ctx context.Context, addr string, opts ...client.ClientOpt) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	c, err := client.New(ctx, addr, opts...)
	if err != nil {
		return err
	}
	defer c.Close()
	ws, err := c.ListWorkers(ctx)
	if err != nil {
		return err
	}
	if len(ws) == 0 {
		return errors.New("no workers yet")
	}
	return nil
}

// Stop ends the daemon gracefully (SIGTERM, then SIGKILL after 10s) and waits for it.
// It is safe to call more than once.
func (b *Buildkitd) Stop() {
	b.once.Do(func() {
		b.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-b.done:
		case <-time.After(10 * time.Second):
			b.cmd.Process.Kill()
			<-b.done
		}
		b.reapContainers()
	})
}

// Kill ends the daemon at once (SIGKILL), as a crash would, and waits for it.
// The build containers it leaves running are then removed.
func (b *Buildkitd) Kill() {
	b.once.Do(func() {
		b.cmd.Process.Kill()
		<-b.done
		b.reapContainers()
	})
}

// reapContainers deletes the runc containers a killed daemon left behind and
// unmounts what it had mounted under its root, so the test's temporary
// directory can be removed.
func (b *Buildkitd) reapContainers() {
	runcRoot := filepath.Join(b.Root, "runc-native")
	out, _ := exec.Command("runc", "--root", runcRoot, "list", "-q").Output()
	for _, id := range strings.Fields(string(out)) {
		exec.Command("runc", "--root", runcRoot, "delete", "--force", id).Run()
	}
	mounts, _ := os.ReadFile("/proc/self/mountinfo")
	var under []string
	for _, line := range strings.Split(string(mounts), "\n") {
		f := strings.Fields(line)
		if len(f) > 4 && strings.HasPrefix(f[4], b.Root+"/") {
			under = append(under, f[4])
		}
	}
	// Deepest first.
	for i := len(under) - 1; i >= 0; i-- {
		syscall.Unmount(under[i], syscall.MNT_DETACH)
	}
}

// Solves returns how many solves (client Solve or Build calls, finished or not)
// the daemon has recorded in its build history. Tests use it to check on the
// daemon itself that an apply issued no build. A Build of a resource with N
// stages counts 1+N.
func (b *Buildkitd) Solves(t testing.TB) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := client.New(ctx, b.Addr, b.ClientOpts()...)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	stream, err := c.ControlClient().ListenBuildHistory(ctx, &controlapi.BuildHistoryRequest{EarlyExit: true})
	if err != nil {
		t.Fatalf("reading buildkitd history: %v", err)
	}
	refs := map[string]bool{}
	for {
		ev, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("reading buildkitd history: %v", err)
		}
		if ev.Record != nil {
			refs[ev.Record.Ref] = true
		}
	}
	return len(refs)
}

// Log returns the daemon's log so far.
func (b *Buildkitd) Log() string {
	dt, _ := os.ReadFile(b.logPath)
	return string(dt)
}

// buildkitdPath finds the buildkitd binary: $SOVOS_BUILDKITD, else
// .tools/bin/buildkitd in the repository.
func buildkitdPath(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("SOVOS_BUILDKITD"); p != "" {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("SOVOS_BUILDKITD=%s: %v", p, err)
		}
		return p
	}
	return ToolPath(t, "buildkitd")
}

// ToolPath finds a binary built by `make tools` (buildkitd, buildctl,
// dockerfile-frontend): next to $SOVOS_BUILDKITD when that is set, else in
// .tools/bin of the repository root found by walking up from the test's working
// directory. A missing tool skips the test (fails it when $CI is set).
func ToolPath(t testing.TB, name string) string {
	t.Helper()
	if p := os.Getenv("SOVOS_BUILDKITD"); p != "" {
		candidate := filepath.Join(filepath.Dir(p), name)
		if _, err := os.Stat(candidate); err == nil {
			return candidate
		}
	}
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "tools", "go.mod")); err == nil {
			p := filepath.Join(dir, ".tools", "bin", name)
			if _, err := os.Stat(p); err != nil {
				SkipOrFail(t, fmt.Sprintf("%s is not built (%s missing); run `make tools`", name, p))
			}
			return p
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			SkipOrFail(t, "cannot find the repository root (tools/go.mod) above the working directory; set SOVOS_BUILDKITD")
		}
		dir = parent
	}
}

func tail(path string, n int) string {
	dt, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(dt), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
