package testenv

import (
	"context"
	"encoding/json"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content/file"
	"oras.land/oras-go/v2/registry/remote"
)

// OrasPull pulls repo:tag (HOST/PATH on a plain-HTTP test registry) with oras-go into a
// new directory, as `oras pull` does: a third-party client's view of an artifact, not
// sovos's own reader. It returns the directory, the manifest's descriptor and the
// manifest; files are named by their layers' titles.
func OrasPull(t testing.TB, repo, tag string) (string, ocispec.Descriptor, ocispec.Manifest) {
	t.Helper()
	ctx := context.Background()
	r, err := remote.NewRepository(repo)
	if err != nil {
		t.Fatal(err)
	}
	r.PlainHTTP = true
	desc, raw, err := oras.FetchBytes(ctx, r, tag, oras.DefaultFetchBytesOptions)
	if err != nil {
		t.Fatalf("oras: fetching %s:%s: %v", repo, tag, err)
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("oras: %s:%s: %v", repo, tag, err)
	}
	dir := t.TempDir()
	store, err := file.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	if _, err := oras.Copy(ctx, r, tag, store, tag, oras.DefaultCopyOptions); err != nil {
		t.Fatalf("oras pull %s:%s: %v", repo, tag, err)
	}
	return dir, desc, m
}
