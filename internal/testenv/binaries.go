package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// The binaries a test binary builds, each at most once: the first test that asks pays
// for the build, the others reuse it. They live in one temporary directory that Main
// removes when the tests end.
var built = struct {
	sync.Mutex
	main  bool   // Main is running the tests
	dir   string // created by the first build
	tools map[string]*tool
}{tools: map[string]*tool{}}

type tool struct {
	once sync.Once
	path string
	err  error
}

// Main runs a package's tests and then removes the binaries Sovos and Modsign built for
// them. A package whose tests use either has
//
//	func TestMain(m *testing.M) { testenv.Main(m) }
func Main(m *testing.M) {
	built.Lock()
	built.main = true
	built.Unlock()
	code := m.Run()
	built.Lock()
	if built.dir != "" {
		os.RemoveAll(built.dir)
	}
	built.Unlock()
	os.Exit(code)
}

// Sovos returns the path of a sovos binary built from this checkout's cmd/sovos, built
// once per test binary (the package's TestMain must call Main). Skipped with -short.
func Sovos(t testing.TB) string {
	t.Helper()
	return buildTool(t, "sovos", "github.com/urmanac/sovos/cmd/sovos")
}

// Modsign returns the path of the modsign test tool (internal/modsign), built once per
// test binary (the package's TestMain must call Main). It is static, so it runs in a
// FROM scratch build stage, and built with -trimpath, as demo.sh builds it: its bytes are
// part of the build contexts, and so of the sources' hashes. Skipped with -short.
func Modsign(t testing.TB) string {
	t.Helper()
	return buildTool(t, "modsign", "github.com/urmanac/sovos/internal/modsign")
}

func buildTool(t testing.TB, name, pkg string) string {
	t.Helper()
	if testing.Short() {
		t.Skipf("builds the %s binary; skipped with -short", name)
	}
	built.Lock()
	if !built.main {
		built.Unlock()
		t.Fatalf("testenv.%s%s: the package's TestMain must call testenv.Main(m), which removes the binaries when the tests end",
			strings.ToUpper(name[:1]), name[1:])
	}
	b := built.tools[name]
	if b == nil {
		b = &tool{}
		built.tools[name] = b
	}
	built.Unlock()

	b.once.Do(func() { b.path, b.err = goBuild(name, pkg) })
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.path
}

func goBuild(name, pkg string) (string, error) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("building %s: the go command is not in PATH: %w", name, err)
	}
	built.Lock()
	if built.dir == "" {
		built.dir, err = os.MkdirTemp("", "sovos-testenv-bin-")
	}
	dir := built.dir
	built.Unlock()
	if err != nil {
		return "", fmt.Errorf("building %s: %w", name, err)
	}
	bin := filepath.Join(dir, name)
	cmd := exec.Command(goTool, "build", "-trimpath", "-o", bin, pkg)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build %s: %v\n%s", pkg, err, out)
	}
	if err := readSources(goTool, pkg); err != nil {
		return "", fmt.Errorf("building %s: %w", name, err)
	}
	return bin, nil
}

// readSources opens every file of the module that went into pkg. The go command caches
// a test's result keyed by the files the test opened; without this, a test that runs a
// binary built from packages its own test binary does not import (cmd/sovos) would keep
// passing from the cache after those packages change.
func readSources(goTool, pkg string) error {
	const format = `{{if and .Module .Module.Main}}{{$d := .Dir}}{{.Module.GoMod}}` +
		`{{range .GoFiles}}{{"\n"}}{{$d}}/{{.}}{{end}}{{range .EmbedFiles}}{{"\n"}}{{$d}}/{{.}}{{end}}{{"\n"}}{{end}}`
	out, err := exec.Command(goTool, "list", "-deps", "-f", format, pkg).Output()
	if err != nil {
		return fmt.Errorf("go list -deps %s: %w", pkg, err)
	}
	seen := map[string]bool{}
	for _, f := range strings.Split(string(out), "\n") {
		if f == "" || seen[f] {
			continue
		}
		seen[f] = true
		fh, err := os.Open(f)
		if err != nil {
			return err
		}
		fh.Close()
	}
	return nil
}
