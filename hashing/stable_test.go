package hashing

import (
	"context"
	"sync"
	"testing"

	"github.com/urmanac/sovos/config"
)

// TestHashesStable evaluates testdata/stable with the real Hasher and compares every
// resource hash with the one the first release computed: a resource hash may never
// change for the same configuration, or every user rebuilds everything. The
// configuration uses an image's .ref and .hash, a stage ref, a content tag and a path
// source, so it covers what the evaluator hands the hasher, not only the encoding.
func TestHashesStable(t *testing.T) {
	const recorded = "sha256:2222222222222222222222222222222222222222222222222222222222222222"
	h := NewHasher(HasherOptions{CacheDir: t.TempDir(), KnownDigests: map[string]string{"image.recorded": recorded}})
	cfg, diags := config.Load(context.Background(), "testdata/stable", config.EvalOptions{Hooks: h})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	want := map[string]string{
		"source.pkgs":  "4d5f659e921a91439c41d792725d284febf63753a1e5885a8850736f02d98265",
		"source.local": "24d394a0fa5ead959da941142f9c88dbd2e0da95987e66a277ab40c34999fdb4",
		"kernel.k":     "a0a7f33cff94dc7e4ec15b9865df5cf7016e75c02f3b7462e3a09a9c703f1aba",
		"extension.e":  "a3c8dd007dd866f162f36abe63456245df67343fd56d811fb8cc7c96b902abde",
		"installer.i":  "7d9247a5f7faeb39a91d318f470f7bc7189ab8391829a3d643d255b2d8a89a43",
		"profile.p":    "a95c15f921bc76f57ea277ed63a9e1a04b2c9d64c27eb87569157069967612ad",
	}
	digests := map[string]string{
		"image.base":     "sha256:1111111111111111111111111111111111111111111111111111111111111111",
		"image.recorded": recorded,
	}
	for _, r := range cfg.Resources {
		addr := r.Addr.String()
		if d, ok := digests[addr]; ok {
			// One hash format: an image is identified by its digest and has no hash.
			if r.Hash != "" || r.Tag != "" || r.Image.Digest != d {
				t.Errorf("%s: hash %q, tag %q, digest %q; want no hash or tag, digest %s", addr, r.Hash, r.Tag, r.Image.Digest, d)
			}
			continue
		}
		if r.Hash != want[addr] {
			t.Errorf("%s: hash %s, the first release computed %s", addr, r.Hash, want[addr])
		}
		if r.Tag != ContentTag(r.Hash) || len(r.Tag) != ContentTagLength {
			t.Errorf("%s: tag %q is not the content tag of %s", addr, r.Tag, r.Hash)
		}
	}
}

// TestSovereignOSHashesStable pins the hashes of the real factory, examples/sovereign-os:
// its profile matrix chooses installer, imager and extensions by conditionals (each
// instance consumes only the branch it takes) and names its overlay image in a nested
// block.
//
// The kernel, extension and installer keep the first release's hashes. The four profiles
// changed once, on purpose: SPEC §2 counts a nested block's attributes as evaluated
// attributes of the resource, so image.sbc_raspberrypi, which only their overlay block
// names, is now consumed and enters the hash's deps (the first release ignored what a
// nested block named). Nothing else moved: the test recomputes each profile's hash
// without the dependencies only a nested block names and gets the first release's
// value. Those profiles rebuild on upgrade anyway: a first-release profile's artifact is
// a single-tar image, which plans as rebuild (SPEC §12, reason artifact_format).
func TestSovereignOSHashesStable(t *testing.T) {
	rec := &depsRecorder{Hasher: NewHasher(HasherOptions{CacheDir: t.TempDir()}), deps: map[string]map[string]string{}}
	cfg, diags := config.Load(context.Background(), "../examples/sovereign-os", config.EvalOptions{Hooks: rec})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	type hashes struct{ now, firstRelease string }
	profile := func(now, first string) hashes { return hashes{now, first} }
	same := func(h string) hashes { return hashes{h, h} }
	want := map[string]hashes{
		"kernel.sovereign":    same("4f67a2068732e2e6e8b7ecfd862c4b03de47f0f706634d829af3b22e31837267"),
		"extension.hailort":   same("7de893b6b76fb8c8313053f781def1dc26941138ee330b75770ed09a4d52579b"),
		"installer.sovereign": same("68861f39ba3bd3ca9c94eeb649875cd2aa2c80af5c2aef28ca6f3d5f6fc6629a"),
		`profile.talos["cm4-standard-hailort"]`: profile("66fff6cf91db43813522a17bb853909299b2dab18b1f7538df65ad635362f843",
			"4febdf2796bdfefcea3d1ebd78d1bff30572068b414e5017090265d63d5ebb44"),
		`profile.talos["cm4-standard-minimal"]`: profile("0ce6fd843188c1edf8fc054991749de7dd25bb07009233525498437b2dae6ba0",
			"7dca5c448c4cc6702b4eda92cdc35503055bdd8ac4c9e4e44adc11a88f280e00"),
		`profile.talos["cm5-hailo10h-hailort"]`: profile("e37e9b3192abaf7cf8975356b2dd368c6d1aff33d4dd96bd7d8a5edacad1a451",
			"4535f96acc93a797d94158d4e2acb4f41ab4079c883324debbe05640683687c5"),
		`profile.talos["cm5-hailo10h-minimal"]`: profile("4cc2ac84b5955b552821a4790507f88d6748593ed2b64c5b7d4fac74e64639ca",
			"738a376a6dfbde2165c992f42520d075104738f3af88575ee92edc28e0dddf28"),
	}
	// What only a nested block names: the first release left these out of deps.
	nestedOnly := map[string]bool{"image.sbc_raspberrypi": true}
	for addr, hash := range want {
		r := cfg.Resource(addr)
		if r == nil {
			t.Errorf("%s is not in the configuration", addr)
			continue
		}
		if r.Hash != hash.now {
			t.Errorf("%s: hash %s, want %s", addr, r.Hash, hash.now)
		}
		old := map[string]string{}
		for dep, h := range rec.deps[addr] {
			if !nestedOnly[dep] {
				old[dep] = h
			}
		}
		if got, err := ResourceHash(r.Addr.Type, r.Platform, r.HashedAttrs, old); err != nil || got != hash.firstRelease {
			t.Errorf("%s without its nested-block dependencies: hash %s (%v), the first release computed %s", addr, got, err, hash.firstRelease)
		}
		if r.Addr.Type == config.TypeProfile && rec.deps[addr]["image.sbc_raspberrypi"] == "" {
			t.Errorf("%s does not consume image.sbc_raspberrypi, which its overlay names; deps %v", addr, rec.deps[addr])
		}
	}
}

// depsRecorder is a Hasher that remembers the deps each resource was hashed with.
type depsRecorder struct {
	*Hasher
	mu   sync.Mutex // the instances of a block are hashed concurrently
	deps map[string]map[string]string
}

func (d *depsRecorder) ResourceHash(r *config.Resource, deps map[string]string) (string, error) {
	d.mu.Lock()
	d.deps[r.Addr.String()] = deps
	d.mu.Unlock()
	return d.Hasher.ResourceHash(r, deps)
}
