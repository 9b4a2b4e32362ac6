package bootmedia_test

import (
	"archive/tar"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/urmanac/sovos/bootmedia"
	"github.com/urmanac/sovos/internal/oci"
	"github.com/urmanac/sovos/internal/testenv"
)

var installerAnnotations = map[string]string{"dev.sovos.hash": strings.Repeat("a", 64), bootmedia.AnnotationAddress: "profile.installer"}

// tarDir writes the files under dir into a tar at path, names relative to dir.
func tarDir(t *testing.T, dir, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tw := tar.NewWriter(f)
	err = filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		h, err := tar.FileInfoHeader(info, "")
		if err != nil {
			return err
		}
		h.Name = filepath.ToSlash(rel)
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if info.Mode().IsRegular() {
			in, err := os.Open(p)
			if err != nil {
				return err
			}
			defer in.Close()
			_, err = io.Copy(tw, in)
			return err
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
}

// checkSameImage checks that got is want annotated: the same config and layers, blob for
// blob, and the annotations on its manifest.
func checkSameImage(t *testing.T, what string, got, want v1.Image) {
	t.Helper()
	gm, err := got.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	wm, err := want.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	if gm.Config.Digest != wm.Config.Digest {
		t.Errorf("%s: config %s, the archive's is %s", what, gm.Config.Digest, wm.Config.Digest)
	}
	if len(gm.Layers) != len(wm.Layers) {
		t.Fatalf("%s: %d layers, the archive has %d", what, len(gm.Layers), len(wm.Layers))
	}
	for i := range gm.Layers {
		if gm.Layers[i].Digest != wm.Layers[i].Digest {
			t.Errorf("%s: layer %d is %s, the archive's is %s", what, i, gm.Layers[i].Digest, wm.Layers[i].Digest)
		}
	}
	for k, v := range installerAnnotations {
		if gm.Annotations[k] != v {
			t.Errorf("%s: manifest annotation %s = %q, want %q", what, k, gm.Annotations[k], v)
		}
	}
}

// The installer image the imager writes as an archive is pushed as that image, not as a
// file: from a `docker save` archive (go-containerregistry's tarball, as Talos's imager
// writes it) and from an OCI layout in a tar, a single image or an index.
func TestPushInstaller(t *testing.T) {
	host := testenv.StartRegistry(t)
	reg := oci.New(oci.WithInsecure(host))
	ctx := context.Background()
	img, err := random.Image(2048, 3)
	if err != nil {
		t.Fatal(err)
	}
	pull := func(t *testing.T, ref string) *remote.Descriptor {
		t.Helper()
		r, err := name.ParseReference(ref, name.Insecure)
		if err != nil {
			t.Fatal(err)
		}
		desc, err := remote.Get(r)
		if err != nil {
			t.Fatal(err)
		}
		return desc
	}

	t.Run("docker save", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "installer-amd64.tar")
		tag, _ := name.NewTag("ghcr.io/siderolabs/installer:v1.13.3")
		if err := tarball.WriteToFile(path, tag, img); err != nil {
			t.Fatal(err)
		}
		ref := host + "/boards/docker:0123456789abcdef"
		dgst, err := bootmedia.PushInstaller(ctx, reg, ref, path, installerAnnotations)
		if err != nil {
			t.Fatal(err)
		}
		desc := pull(t, ref)
		if desc.Digest.String() != dgst {
			t.Errorf("pushed %s, the tag is %s", dgst, desc.Digest)
		}
		got, err := desc.Image()
		if err != nil {
			t.Fatal(err)
		}
		checkSameImage(t, "pushed from a docker archive", got, img)
	})

	t.Run("OCI layout", func(t *testing.T) {
		dir := t.TempDir()
		lp, err := layout.Write(filepath.Join(dir, "layout"), empty.Index)
		if err != nil {
			t.Fatal(err)
		}
		if err := lp.AppendImage(img); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, "out", "installer-arm64.tar")
		if err := os.Mkdir(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		tarDir(t, filepath.Join(dir, "layout"), path)
		ref := host + "/boards/oci:0123456789abcdef"
		dgst, err := bootmedia.PushInstaller(ctx, reg, ref, path, installerAnnotations)
		if err != nil {
			t.Fatal(err)
		}
		desc := pull(t, ref)
		if mt, _ := img.MediaType(); desc.Digest.String() != dgst || desc.MediaType != mt {
			t.Errorf("pushed %s, the tag is %s (%s)", dgst, desc.Digest, desc.MediaType)
		}
		got, err := desc.Image()
		if err != nil {
			t.Fatal(err)
		}
		checkSameImage(t, "pushed from an OCI layout", got, img)
		// Unpacked next to the archive, and cleaned up.
		if entries, _ := os.ReadDir(filepath.Dir(path)); len(entries) != 1 {
			t.Errorf("%d entries left beside the archive, want only the archive", len(entries))
		}
	})

	t.Run("OCI layout of an index", func(t *testing.T) {
		arm, err := random.Image(1024, 2)
		if err != nil {
			t.Fatal(err)
		}
		// BuildKit's provenance: an attestation manifest naming the image it describes.
		att, err := random.Image(256, 1)
		if err != nil {
			t.Fatal(err)
		}
		imgDigest, _ := img.Digest()
		attDigest, _ := att.Digest()
		idx := mutate.AppendManifests(empty.Index,
			mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}},
			mutate.IndexAddendum{Add: arm, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "arm64"}}},
			mutate.IndexAddendum{Add: att, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "unknown", Architecture: "unknown"},
				Annotations: map[string]string{"vnd.docker.reference.type": "attestation-manifest", "vnd.docker.reference.digest": imgDigest.String()}}})
		dir := t.TempDir()
		lp, err := layout.Write(filepath.Join(dir, "layout"), empty.Index)
		if err != nil {
			t.Fatal(err)
		}
		if err := lp.AppendIndex(idx); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, "installer-amd64.tar")
		tarDir(t, filepath.Join(dir, "layout"), path)
		ref := host + "/boards/index:0123456789abcdef"
		dgst, err := bootmedia.PushInstaller(ctx, reg, ref, path, installerAnnotations)
		if err != nil {
			t.Fatal(err)
		}
		desc := pull(t, ref)
		if desc.Digest.String() != dgst || !desc.MediaType.IsIndex() {
			t.Fatalf("pushed %s, the tag is %s (%s)", dgst, desc.Digest, desc.MediaType)
		}
		got, err := desc.ImageIndex()
		if err != nil {
			t.Fatal(err)
		}
		im, err := got.IndexManifest()
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range installerAnnotations {
			if im.Annotations[k] != v {
				t.Errorf("index annotation %s = %q, want %q", k, im.Annotations[k], v)
			}
		}
		if len(im.Manifests) != 3 {
			t.Fatalf("%d manifests in the pushed index, want 3", len(im.Manifests))
		}
		// The attestation is left as it is, pointed at its image's new (annotated) digest.
		if a := im.Manifests[2]; a.Digest != attDigest || a.Annotations["vnd.docker.reference.digest"] != im.Manifests[0].Digest.String() ||
			a.Annotations["vnd.docker.reference.type"] != "attestation-manifest" {
			t.Errorf("attestation entry %+v, want %s naming %s", a, attDigest, im.Manifests[0].Digest)
		}
		if im.Manifests[0].Digest == imgDigest {
			t.Error("the amd64 image was not annotated")
		}
		for i, want := range []v1.Image{img, arm} {
			d := im.Manifests[i]
			if d.Platform == nil || d.Platform.Architecture != []string{"amd64", "arm64"}[i] {
				t.Errorf("manifest %d has platform %v", i, d.Platform)
			}
			child, err := got.Image(d.Digest)
			if err != nil {
				t.Fatal(err)
			}
			checkSameImage(t, "image "+d.Platform.Architecture+" of the pushed index", child, want)
		}
	})

	t.Run("not an image archive", func(t *testing.T) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "readme"), []byte("hi"), 0o644); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(t.TempDir(), "installer-amd64.tar")
		tarDir(t, dir, path)
		_, err := bootmedia.PushInstaller(ctx, reg, host+"/boards/bad:0123456789abcdef", path, installerAnnotations)
		if err == nil || !strings.Contains(err.Error(), "the imager's installer-amd64.tar: is neither an OCI image layout (oci-layout, index.json) nor a `docker save` archive (manifest.json)") {
			t.Errorf("a tar without an image: %v", err)
		}
	})
}
