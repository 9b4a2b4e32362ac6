package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/urmanac/sovos/internal/testenv"
)

// pushImage pushes a random single-platform image to ref and returns its digest.
func pushImage(t *testing.T, ref string) v1.Hash {
	t.Helper()
	img, err := random.Image(256, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(parseRef(t, ref), img); err != nil {
		t.Fatal(err)
	}
	d, _ := img.Digest()
	return d
}

func parseRef(t *testing.T, ref string) name.Reference {
	t.Helper()
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// pushIndex pushes a two-platform image index to ref and returns the index's digest and
// its manifests' digests.
func pushIndex(t *testing.T, ref string) (v1.Hash, []v1.Hash) {
	t.Helper()
	idx := v1.ImageIndex(empty.Index)
	var children []v1.Hash
	for _, arch := range []string{"amd64", "arm64"} {
		img, err := random.Image(256, 1)
		if err != nil {
			t.Fatal(err)
		}
		d, _ := img.Digest()
		children = append(children, d)
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: img,
			Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: arch}}})
	}
	if err := remote.WriteIndex(parseRef(t, ref), idx); err != nil {
		t.Fatal(err)
	}
	d, err := idx.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d, children
}

const pinConfig = `sovos {
  insecure_registries = [%[1]q]
}

# The images the factory starts from.
image "single" {
  ref = "%[1]s/test/single:v1"
}

image "multi" {
	ref = "%[1]s/test/multi:v1"	# a multi-platform index
}

source "src" {
  git = %[2]q
  ref = "v1.0.0"
}
`

// TestPinCommand drives `sovos pin` end to end against a real registry (an image re-pushed
// under the same tag, a multi-platform index) and a real git repository whose tag moves.
func TestPinCommand(t *testing.T) {
	host := testenv.StartRegistry(t)
	git := testenv.NewGitRemote(t)
	git.Tag("v1.0.0", true)
	first := git.Git("rev-parse", "HEAD")
	single1 := pushImage(t, host+"/test/single:v1")
	multi, children := pushIndex(t, host+"/test/multi:v1")

	dir := writeFiles(t, map[string]string{"main.sovos.hcl": fmt.Sprintf(pinConfig, host, git.URL)})
	path := filepath.Join(dir, "main.sovos.hcl")
	read := func() string {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	original := read()

	// validate and plan refuse a git source without its commit, and say what to run.
	for _, cmd := range [][]string{{"validate"}, {"plan", "-refresh=false"}} {
		_, errOut, code := runApp(t, append([]string{"-chdir=" + dir, "-no-color"}, cmd...)...)
		if code != 1 || !strings.Contains(errOut, "source.src pins no commit") || !strings.Contains(errOut, "run `sovos pin`") {
			t.Errorf("%s: exit %d\n%s", cmd[0], code, errOut)
		}
	}

	out, errOut, code := runApp(t, "-chdir="+dir, "-no-color", "pin", "-check")
	want := fmt.Sprintf("image.single: digest (none) -> %s (%s/test/single:v1)\n"+
		"image.multi: digest (none) -> %s (%s/test/multi:v1)\n"+
		"source.src: commit (none) -> %s (v1.0.0)\n",
		short(single1), host, short(multi), host, first[:8])
	if code != 2 || out != want || !strings.Contains(errOut, "3 pins are missing or behind their ref") {
		t.Fatalf("pin -check: exit %d\nstdout:\n%s\nwant:\n%s\nstderr:\n%s", code, out, want, errOut)
	}
	if read() != original {
		t.Fatal("pin -check wrote the file")
	}

	out, errOut, code = runApp(t, "-chdir="+dir, "-no-color", "pin")
	if code != 0 || out != want+"Pinned 3 changes in 1 file.\n" || errOut != "" {
		t.Fatalf("pin: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	got := read()
	for _, w := range []string{
		"  ref = \"" + host + "/test/single:v1\"\n  digest = \"" + single1.String() + "\"\n}",
		// The index's digest, as `crane digest` gives it, not a platform's manifest.
		"\tref = \"" + host + "/test/multi:v1\"\t# a multi-platform index\n\tdigest = \"" + multi.String() + "\"\n}",
		"  ref = \"v1.0.0\"\n  commit = \"" + first + "\"\n}",
	} {
		if !strings.Contains(got, w) {
			t.Errorf("the file lacks %q:\n%s", w, got)
		}
	}
	for _, c := range children {
		if strings.Contains(got, c.String()) {
			t.Errorf("a platform manifest was pinned instead of the index: %s", c)
		}
	}
	if _, errOut, code := runApp(t, "-chdir="+dir, "validate"); code != 0 {
		t.Errorf("validate after pin: exit %d\n%s", code, errOut)
	}

	out, _, code = runApp(t, "-chdir="+dir, "pin", "-check")
	if code != 0 || out != "Every pin is current.\n" {
		t.Fatalf("pin -check when current: exit %d\n%s", code, out)
	}

	// Upstream moves: the image is re-pushed under the same tag, the tag is moved.
	single2 := pushImage(t, host+"/test/single:v1")
	second := git.Commit("second")
	git.Tag("v1.0.0", true)
	pinned := read()
	out, errOut, code = runApp(t, "-chdir="+dir, "pin", "-check")
	want = fmt.Sprintf("image.single: digest %s -> %s (%s/test/single:v1)\nsource.src: commit %s -> %s (v1.0.0)\n",
		short(single1), short(single2), host, first[:8], second[:8])
	if code != 2 || out != want || !strings.Contains(errOut, "2 pins are missing or behind") {
		t.Fatalf("pin -check after the move: exit %d\nstdout:\n%s\nwant:\n%s\nstderr:\n%s", code, out, want, errOut)
	}
	out, _, code = runApp(t, "-chdir="+dir, "pin")
	if code != 0 || !strings.HasPrefix(out, "No pin is missing.") || read() != pinned {
		t.Fatalf("pin without -upgrade moved a pin: exit %d\n%s", code, out)
	}
	// Flags after the address, as everywhere in sovos.
	out, _, code = runApp(t, "-chdir="+dir, "pin", "image.single", "-upgrade")
	if code != 0 || out != fmt.Sprintf("image.single: digest %s -> %s (%s/test/single:v1)\nPinned 1 change in 1 file.\n", short(single1), short(single2), host) {
		t.Fatalf("pin -upgrade image.single: exit %d\n%s", code, out)
	}
	out, _, code = runApp(t, "-chdir="+dir, "pin", "-upgrade")
	if code != 0 || out != fmt.Sprintf("source.src: commit %s -> %s (v1.0.0)\nPinned 1 change in 1 file.\n", first[:8], second[:8]) {
		t.Fatalf("pin -upgrade: exit %d\n%s", code, out)
	}
	if got := read(); got != strings.NewReplacer(single1.String(), single2.String(), first, second).Replace(pinned) {
		t.Errorf("-upgrade changed more than the pins:\n%s", got)
	}

	// A tag that does not exist: exit 1, the block and file:line named, nothing written.
	t.Run("missing ref", func(t *testing.T) {
		src := strings.Replace(read(), "single:v1", "single:v9", 1)
		if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		out, errOut, code := runApp(t, "-chdir="+dir, "-no-color", "pin", "-upgrade")
		if code != 1 || out != "" || !strings.Contains(errOut, "Error: Ref not found") ||
			!strings.Contains(errOut, "image.single ("+path+":7): ref "+host+"/test/single:v9 does not exist") ||
			!strings.Contains(errOut, "Nothing was written") {
			t.Errorf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
		}
		if read() != src {
			t.Error("a file was written although a ref does not exist")
		}
	})

	// Without insecure_registries the registry is not spoken to over plain HTTP.
	t.Run("insecure registries", func(t *testing.T) {
		d := writeFiles(t, map[string]string{"main.sovos.hcl": fmt.Sprintf("image \"x\" {\n  ref = \"%s/test/single:v1\"\n}\n", host)})
		_, errOut, code := runApp(t, "-chdir="+d, "-no-color", "pin")
		if code != 1 || !strings.Contains(errOut, "Error: Cannot resolve ref") || !strings.Contains(errOut, "image.x (") ||
			!strings.Contains(errOut, "insecure_registries = [\""+host+"\"]") {
			t.Errorf("exit %d\n%s", code, errOut)
		}
	})
}

func short(d v1.Hash) string { return "sha256:" + d.Hex[:12] }

// TestPinCommandOffline covers what needs no registry: expressions, addresses, usage.
func TestPinCommandOffline(t *testing.T) {
	git := testenv.NewGitRemote(t)
	head := git.Git("rev-parse", "HEAD")
	dir := writeFiles(t, map[string]string{"main.sovos.hcl": fmt.Sprintf(`locals { c = %q }
source "expr" {
  git    = %q
  ref    = "main"
  commit = local.c
}
image "pinned" {
  ref    = "127.0.0.1:1/x:y"
  digest = "sha256:5fbc6235d2c41e3a4fcec46cf680cb20ad33d9562ade2f5436ca023d65f13e59"
}
`, head, git.URL)})
	out, errOut, code := runApp(t, "-chdir="+dir, "-no-color", "pin", "-upgrade", "source.expr")
	if code != 0 || out != "Every pin is current.\n" || !strings.Contains(errOut, "Warning: Pin left alone") ||
		!strings.Contains(errOut, "source.expr: commit is not a literal; left alone") || !strings.Contains(errOut, "main.sovos.hcl line 5") {
		t.Errorf("expression: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"pin", "kernel.x"}, "kernel.x is not declared"},
		{[]string{"pin", "source"}, "invalid address"},
		{[]string{"pin", "-bogus"}, "run `sovos pin -h` for the usage"},
	} {
		_, errOut, code := runApp(t, append([]string{"-chdir=" + dir, "-no-color"}, tc.args...)...)
		if code != 1 || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d\n%s", tc.args, code, errOut)
		}
	}
}
