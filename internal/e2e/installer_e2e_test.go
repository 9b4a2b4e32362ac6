package e2e

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/urmanac/sovos/bootmedia"
	"github.com/urmanac/sovos/internal/testenv"
)

// installerImager stands in for Talos's imager with output kind "installer": it writes
// the installer image as an archive, /out/installer-<arch>.tar. The archive is baked
// into the imager image at /installer.tar (made by the test, so it knows what the
// pushed image must be).
var installerImager = []byte(`#!/bin/sh
set -eu
profile=$(cat)
field() { echo "$profile" | sed -n "s/^ *$1: \"\{0,1\}\([^\"]*\)\"\{0,1\}\$/\1/p" | head -n 1; }
arch=$(field arch)
kind=$(field kind)
[ "$kind" = installer ] || { echo "imager: this stand-in writes installers only, not $kind" >&2; exit 1; }
cp /installer.tar "/out/installer-$arch.tar"
echo "imager: wrote /out/installer-$arch.tar" >&2
`)

// installerArchives returns a small image and that image as `docker save` writes it
// (go-containerregistry's tarball, the format Talos's imager writes) and as an OCI
// layout in a tar.
func installerArchives(t *testing.T) (v1.Image, []byte, []byte) {
	t.Helper()
	img, err := random.Image(4096, 2)
	if err != nil {
		t.Fatal(err)
	}
	tag, _ := name.NewTag("ghcr.io/siderolabs/installer:v1.13.3")
	var docker bytes.Buffer
	if err := tarball.Write(tag, img, &docker); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	lp, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := lp.AppendImage(img); err != nil {
		t.Fatal(err)
	}
	oci := filepath.Join(t.TempDir(), "oci.tar")
	if out, err := exec.Command("tar", "-C", dir, "-cf", oci, ".").CombinedOutput(); err != nil {
		t.Fatalf("tar: %v\n%s", err, out)
	}
	ociTar, err := os.ReadFile(oci)
	if err != nil {
		t.Fatal(err)
	}
	return img, docker.Bytes(), ociTar
}

const installerProfiles = `
image "imager_oci" {
  ref    = var.imager_oci
  digest = var.imager_oci_digest
}
variable "imager_oci" { type = string }
variable "imager_oci_digest" { type = string }

profile "inst-docker" {
  arch    = "amd64"
  version = "v1.13.3"
  imager  = image.imager.ref
  image   = "${var.registry}/inst-docker"
  output { kind = "installer" }
}

profile "inst-oci" {
  arch    = "amd64"
  version = "v1.13.3"
  imager  = image.imager_oci.ref
  image   = "${var.registry}/inst-oci"
  output { kind = "installer" }
}

# An imager and no image: its output is exported to _out/profiles/profile.local/.
profile "local" {
  arch    = "amd64"
  version = "v1.13.3"
  imager  = image.imager.ref
  output { kind = "installer" }
}
`

// An installer profile pushes the installer image its imager wrote as an archive — the
// archived image itself (same config, same layers), annotated dev.sovos.hash and
// dev.sovos.address — not an image holding the archive as a file. From a `docker save`
// archive and from an OCI layout; a lost state adopts it; plan, verify, fetch and output
// say the right things. A profile with an imager and no image says where its output was
// exported, and `fetch -o` copies it.
func TestInstallerProfilePushesTheInstallerImage(t *testing.T) {
	host := testenv.StartRegistry(t)
	bk := testenv.StartBuildkitd(t, testenv.WithInsecureRegistries(host))
	img, dockerTar, ociTar := installerArchives(t)
	ociRef, ociDigest := pushImagerWith(t, host, "e2e/imager-oci", installerImager, map[string][]byte{"installer.tar": ociTar})
	ref, dgst := pushImagerWith(t, host, "e2e/imager", installerImager, map[string][]byte{"installer.tar": dockerTar})
	c := bootCLI(t, bk, host, installerImager, installerProfiles, nil).With(
		"SOVOS_VAR_imager="+ref, "SOVOS_VAR_imager_digest="+dgst,
		"SOVOS_VAR_imager_oci="+ociRef, "SOVOS_VAR_imager_oci_digest="+ociDigest)

	out := c.OK("apply", "-auto-approve", "-progress=quiet")
	for _, want := range []string{
		"profile.inst-docker: built sha256:", "profile.inst-oci: built sha256:",
		"profile.local: built -> _out/profiles/profile.local.yaml, _out/profiles/profile.local/ (",
		"profile.plain: rendered -> _out/profiles/profile.plain.yaml (",
		"Apply complete! 4 built, 1 rendered, 0 adopted,",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("apply does not say %q:\n%s", want, out)
		}
	}

	st := readState(t, c)
	wantManifest, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	digests := map[string]string{}
	for _, addr := range []string{"profile.inst-docker", "profile.inst-oci"} {
		r := st.Resource(addr)
		if r == nil || r.ArtifactType != bootmedia.InstallerImage {
			t.Fatalf("%s in the state: %+v", addr, r)
		}
		digests[addr] = r.Digest
		tag, err := name.NewTag(r.Image+":"+r.Tag, name.Insecure)
		if err != nil {
			t.Fatal(err)
		}
		desc, err := remote.Get(tag)
		if err != nil {
			t.Fatal(err)
		}
		if desc.Digest.String() != r.Digest {
			t.Errorf("%s: %s is %s, the state records %s", addr, tag, desc.Digest, r.Digest)
		}
		pushed, err := desc.Image()
		if err != nil {
			t.Fatal(err)
		}
		m, err := pushed.Manifest()
		if err != nil {
			t.Fatal(err)
		}
		// The archived image, not an image with the archive in it.
		if m.Config.Digest != wantManifest.Config.Digest {
			t.Errorf("%s: the pushed image's config is %s, the archived image's %s", addr, m.Config.Digest, wantManifest.Config.Digest)
		}
		if len(m.Layers) != len(wantManifest.Layers) {
			t.Fatalf("%s: the pushed image has %d layers, the archived image %d", addr, len(m.Layers), len(wantManifest.Layers))
		}
		for i := range m.Layers {
			if m.Layers[i].Digest != wantManifest.Layers[i].Digest {
				t.Errorf("%s: layer %d is %s, the archived image's is %s", addr, i, m.Layers[i].Digest, wantManifest.Layers[i].Digest)
			}
		}
		if m.Annotations["dev.sovos.hash"] != r.Hash || m.Annotations[bootmedia.AnnotationAddress] != addr {
			t.Errorf("%s: the pushed manifest's annotations are %v", addr, m.Annotations)
		}
	}

	// Nothing left to do; nothing to verify is not a failure.
	if plan := c.Expect(0, "plan", "-detailed-exitcode"); !strings.Contains(plan, "No changes.") {
		t.Errorf("plan after the apply:\n%s", plan)
	}
	c.OK("verify")

	// fetch says plainly what it is and how to pull it.
	r := st.Resource("profile.inst-docker")
	pushedRef := r.Image + ":" + r.Tag + "@" + r.Digest
	_, errOut, code := c.Run("fetch", "profile.inst-docker", "-o", "fetched")
	if want := "profile.inst-docker: " + pushedRef + " is an installer image (output kind \"installer\"), not boot media: pull it as an image, with `crane pull " +
		pushedRef + " installer.tar` or `docker pull " + pushedRef + "`"; code != 1 || !strings.Contains(errOut, want) {
		t.Errorf("fetch of an installer profile: exit %d\n%s\nwant %q", code, errOut, want)
	}

	// output -profiles -json lists the installer images by address.
	var artifacts map[string]struct {
		Ref, Image, Tag, Digest, Kind string
	}
	if err := json.Unmarshal([]byte(c.OK("output", "-profiles", "-json")), &artifacts); err != nil {
		t.Fatal(err)
	}
	if a := artifacts["profile.inst-oci"]; a.Kind != "installer" || a.Digest != digests["profile.inst-oci"] || len(artifacts) != 2 {
		t.Errorf("output -profiles -json: %+v", artifacts)
	}

	// The exported profile: fetch -o copies what apply exported.
	fetched := c.OK("fetch", "profile.local", "-o", "copied")
	if !strings.Contains(fetched, "copied the files apply exported to") || !strings.Contains(fetched, "installer-amd64.tar") {
		t.Errorf("fetch -o of an exported profile:\n%s", fetched)
	}
	if data, err := os.ReadFile(filepath.Join(c.Dir, "copied", "installer-amd64.tar")); err != nil || !bytes.Equal(data, dockerTar) {
		t.Errorf("fetch -o copied %d bytes (%v), the imager wrote %d", len(data), err, len(dockerTar))
	}

	// A lost state adopts both installer images, and records them as installer images.
	plan := c.Expect(2, "plan", "-workspace=fresh", "-detailed-exitcode")
	for _, addr := range []string{"profile.inst-docker", "profile.inst-oci"} {
		if !strings.Contains(plan, "= "+addr) {
			t.Errorf("a new workspace does not adopt %s:\n%s", addr, plan)
		}
	}
	if out := c.OK("apply", "-workspace=fresh", "-auto-approve", "-progress=quiet"); !strings.Contains(out, "profile.inst-oci: adopted "+digests["profile.inst-oci"]) {
		t.Errorf("apply of the new workspace:\n%s", out)
	}
	fresh := readState(t, c.With("SOVOS_WORKSPACE=fresh"))
	for addr, d := range digests {
		if r := fresh.Resource(addr); r == nil || r.Digest != d || r.ArtifactType != bootmedia.InstallerImage {
			t.Errorf("%s adopted as %+v, want %s recorded as an installer image", addr, r, d)
		}
	}
	if plan := c.Expect(0, "plan", "-workspace=fresh", "-detailed-exitcode"); !strings.Contains(plan, "No changes.") {
		t.Errorf("plan of the new workspace after adopting:\n%s", plan)
	}
}
