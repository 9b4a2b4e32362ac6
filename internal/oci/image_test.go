package oci_test

import (
	"context"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/urmanac/sovos/internal/oci"
	"github.com/urmanac/sovos/internal/testenv"
)

// A build pushed with its provenance is an index: Image finds the image of the asked
// platform, and without a platform the one image the index holds, whatever its
// platform (go-containerregistry alone would look for linux/amd64 and fail).
func TestImageOfIndexWithProvenance(t *testing.T) {
	t.Parallel()
	host := testenv.MemRegistry(t)
	c := oci.New(oci.WithInsecure(host))
	ctx := context.Background()
	img := randomImage(t, 1, 64)
	want, _ := img.Digest()
	idx := testenv.IndexLikeBuildKit(t, img, "linux/arm64", map[string]string{"dev.sovos.hash": "feed"})
	ref, err := c.ParseReference(host + "/ext:t")
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.WriteIndex(ref, idx); err != nil {
		t.Fatal(err)
	}
	for _, platform := range []string{"", "linux/arm64"} {
		got, err := c.Image(ctx, ref, platform)
		if err != nil {
			t.Fatalf("platform %q: %v", platform, err)
		}
		if d, _ := got.Digest(); d != want {
			t.Errorf("platform %q: image %s, want %s", platform, d, want)
		}
	}
	if _, err := c.Image(ctx, ref, "linux/amd64"); err == nil {
		t.Error("linux/amd64 from an arm64-only index: want an error")
	}

	// A plain image is itself, with or without a platform.
	plain := randomImage(t, 1, 64)
	pref, _ := c.ParseReference(host + "/plain:t")
	if err := remote.Write(pref, plain); err != nil {
		t.Fatal(err)
	}
	got, err := c.Image(ctx, pref, "")
	if err != nil {
		t.Fatal(err)
	}
	wantPlain, _ := plain.Digest()
	if d, _ := got.Digest(); d != wantPlain {
		t.Errorf("plain image: %s, want %s", d, wantPlain)
	}
}
