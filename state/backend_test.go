package state

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/urmanac/sovos/internal/oci"
	"github.com/urmanac/sovos/internal/testenv"
)

// countingTransport counts requests, to measure registry round trips.
type countingTransport struct {
	n   atomic.Int64
	rt  http.RoundTripper
	log func(string)
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	if c.log != nil {
		c.log(r.Method + " " + r.URL.Scheme + "://" + r.URL.Host + r.URL.Path)
	}
	return c.rt.RoundTrip(r)
}

// newTestRegistry opens the state in host/sovos/state, a plain-HTTP registry, with a
// client made with opts.
func newTestRegistry(t *testing.T, host, workspace string, opts ...oci.Option) *Registry {
	t.Helper()
	opts = append([]oci.Option{oci.WithInsecure(host), oci.WithKeychain(authn.NewMultiKeychain())}, opts...)
	r, err := NewRegistry(host+"/sovos/state", workspace, WithClient(oci.New(opts...)), WithLockSettle(0))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// backends returns a fresh instance of each backend and a second instance of the same
// store, as another sovos process would open it.
func backends(t *testing.T) map[string]func(t *testing.T) (Backend, Backend) {
	return map[string]func(t *testing.T) (Backend, Backend){
		"registry": func(t *testing.T) (Backend, Backend) {
			host := testenv.MemRegistry(t)
			return newTestRegistry(t, host, "main"), newTestRegistry(t, host, "main")
		},
		"layout": func(t *testing.T) (Backend, Backend) {
			dir := t.TempDir() + "/state"
			a, err := NewLayout(dir, "main")
			if err != nil {
				t.Fatal(err)
			}
			b, _ := NewLayout(dir, "main")
			return a, b
		},
	}
}

func TestBackendRoundTrip(t *testing.T) {
	for name, open := range backends(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			b, other := open(t)
			s, d, err := b.Read(ctx)
			if s != nil || d != "" || err != nil {
				t.Fatalf("Read of an empty store = %v, %q, %v; want nil, \"\", nil", s, d, err)
			}
			want := sampleState()
			wd, err := b.Write(ctx, want)
			if err != nil {
				t.Fatal(err)
			}
			got, gd, err := other.Read(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if gd != wd || !strings.HasPrefix(gd, "sha256:") {
				t.Errorf("Read digest %q, Write digest %q", gd, wd)
			}
			if got.Lineage != want.Lineage || got.Serial != want.Serial || len(got.Resources) != 2 {
				t.Errorf("read back %+v", got)
			}
			// A second write replaces the first.
			want.Serial++
			want.Resources = want.Resources[:1]
			wd2, err := b.Write(ctx, want)
			if err != nil {
				t.Fatal(err)
			}
			got, gd, err = other.Read(ctx)
			if err != nil || gd != wd2 || got.Serial != 8 || len(got.Resources) != 1 {
				t.Errorf("after the second write: %v %q %v", got, gd, err)
			}
		})
	}
}

// TestRegistryArtifact checks the stored artifact is exactly SPEC §7's.
func TestRegistryArtifact(t *testing.T) {
	ctx := context.Background()
	host := testenv.MemRegistry(t)
	r := newTestRegistry(t, host, "main")
	d, err := r.Write(ctx, sampleState())
	if err != nil {
		t.Fatal(err)
	}
	resp, err := remote.Get(mustTag(t, host+"/sovos/state:main"))
	if err != nil {
		t.Fatal(err)
	}
	if resp.Digest.String() != d {
		t.Errorf("tag main points at %s, Write returned %s", resp.Digest, d)
	}
	var m map[string]any
	if err := json.Unmarshal(resp.Manifest, &m); err != nil {
		t.Fatal(err)
	}
	cfg := m["config"].(map[string]any)
	layers := m["layers"].([]any)
	checks := map[string]any{
		"mediaType":    "application/vnd.oci.image.manifest.v1+json",
		"artifactType": "application/vnd.sovos.state.v1",
		"config":       "application/vnd.oci.empty.v1+json",
		"config.size":  2.0,
		"config.dig":   "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a",
		"layers":       1,
		"layer":        "application/vnd.sovos.state.v1+json",
	}
	got := map[string]any{
		"mediaType": m["mediaType"], "artifactType": m["artifactType"],
		"config": cfg["mediaType"], "config.size": cfg["size"], "config.dig": cfg["digest"],
		"layers": len(layers), "layer": layers[0].(map[string]any)["mediaType"],
	}
	for k, want := range checks {
		if got[k] != want {
			t.Errorf("manifest %s = %v, want %v\n%s", k, got[k], want, resp.Manifest)
		}
	}
	// A released lock's tag holds the released marker (or is gone where the registry
	// deletes it): never a lock.
	h, err := Hold(ctx, r, NewLockInfo("apply", "0.1.0"))
	if err != nil {
		t.Fatal(err)
	}
	lockTag := h.lease.(*registryLease).tag
	if err := h.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if lock, err := remote.Get(lockTag); err == nil {
		if mf, _ := v1.ParseManifest(strings.NewReader(string(lock.Manifest))); mf == nil || mf.ArtifactType != ReleasedArtifactType {
			t.Errorf("lock tag after release holds %s", lock.Manifest)
		}
	}
	if locks, err := r.Locks(ctx); err != nil || len(locks) != 0 {
		t.Errorf("Locks after release = %v, %v", locks, err)
	}
}

func TestRegistryForeignAndCorrupt(t *testing.T) {
	ctx := context.Background()
	host := testenv.MemRegistry(t)
	tag := func(ws string) name.Tag { return mustTag(t, host+"/sovos/state:"+ws) }

	img, err := random.Image(64, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(tag("image"), img); err != nil {
		t.Fatal(err)
	}
	other, _ := newArtifact("application/vnd.example.sbom", "application/json", []byte(`{}`))
	if err := remote.Write(tag("sbom"), other); err != nil {
		t.Fatal(err)
	}
	garbage, _ := newArtifact(ArtifactType, LayerMediaType, []byte(`{"version": 1, "lineage": `))
	if err := remote.Write(tag("garbage"), garbage); err != nil {
		t.Fatal(err)
	}
	newer, _ := newArtifact(ArtifactType, LayerMediaType, []byte(`{"version": 9, "lineage": "x"}`))
	if err := remote.Write(tag("newer"), newer); err != nil {
		t.Fatal(err)
	}
	tests := []struct{ ws, want string }{
		{"image", "not a sovos state: it holds a manifest of type application/vnd.docker.distribution.manifest.v2+json"},
		{"sbom", "artifact type is application/vnd.example.sbom"},
		{"garbage", "not valid JSON"},
		{"newer", "newer sovos"},
	}
	for _, tt := range tests {
		t.Run(tt.ws, func(t *testing.T) {
			r := newTestRegistry(t, host, tt.ws)
			_, _, err := r.Read(ctx)
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "sovos/state:"+tt.ws) {
				t.Errorf("Read = %v, want an error naming the tag and containing %q", err, tt.want)
			}
		})
	}
	// A foreign artifact at a lock tag is not taken for a lock, nor ignored.
	if err := remote.Write(tag("x.lock"), other); err != nil {
		t.Fatal(err)
	}
	if _, err := Hold(ctx, newTestRegistry(t, host, "x"), NewLockInfo("apply", "")); err == nil || !errors.Is(err, ErrNotState) {
		t.Errorf("Hold over a foreign artifact: %v", err)
	}
}

// TestRegistryCorruptLayer serves a state layer whose bytes do not match its digest.
func TestRegistryCorruptLayer(t *testing.T) {
	ctx := context.Background()
	var corrupt atomic.Bool
	host := testenv.MemRegistry(t, testenv.Corrupt(func(r *http.Request) bool {
		return corrupt.Load() && strings.Contains(r.URL.Path, "/blobs/")
	}))
	r := newTestRegistry(t, host, "main")
	if _, err := r.Write(ctx, sampleState()); err != nil {
		t.Fatal(err)
	}
	corrupt.Store(true)
	_, _, err := r.Read(ctx)
	if err == nil || !strings.Contains(err.Error(), "registry ") || !strings.Contains(err.Error(), "sovos/state:main") {
		t.Errorf("Read of a corrupted layer = %v", err)
	}
	t.Log(err)
}

func TestRegistryRoundTrips(t *testing.T) {
	ctx := context.Background()
	host := testenv.MemRegistry(t)
	ct := &countingTransport{rt: http.DefaultTransport}
	r := newTestRegistry(t, host, "main", oci.WithTransport(ct))
	if _, err := r.Write(ctx, sampleState()); err != nil {
		t.Fatal(err)
	}
	ct.n.Store(0)
	ct.log = func(s string) { t.Log(s) }
	if _, _, err := r.Read(ctx); err != nil {
		t.Fatal(err)
	}
	// Ping + manifest + blob, plus, for a plain-HTTP registry, the HTTPS ping that
	// fails (in the TLS handshake) before the plain-HTTP one.
	t.Logf("a state read costs %d HTTP requests", ct.n.Load())
	if n := ct.n.Load(); n > 4 {
		t.Errorf("a state read made %d requests", n)
	}
}

func TestNewRegistryErrors(t *testing.T) {
	for _, tt := range []struct{ repo, ws, want string }{
		{"ghcr.io/x/state:main", "main", "not a valid repository"},
		{"ghcr.io/x/state", "", "workspace \"\" is not usable"},
		{"ghcr.io/x/state", "a/b", "not usable"},
		{"ghcr.io/x/state", strings.Repeat("a", 65), "not usable"},
		{"ghcr.io/x/state", "a.lock", "1 to 64 letters, digits, '_' or '-'"},
		{"ghcr.io/x/state", "-", ""},
	} {
		_, err := NewRegistry(tt.repo, tt.ws)
		if tt.want == "" {
			if err != nil {
				t.Errorf("NewRegistry(%q, %q) = %v", tt.repo, tt.ws, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("NewRegistry(%q, %q) = %v, want %q", tt.repo, tt.ws, err, tt.want)
		}
	}
	r, err := NewRegistry("ghcr.io/x/state", "main")
	if err != nil || r.String() != "registry ghcr.io/x/state:main" {
		t.Errorf("NewRegistry = %v, %v", r, err)
	}
}

func mustTag(t *testing.T, ref string) name.Tag {
	t.Helper()
	tag, err := name.NewTag(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	return tag
}
