package bkdriver

import (
	"archive/tar"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/moby/buildkit/client"
	"github.com/urmanac/sovos/internal/testenv"
)

// env is one test's private registry and BuildKit daemon, and a driver for it.
type env struct {
	registry string
	daemon   *testenv.Buildkitd
	driver   *Driver
}

func newEnv(t testing.TB) *env {
	t.Helper()
	host := testenv.StartRegistry(t)
	bk := testenv.StartBuildkitd(t, testenv.WithInsecureRegistries(host))
	d, err := New(context.Background(), bk.Addr, WithInsecureRegistries(host), WithDockerConfigDir(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return &env{registry: host, daemon: bk, driver: d}
}

// build runs a Build, draining its progress the way a caller must; with -v
// the progress lines are logged.
func (e *env) build(t *testing.T, req Request) (*Result, error) {
	t.Helper()
	ch := make(chan *client.SolveStatus)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for st := range ch {
			for _, v := range st.Vertexes {
				if v.Completed != nil && testing.Verbose() {
					t.Logf("vertex %s cached=%v %s", v.Name, v.Cached, v.Completed.Sub(*v.Started))
				}
			}
		}
	}()
	res, err := e.driver.Build(context.Background(), req, ch)
	close(ch) // ours: Build never closes it
	<-done
	return res, err
}

// writeFiles creates files (path → content) under dir.
func writeFiles(t testing.TB, dir string, files map[string]string) {
	t.Helper()
	for p, content := range files {
		full := filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// helperProgram is a static, shell-less tool for FROM scratch images:
//
//	genkey key OUT   write 32 random bytes to OUT (a stand-in for a kernel's signing key)
//	genkey sleep     sleep for ten minutes (a build step to interrupt)
const helperProgram = `package main

import (
	"crypto/rand"
	"os"
	"path/filepath"
	"time"
)

func main() {
	if len(os.Args) == 2 && os.Args[1] == "sleep" {
		time.Sleep(10 * time.Minute)
		return
	}
	if len(os.Args) != 3 || os.Args[1] != "key" {
		os.Exit(2)
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		panic(err)
	}
	if err := os.MkdirAll(filepath.Dir(os.Args[2]), 0o755); err != nil {
		panic(err)
	}
	if err := os.WriteFile(os.Args[2], key, 0o600); err != nil {
		panic(err)
	}
}
`

// buildHelper compiles helperProgram statically into dir/name.
func buildHelper(t *testing.T, dir, name string) {
	t.Helper()
	src := t.TempDir()
	writeFiles(t, src, map[string]string{
		"go.mod":  "module genkey\n\ngo 1.22\n",
		"main.go": helperProgram,
	})
	cmd := exec.Command("go", "build", "-trimpath", "-o", filepath.Join(dir, name), ".")
	cmd.Dir = src
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=", "GOWORK=off")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the test helper: %v\n%s", err, out)
	}
}

// imageFiles reads the flattened filesystem of a pushed image.
func imageFiles(t *testing.T, ref string) map[string][]byte {
	t.Helper()
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	img, err := remote.Image(r)
	if err != nil {
		t.Fatalf("pulling %s: %v", ref, err)
	}
	rc := mutate.Extract(img)
	defer rc.Close()
	files := map[string][]byte{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		dt, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		files[filepath.Clean("/"+h.Name)] = dt
	}
	return files
}

// manifestOf fetches a manifest as the registry serves it.
type manifestDoc struct {
	MediaType   string            `json:"mediaType"`
	Annotations map[string]string `json:"annotations"`
	Config      struct {
		Digest string `json:"digest"`
	} `json:"config"`
}

func manifestOf(t *testing.T, ref string) (manifestDoc, string) {
	t.Helper()
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	desc, err := remote.Get(r)
	if err != nil {
		t.Fatalf("getting %s: %v", ref, err)
	}
	var m manifestDoc
	if err := json.Unmarshal(desc.Manifest, &m); err != nil {
		t.Fatal(err)
	}
	return m, desc.Digest.String()
}
