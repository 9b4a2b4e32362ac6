package planner

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/urmanac/sovos/bootmedia"
	"github.com/urmanac/sovos/config"
	"github.com/urmanac/sovos/internal/oci"
)

const cm5 = `profile.talos["cm5-hailo10h"]`

// withImager makes cm5 a profile whose imager output is published as boot media.
func withImager(cfg *config.Config) *config.Resource {
	r := cfg.Resource(cm5)
	r.Profile.Imager = "ghcr.io/siderolabs/imager:v1.13.3@sha256:" + strings.Repeat("d", 64)
	r.Profile.Output = config.ProfileOutput{Kind: "image", OutFormat: ".xz", DiskSize: 1 << 30}
	return r
}

// A profile whose recorded artifact is a first-release single-tar image is rebuilt, and
// says why; once recorded as boot media it is not.
func TestFirstReleaseBootMediaRebuilds(t *testing.T) {
	cfg := standard(planRegistry, defaultParams())
	r := withImager(cfg)
	prior := applied(t, cfg, false)
	p := mustPlan(t, cfg, prior, Options{})
	c := p.Change(cm5)
	if c.Action != ActionRebuild || len(c.Reasons) != 1 || c.Reasons[0].Kind != ReasonArtifactFormat ||
		!strings.Contains(c.Reasons[0].Message, planRegistry+"/profile-talos:"+r.Tag+"@sha256:") ||
		!strings.Contains(c.Reasons[0].Message, "is a first-release single-tar image; boot media are now published as an OCI artifact (application/vnd.sovos.boot-media.v1)") {
		t.Fatalf("cm5: %s %v", c.Action, c.Reasons)
	}
	if got := actionOnly(p); len(got) != 5 || got[`profile.talos["cm4-standard"]`] != ActionNoop || got["kernel.sovereign"] != ActionNoop {
		t.Errorf("only cm5 is rebuilt: %v", got)
	}
	prior.Resource(cm5).ArtifactType = bootmedia.ArtifactType
	if p := mustPlan(t, cfg, prior, Options{}); p.HasChanges() {
		t.Errorf("recorded as boot media: %v", actions(p))
	}
	// An installer profile pushes the installer image its imager writes. A record without
	// that artifact type is the image earlier sovos pushed with the archive inside, as a
	// file: rebuilt, saying why.
	prior.Resource(cm5).ArtifactType = ""
	r.Profile.Output = config.ProfileOutput{Kind: "installer"}
	p = mustPlan(t, cfg, prior, Options{})
	c = p.Change(cm5)
	if c.Action != ActionRebuild || len(c.Reasons) != 1 || c.Reasons[0].Kind != ReasonArtifactFormat ||
		!strings.Contains(c.Reasons[0].Message, "is an image holding the imager's installer-arm64.tar as a file (an earlier sovos pushed that); the installer image in it is now pushed as the image it is") {
		t.Fatalf("installer profile recorded without its artifact type: %s %v", c.Action, c.Reasons)
	}
	prior.Resource(cm5).ArtifactType = bootmedia.InstallerImage
	if p := mustPlan(t, cfg, prior, Options{}); p.HasChanges() {
		t.Errorf("installer profile recorded as the installer image: %v", actions(p))
	}
}

// A lost state adopts boot media by the artifact's dev.sovos.hash, never the
// first-release single-tar image under the same tag.
func TestRefreshAdoptsBootMediaOnly(t *testing.T) {
	prefix, host := startRegistry(t)
	cfg := standard(prefix, defaultParams())
	r := withImager(cfg)
	push(t, cfg, nil, nil)
	p := mustPlan(t, cfg, nil, refreshOpts(host, nil))
	c := p.Change(cm5)
	if c.Action != ActionCreate || !strings.Contains(c.Reasons[0].Message, "is in the registry but is a first-release single-tar image, not boot media") {
		t.Fatalf("cm5 over a single-tar image: %s %v", c.Action, c.Reasons)
	}
	if got := p.Change("kernel.sovereign").Action; got != ActionAdopt {
		t.Errorf("kernel: %s, want adopt", got)
	}

	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "metal-arm64.raw.xz"), []byte("disk"), 0o644); err != nil {
		t.Fatal(err)
	}
	dgst, err := bootmedia.Publish(context.Background(), oci.New(oci.WithInsecure(host)), r.Profile.Image+":"+r.Tag, dir,
		map[string]string{AnnotationHash: r.Hash, bootmedia.AnnotationAddress: cm5})
	if err != nil {
		t.Fatal(err)
	}
	p = mustPlan(t, cfg, nil, refreshOpts(host, nil))
	if c := p.Change(cm5); c.Action != ActionAdopt || c.AdoptDigest != dgst {
		t.Errorf("cm5 over boot media: %s %q %v, want adopt of %s", c.Action, c.AdoptDigest, c.Reasons, dgst)
	}
}

// An installer profile's lost state adopts the installer image this sovos pushes (it
// carries dev.sovos.address), never the image an earlier sovos pushed under the same tag
// with the imager's archive inside (dev.sovos.hash only).
func TestRefreshAdoptsInstallerImageOnly(t *testing.T) {
	prefix, host := startRegistry(t)
	cfg := standard(prefix, defaultParams())
	r := withImager(cfg)
	r.Profile.Output = config.ProfileOutput{Kind: "installer"}
	push(t, cfg, nil, nil) // dev.sovos.hash only, as BuildKit's export of /out had it
	p := mustPlan(t, cfg, nil, refreshOpts(host, nil))
	c := p.Change(cm5)
	if c.Action != ActionCreate || !strings.Contains(c.Reasons[0].Message, "is in the registry but is an image holding the imager's installer-arm64.tar as a file (an earlier sovos pushed that), not the installer image") {
		t.Fatalf("cm5 over the old installer push: %s %v", c.Action, c.Reasons)
	}

	img, err := random.Image(64, 2)
	if err != nil {
		t.Fatal(err)
	}
	img = mutate.Annotations(img, map[string]string{AnnotationHash: r.Hash, bootmedia.AnnotationAddress: cm5}).(v1.Image)
	ref, err := name.ParseReference(r.Profile.Image+":"+r.Tag, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img); err != nil {
		t.Fatal(err)
	}
	dgst, _ := img.Digest()
	p = mustPlan(t, cfg, nil, refreshOpts(host, nil))
	if c := p.Change(cm5); c.Action != ActionAdopt || c.AdoptDigest != dgst.String() {
		t.Errorf("cm5 over the installer image: %s %q %v, want adopt of %s", c.Action, c.AdoptDigest, c.Reasons, dgst)
	}
}
