package testenv

import (
	"archive/tar"
	"bytes"
	"debug/elf"
	"fmt"
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
)

// busyboxApplets are linked to /bin/busybox in the base image; enough for the
// shell snippets test Dockerfiles use.
var busyboxApplets = []string{
	"sh", "cat", "cp", "mv", "rm", "ln", "ls", "mkdir", "echo", "printf", "test",
	"true", "false", "env", "chmod", "touch", "grep", "sed", "head", "tail", "wc",
	"tr", "cut", "sort", "find", "xargs", "tar", "gzip", "sha256sum", "md5sum",
	"sleep", "dd", "stat", "readlink", "dirname", "basename", "uname", "id", "od",
}

// BusyboxBase pushes a tiny base image (FROM scratch: a static /bin/busybox and
// applet symlinks, PATH=/bin) to the plain-HTTP registry at registryHost and
// returns it pinned by digest: HOST/testenv/busybox@sha256:.... Tests have no
// internet and no Docker Hub, so this is their `FROM busybox`. The daemon that
// pulls it needs WithInsecureRegistries(registryHost).
func BusyboxBase(t testing.TB, registryHost string) string {
	t.Helper()
	const bin = "/bin/busybox"
	if err := checkStatic(bin); err != nil {
		SkipOrFail(t, "a static busybox is needed at "+bin+" (apt-get install busybox-static): "+err.Error())
	}
	data, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}

	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	// A fixed mtime keeps the layer, and so the image digest, reproducible.
	mtime := time.Unix(0, 0)
	add := func(h *tar.Header, body []byte) {
		h.ModTime = mtime
		h.Format = tar.FormatPAX
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if body != nil {
			if _, err := tw.Write(body); err != nil {
				t.Fatal(err)
			}
		}
	}
	add(&tar.Header{Name: "bin/", Typeflag: tar.TypeDir, Mode: 0o755}, nil)
	add(&tar.Header{Name: "tmp/", Typeflag: tar.TypeDir, Mode: 0o1777}, nil)
	add(&tar.Header{Name: "bin/busybox", Typeflag: tar.TypeReg, Mode: 0o755, Size: int64(len(data))}, data)
	for _, a := range busyboxApplets {
		add(&tar.Header{Name: "bin/" + a, Typeflag: tar.TypeSymlink, Linkname: "busybox", Mode: 0o777}, nil)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	layerBytes := buf.Bytes()

	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerBytes)), nil
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
	cf.OS = "linux"
	cf.Architecture = runtime.GOARCH
	cf.Config = v1.Config{Env: []string{"PATH=/bin"}, Cmd: []string{"/bin/sh"}}
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		t.Fatal(err)
	}

	ref, err := name.ParseReference(registryHost+"/testenv/busybox:latest", name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img); err != nil {
		t.Fatalf("pushing busybox base to %s: %v", ref, err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return ref.Context().Name() + "@" + d.String()
}

// checkStatic rejects a dynamically linked binary (Debian's plain "busybox"
// package), which could not run in a FROM scratch image.
func checkStatic(path string) error {
	f, err := elf.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("%s is dynamically linked", path)
		}
	}
	return nil
}
