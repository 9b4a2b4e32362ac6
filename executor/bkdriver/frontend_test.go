package bkdriver

import (
	"archive/tar"
	"bytes"
	"io"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/urmanac/sovos/internal/testenv"
)

// frontendImage pushes BuildKit's Dockerfile frontend (built statically by
// `make tools`) as a FROM scratch image, to stand in for a frontend image such
// as bldr that sovos runs through gateway.v0.
func frontendImage(t *testing.T, host string) string {
	t.Helper()
	bin, err := os.ReadFile(testenv.ToolPath(t, "dockerfile-frontend"))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Name: "bin/", Typeflag: tar.TypeDir, Mode: 0o755})
	tw.WriteHeader(&tar.Header{Name: "bin/dockerfile-frontend", Typeflag: tar.TypeReg, Mode: 0o755, Size: int64(len(bin))})
	tw.Write(bin)
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(buf.Bytes())), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", runtime.GOARCH
	cf.Config = v1.Config{Entrypoint: []string{"/bin/dockerfile-frontend"}}
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		t.Fatal(err)
	}
	ref, err := name.ParseReference(host+"/test/frontend:latest", name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img); err != nil {
		t.Fatal(err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return ref.Context().Name() + "@" + d.String()
}

// A frontend image (gateway.v0) keeps the one-session guarantee: stages and the
// file read back share the kernel-build step.
func TestBuildCustomFrontend(t *testing.T) {
	e := newEnv(t)
	fe := frontendImage(t, e.registry)
	src := t.TempDir()
	writeFiles(t, src, map[string]string{"Pkgfile": kernelDockerfile})
	buildHelper(t, src, "genkey")

	req := Request{
		Address:    "kernel.bldr",
		ContextDir: src,
		Dockerfile: "Pkgfile",
		Frontend:   fe,
		Target:     "kernel",
		Image:      e.registry + "/test/fe-kernel",
		Tag:        "t1",
		Stages:     []Stage{{Target: "module-pkg", Image: e.registry + "/test/fe-module"}},
		ReadFile:   &FileRef{Target: "kernel-build", Path: "/src/certs/signing_key.x509"},
	}
	start := time.Now()
	res, err := e.build(t, req)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("build through a frontend image: %s", time.Since(start))
	kernel := imageFiles(t, req.Image+"@"+res.Digest)["/boot/signing_key.x509"]
	module := imageFiles(t, req.Stages[0].Image+"@"+res.Stages["module-pkg"])["/lib/modules/signed-by"]
	if len(res.File) != 32 || !bytes.Equal(kernel, res.File) || !bytes.Equal(module, res.File) {
		t.Fatalf("one session must give one key:\n read back %x\n kernel    %x\n module    %x", res.File, kernel, module)
	}
}
