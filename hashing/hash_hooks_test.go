package hashing

import (
	"context"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/zclconf/go-cty/cty"

	"github.com/urmanac/sovos/config"
	"github.com/urmanac/sovos/internal/oci"
)

func sourceRes(name string, s config.SourceSpec) *config.Resource {
	return &config.Resource{Addr: config.Address{Type: config.TypeSource, Name: name}, Source: &s}
}

func imageRes(name string, im config.ImageSpec) *config.Resource {
	return &config.Resource{Addr: config.Address{Type: config.TypeImage, Name: name}, Image: &im}
}

func TestHasherSources(t *testing.T) {
	ctx := context.Background()
	h := NewHasher(HasherOptions{CacheDir: t.TempDir()})
	const commit = "0123456789abcdef0123456789abcdef01234567"

	https, err := h.SourceHash(ctx, sourceRes("pkgs", config.SourceSpec{Git: "https://github.com/siderolabs/pkgs.git", Ref: "v1.13.0", Commit: commit}))
	if err != nil {
		t.Fatal(err)
	}
	ssh, err := h.SourceHash(ctx, sourceRes("pkgs2", config.SourceSpec{Git: "git@github.com:siderolabs/pkgs.git", Ref: "main", Commit: commit}))
	if err != nil {
		t.Fatal(err)
	}
	if https != ssh {
		t.Errorf("switching https to ssh changed the hash: %s vs %s", https, ssh)
	}
	in, ok := h.SourceInfo("source.pkgs")
	if !ok || in.Kind != "git" || in.Commit != commit || in.Hash != https || in.URL != "https://github.com/siderolabs/pkgs.git" {
		t.Errorf("SourceInfo = %+v, %v", in, ok)
	}

	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"Dockerfile": "FROM scratch\n"})
	ph, err := h.SourceHash(ctx, sourceRes("local", config.SourceSpec{Path: dir}))
	if err != nil {
		t.Fatal(err)
	}
	if in, _ := h.SourceInfo("source.local"); in.Kind != "path" || in.Path != dir || in.Hash != ph {
		t.Errorf("SourceInfo = %+v", in)
	}

	for _, tt := range []struct {
		s    config.SourceSpec
		want string
	}{
		{config.SourceSpec{Git: "https://x/y.git"}, "a git source needs commit"},
		{config.SourceSpec{Path: dir + "/nope"}, "source path " + dir + "/nope"},
	} {
		if _, err := h.SourceHash(ctx, sourceRes("bad", tt.s)); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("got %v, want %q", err, tt.want)
		}
	}
}

func TestHasherImages(t *testing.T) {
	ctx := context.Background()
	nn := &noNetwork{t: t}
	h := NewHasher(HasherOptions{
		KnownDigests: map[string]string{"image.recorded": testDigest},
		Registry:     oci.New(oci.WithTransport(nn), oci.WithKeychain(authn.NewMultiKeychain())),
	})
	if d, err := h.ImageDigest(ctx, imageRes("pinned", config.ImageSpec{Ref: "ghcr.io/a/b:1", Digest: testDigest})); err != nil || d != testDigest {
		t.Errorf("pinned: %q, %v", d, err)
	}
	if in, _ := h.ImageInfo("image.pinned"); in.From != "pin" {
		t.Errorf("pinned: from %q", in.From)
	}
	if d, err := h.ImageDigest(ctx, imageRes("recorded", config.ImageSpec{Ref: "ghcr.io/a/b:1"})); err != nil || d != testDigest {
		t.Errorf("recorded: %q, %v", d, err)
	}
	if in, _ := h.ImageInfo("image.recorded"); in.From != "state" {
		t.Errorf("recorded: from %q", in.From)
	}
	_, err := h.ImageDigest(ctx, imageRes("upstream_installer", config.ImageSpec{Ref: "ghcr.io/siderolabs/installer:v1.13.3"}))
	if err == nil || !strings.Contains(err.Error(), "image ghcr.io/siderolabs/installer:v1.13.3 has no pinned digest") {
		t.Errorf("offline unpinned: %v", err)
	}

	// With refresh, against the in-process registry.
	host, ref, want := testRegistry(t, nil)
	h = NewHasher(HasherOptions{Refresh: true, Registry: oci.New(oci.WithInsecure(host), oci.WithKeychain(authn.NewMultiKeychain())),
		KnownDigests: map[string]string{"image.i": testDigest}})
	if d, err := h.ImageDigest(ctx, imageRes("i", config.ImageSpec{Ref: ref})); err != nil || d != want {
		t.Errorf("registry: %q, %v; want %s", d, err, want)
	}
	if in, _ := h.ImageInfo("image.i"); in.From != "registry" || in.Ref != ref {
		t.Errorf("registry: %+v", in)
	}
}

func TestHasherResourceHash(t *testing.T) {
	h := NewHasher(HasherOptions{})
	r := &config.Resource{
		Addr:        config.Address{Type: config.TypeKernel, Name: "sovereign"},
		Platform:    "linux/arm64",
		HashedAttrs: kernelAttrs(),
	}
	deps := map[string]string{"source.pkgs": "aa"}
	got, err := h.ResourceHash(r, deps)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := ResourceHash("kernel", "linux/arm64", kernelAttrs(), deps)
	if got != want {
		t.Errorf("got %s, want %s", got, want)
	}
	r.HashedAttrs = map[string]cty.Value{"x": cty.UnknownVal(cty.String)}
	if _, err := h.ResourceHash(r, deps); err == nil || !strings.HasPrefix(err.Error(), "hashing attribute \"x\"") {
		t.Errorf("got %v", err)
	}
}
