package bootmedia_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content/file"
	"oras.land/oras-go/v2/registry/remote"

	"github.com/urmanac/sovos/bootmedia"
	"github.com/urmanac/sovos/config"
	"github.com/urmanac/sovos/internal/oci"
	"github.com/urmanac/sovos/internal/testenv"
	"github.com/urmanac/sovos/state"
)

// imagerOutput writes what an imager leaves in /out: a compressed disk image and the
// other kinds of file, each with its own bytes.
func imagerOutput(t *testing.T) (string, map[string][]byte) {
	t.Helper()
	dir := t.TempDir()
	files := map[string][]byte{
		"metal-arm64.raw.xz":  randomBytes(t, 300<<10),
		"metal-arm64.raw.gz":  randomBytes(t, 1000),
		"metal-arm64.raw.zst": randomBytes(t, 10),
		"metal-arm64.raw":     randomBytes(t, 4096),
		"empty":               {},
	}
	for n, b := range files {
		if err := os.WriteFile(filepath.Join(dir, n), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir, files
}

func randomBytes(t *testing.T, n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// The published artifact is what SPEC §2 says, read as raw JSON from the registry, and
// a third-party client (oras-go, as `oras pull` does) writes its files byte for byte.
func TestPublishIsAnOrasArtifact(t *testing.T) {
	host := testenv.StartRegistry(t)
	reg := oci.New(oci.WithInsecure(host))
	ctx := context.Background()
	dir, files := imagerOutput(t)
	ref := host + "/boards/cm5:0123456789abcdef"
	dgst, err := bootmedia.Publish(ctx, reg, ref, dir, map[string]string{"dev.sovos.hash": "feedbeef", bootmedia.AnnotationAddress: "profile.cm5"})
	if err != nil {
		t.Fatal(err)
	}

	repo, err := remote.NewRepository(host + "/boards/cm5")
	if err != nil {
		t.Fatal(err)
	}
	repo.PlainHTTP = true
	desc, raw, err := oras.FetchBytes(ctx, repo, "0123456789abcdef", oras.DefaultFetchBytesOptions)
	if err != nil {
		t.Fatal(err)
	}
	if desc.Digest.String() != dgst {
		t.Errorf("the tag points at %s, Publish returned %s", desc.Digest, dgst)
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	if m.MediaType != ocispec.MediaTypeImageManifest || m.ArtifactType != "application/vnd.sovos.boot-media.v1" {
		t.Errorf("manifest mediaType %q artifactType %q", m.MediaType, m.ArtifactType)
	}
	if m.Config.MediaType != "application/vnd.oci.empty.v1+json" || m.Config.Size != 2 {
		t.Errorf("config %+v, want the empty descriptor", m.Config)
	}
	if m.Annotations["dev.sovos.hash"] != "feedbeef" || m.Annotations["dev.sovos.address"] != "profile.cm5" {
		t.Errorf("manifest annotations %v", m.Annotations)
	}
	wantTypes := map[string]string{
		"metal-arm64.raw.xz": "application/x-xz", "metal-arm64.raw.gz": "application/gzip",
		"metal-arm64.raw.zst": "application/zstd", "metal-arm64.raw": "application/octet-stream", "empty": "application/octet-stream",
	}
	if len(m.Layers) != len(files) {
		t.Fatalf("%d layers, want one per file (%d)", len(m.Layers), len(files))
	}
	for _, l := range m.Layers {
		title := l.Annotations[ocispec.AnnotationTitle]
		if want, ok := wantTypes[title]; !ok || string(l.MediaType) != want || l.Size != int64(len(files[title])) {
			t.Errorf("layer %q: media type %s size %d", title, l.MediaType, l.Size)
		}
	}

	// oras pull: a file store written by oras-go's own copy.
	out := t.TempDir()
	fs, err := file.New(out)
	if err != nil {
		t.Fatal(err)
	}
	defer fs.Close()
	if _, err := oras.Copy(ctx, repo, "0123456789abcdef", fs, "0123456789abcdef", oras.DefaultCopyOptions); err != nil {
		t.Fatalf("oras pull: %v", err)
	}
	for n, want := range files {
		got, err := os.ReadFile(filepath.Join(out, n))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("oras pulled %s: %d bytes (err %v), want %d identical bytes", n, len(got), err, len(want))
		}
	}

	// sovos fetch, from the digest a state records.
	st := state.New("default", "test")
	st.Resources = append(st.Resources, &state.Resource{Address: "profile.cm5", Type: config.TypeProfile, Hash: "feedbeef",
		Tag: "0123456789abcdef", Image: host + "/boards/cm5", Digest: dgst, ArtifactType: bootmedia.ArtifactType})
	fetched := filepath.Join(t.TempDir(), "new", "dir")
	res, err := bootmedia.Fetch(ctx, bootmedia.Request{Address: "profile.cm5", State: st, Dir: fetched, Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	if res.Ref != ref+"@"+dgst || len(res.Files) != len(files) {
		t.Errorf("result %+v", res)
	}
	for n, want := range files {
		got, err := os.ReadFile(filepath.Join(fetched, n))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("fetched %s: %d bytes (err %v), want %d identical bytes", n, len(got), err, len(want))
		}
	}
	if left, _ := filepath.Glob(filepath.Join(fetched, ".*")); len(left) > 0 {
		t.Errorf("temporary files left behind: %v", left)
	}
}

// Fetch refuses what it cannot trust or does not know, saying what it is.
func TestFetchRefuses(t *testing.T) {
	host := testenv.StartRegistry(t)
	reg := oci.New(oci.WithInsecure(host))
	ctx := context.Background()

	// A manifest whose title would write outside the directory.
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "evil"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	repo, err := remote.NewRepository(host + "/boards/evil")
	if err != nil {
		t.Fatal(err)
	}
	repo.PlainHTTP = true
	fs, err := file.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	layer, err := fs.Add(ctx, "../../evil", "application/octet-stream", filepath.Join(dir, "evil"))
	if err != nil {
		t.Fatal(err)
	}
	mdesc, err := oras.PackManifest(ctx, fs, oras.PackManifestVersion1_1, bootmedia.ArtifactType, oras.PackManifestOptions{Layers: []ocispec.Descriptor{layer}})
	if err != nil {
		t.Fatal(err)
	}
	if err := fs.Tag(ctx, mdesc, "t"); err != nil {
		t.Fatal(err)
	}
	if _, err := oras.Copy(ctx, fs, "t", repo, "t", oras.DefaultCopyOptions); err != nil {
		t.Fatal(err)
	}

	st := state.New("default", "test")
	st.Resources = []*state.Resource{
		{Address: "profile.evil", Type: "profile", Tag: "t", Image: host + "/boards/evil", Digest: mdesc.Digest.String(), ArtifactType: bootmedia.ArtifactType},
		{Address: "profile.old", Type: "profile", Tag: "t", Image: host + "/boards/old", Digest: mdesc.Digest.String()},
		{Address: "profile.installer", Type: "profile", Tag: "t", Image: host + "/boards/installer", Digest: mdesc.Digest.String(), ArtifactType: bootmedia.InstallerImage},
		{Address: "kernel.k", Type: "kernel", Tag: "t", Image: host + "/k", Digest: mdesc.Digest.String()},
	}
	into := t.TempDir()
	for addr, want := range map[string]string{
		"profile.evil": `title "../../evil" is not a plain file name`,
		"profile.old":  "not a boot-media artifact but an image an earlier sovos pushed",
		"profile.installer": "is an installer image (output kind \"installer\"), not boot media: pull it as an image, with `crane pull " +
			host + "/boards/installer:t@" + mdesc.Digest.String() + " installer.tar` or `docker pull",
		"kernel.k":        "kernel.k is a kernel, not a profile",
		"profile.missing": "profile.missing is not in the state",
		"nonsense":        "not a resource address",
	} {
		_, err := bootmedia.Fetch(ctx, bootmedia.Request{Address: addr, State: st, Dir: into, Registry: reg})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("fetch %s: %v, want an error saying %q", addr, err, want)
		}
	}
	if entries, _ := os.ReadDir(into); len(entries) > 0 {
		t.Errorf("a refused fetch wrote %d files", len(entries))
	}
}

// A profile without an image publishes nothing: fetch says where apply exported its
// files (DEST/ADDRESS/, file-safe) and downloads nothing; with -o it copies them there.
func TestFetchLocalExport(t *testing.T) {
	dest := t.TempDir()
	addr := `profile.talos["cm5"]`
	exported := filepath.Join(dest, "profile.talos__cm5__")
	if err := os.MkdirAll(exported, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(exported, "metal-arm64.raw"), []byte("disk"), 0o644); err != nil {
		t.Fatal(err)
	}
	a, err := config.ParseAddress(addr)
	if err != nil {
		t.Fatal(err)
	}
	cfg := &config.Config{Resources: []*config.Resource{{Addr: a, Profile: &config.ProfileSpec{Dest: dest, Imager: "imager@sha256:1"}}}}
	st := state.New("default", "test")
	st.Resources = []*state.Resource{{Address: addr, Type: config.TypeProfile, Hash: "h", Tag: "t"}}
	res, err := bootmedia.Fetch(context.Background(), bootmedia.Request{Address: addr, State: st, Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Local || res.Dir != exported || res.From != "" || res.Ref != "" || len(res.Files) != 1 || res.Files[0].Name != "metal-arm64.raw" || res.Files[0].Size != 4 {
		t.Errorf("result %+v", res)
	}

	// -o DIR: the files are copied into DIR (made if needed), as a download would be.
	into := filepath.Join(t.TempDir(), "new", "dir")
	res, err = bootmedia.Fetch(context.Background(), bootmedia.Request{Address: addr, State: st, Config: cfg, Dir: into})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Local || res.Dir != into || res.From != exported || len(res.Files) != 1 || res.Files[0].Path != filepath.Join(into, "metal-arm64.raw") || res.Files[0].Size != 4 {
		t.Errorf("result of fetch -o %+v", res)
	}
	if data, err := os.ReadFile(filepath.Join(into, "metal-arm64.raw")); err != nil || string(data) != "disk" {
		t.Errorf("fetch -o of a local export: %q, %v", data, err)
	}
	if entries, _ := os.ReadDir(into); len(entries) != 1 {
		t.Errorf("fetch -o left %d entries in DIR, want the one file", len(entries))
	}
	// -o naming the export itself copies nothing.
	if res, err := bootmedia.Fetch(context.Background(), bootmedia.Request{Address: addr, State: st, Config: cfg, Dir: exported}); err != nil || res.From != "" || len(res.Files) != 1 {
		t.Errorf("fetch -o of the export directory itself: %+v, %v", res, err)
	}
	// An export that holds something other than files is refused, naming it.
	if err := os.Mkdir(filepath.Join(exported, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := bootmedia.Fetch(context.Background(), bootmedia.Request{Address: addr, State: st, Config: cfg, Dir: t.TempDir()}); err == nil || !strings.Contains(err.Error(), "sub") {
		t.Errorf("fetch -o of an export with a directory in it: %v", err)
	}
	// Without the configuration, fetch cannot say where they are, and says why.
	_, err = bootmedia.Fetch(context.Background(), bootmedia.Request{Address: addr, State: st, Dir: into})
	if err == nil || !strings.Contains(err.Error(), "published no artifact (it has no image)") {
		t.Errorf("without a configuration: %v", err)
	}
}

// Fetch checks what the registry serves against the recorded digests: a blob or a
// manifest whose bytes changed is refused, naming it, and no file is written.
func TestFetchChecksDigests(t *testing.T) {
	var mu sync.Mutex
	corrupt := "" // a path whose response has one byte changed
	host := testenv.MemRegistry(t, testenv.Corrupt(func(r *http.Request) bool {
		mu.Lock()
		defer mu.Unlock()
		return r.URL.Path == corrupt
	}))
	reg := oci.New(oci.WithInsecure(host))
	ctx := context.Background()
	dir, files := imagerOutput(t)
	dgst, err := bootmedia.Publish(ctx, reg, host+"/boards/cm5:t", dir, map[string]string{"dev.sovos.hash": "feedbeef", bootmedia.AnnotationAddress: "profile.cm5"})
	if err != nil {
		t.Fatal(err)
	}
	st := state.New("default", "test")
	st.Resources = append(st.Resources, &state.Resource{Address: "profile.cm5", Type: config.TypeProfile, Hash: "feedbeef",
		Tag: "t", Image: host + "/boards/cm5", Digest: dgst, ArtifactType: bootmedia.ArtifactType})
	fetch := func() (string, error) {
		into := t.TempDir()
		_, err := bootmedia.Fetch(ctx, bootmedia.Request{Address: "profile.cm5", State: st, Dir: into, Registry: reg})
		return into, err
	}
	if _, err := fetch(); err != nil {
		t.Fatalf("fetch from an honest registry: %v", err)
	}

	blob := "sha256:" + hexSHA256(files["metal-arm64.raw.xz"])
	for what, c := range map[string]struct{ path, want string }{
		"a file's blob": {"/v2/boards/cm5/blobs/" + blob, "metal-arm64.raw.xz"},
		"the manifest":  {"/v2/boards/cm5/manifests/" + dgst, dgst},
	} {
		mu.Lock()
		corrupt = c.path
		mu.Unlock()
		into, err := fetch()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("fetch with %s changed: %v, want an error naming %s", what, err, c.want)
		}
		if _, serr := os.Stat(filepath.Join(into, "metal-arm64.raw.xz")); serr == nil {
			t.Errorf("fetch with %s changed wrote metal-arm64.raw.xz", what)
		}
		if left, _ := filepath.Glob(filepath.Join(into, ".*")); len(left) > 0 {
			t.Errorf("fetch with %s changed left temporary files: %v", what, left)
		}
		t.Logf("%s changed: %v", what, err)
	}
}

func hexSHA256(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}
