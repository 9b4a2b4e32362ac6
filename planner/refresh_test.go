package planner

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/urmanac/sovos/config"
	"github.com/urmanac/sovos/internal/oci"
	"github.com/urmanac/sovos/internal/testenv"
)

// countingTransport counts the HTTP requests a plan makes, by kind.
type countingTransport struct {
	mu    sync.Mutex
	reqs  []string
	inner http.RoundTripper
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.mu.Lock()
	c.reqs = append(c.reqs, r.Method+" "+r.URL.Path)
	c.mu.Unlock()
	return c.inner.RoundTrip(r)
}

func (c *countingTransport) count(substr string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, r := range c.reqs {
		if strings.Contains(r, substr) {
			n++
		}
	}
	return n
}

func (c *countingTransport) total() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.reqs)
}

// startRegistry runs an in-memory registry (testenv.MemRegistry) and returns the
// repository prefix to push under ("127.0.0.1:PORT/urmanac").
func startRegistry(t testing.TB) (prefix, host string) {
	t.Helper()
	host = testenv.MemRegistry(t)
	return host + "/urmanac", host
}

// push uploads a small image to each build resource's and profile's image:tag, annotated
// with the given hash (the resource's own unless hashOf says otherwise), and returns the
// digests by address.
func push(t testing.TB, cfg *config.Config, skip map[string]bool, hashOf func(*config.Resource) string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, r := range cfg.Resources {
		if isData(r.Addr.Type) || skip[r.Addr.String()] {
			continue
		}
		img, err := random.Image(64, 1)
		if err != nil {
			t.Fatal(err)
		}
		h := r.Hash
		if hashOf != nil {
			h = hashOf(r)
		}
		img = mutate.Annotations(img, map[string]string{AnnotationHash: h}).(v1.Image)
		ref, err := name.ParseReference(imageOf(r)+":"+r.Tag, name.Insecure)
		if err != nil {
			t.Fatal(err)
		}
		if err := remote.Write(ref, img); err != nil {
			t.Fatal(err)
		}
		d, _ := img.Digest()
		out[r.Addr.String()] = d.String()
	}
	return out
}

func refreshOpts(host string, tr http.RoundTripper) Options {
	opts := []oci.Option{oci.WithInsecure(host), oci.WithKeychain(authn.NewMultiKeychain())}
	if tr != nil {
		opts = append(opts, oci.WithTransport(tr))
	}
	return Options{Refresh: true, Registry: oci.New(opts...)}
}

func TestRefreshNothingToDoIsOneListPerRepository(t *testing.T) {
	prefix, host := startRegistry(t)
	cfg := standard(prefix, defaultParams())
	push(t, cfg, nil, nil)
	tr := &countingTransport{inner: http.DefaultTransport}
	p := mustPlan(t, cfg, applied(t, cfg, false), refreshOpts(host, tr))
	if p.HasChanges() {
		t.Fatalf("changes: %v", actions(p))
	}
	// kernel-sovereign, extension-hailort, installer-sovereign, profile-talos.
	const repos = 4
	if got := tr.count("/tags/list"); got != repos {
		t.Errorf("%d tags/list requests, want one per repository (%d)", got, repos)
	}
	if got := tr.count("/manifests/"); got != 0 {
		t.Errorf("%d manifest requests, want none", got)
	}
	// Besides the lists, the registry is pinged once (GET /v2/) to learn how to
	// authenticate; for a plain-HTTP registry https and http are tried together.
	if got, want := tr.total(), repos+2; got > want {
		t.Errorf("%d requests in all (%v), want at most %d", got, tr.reqs, want)
	}
	t.Logf("round trips for a plan with nothing to do (5 resources, %d repositories): %d (%d tags/list)", repos, tr.total(), tr.count("/tags/list"))
}

func TestRefreshMissingArtifactRebuilds(t *testing.T) {
	prefix, host := startRegistry(t)
	cfg := standard(prefix, defaultParams())
	push(t, cfg, map[string]bool{"kernel.sovereign": true}, nil)
	p := mustPlan(t, cfg, applied(t, cfg, false), refreshOpts(host, nil))
	got := actions(p)
	want := "rebuild: " + prefix + "/kernel-sovereign:" + cfg.Resource("kernel.sovereign").Tag + " is missing from the registry"
	if got["kernel.sovereign"] != want {
		t.Errorf("kernel: %q, want %q", got["kernel.sovereign"], want)
	}
	if got["extension.hailort"] != "rebuild: dependency kernel.sovereign will be rebuilt" {
		t.Errorf("extension: %q", got["extension.hailort"])
	}
	if got[`profile.talos["cm4-standard"]`] != "no-op: " {
		t.Errorf("cm4: %q", got[`profile.talos["cm4-standard"]`])
	}
	// Without -refresh the registry is not asked, so nothing is missing.
	tr := &countingTransport{inner: http.DefaultTransport}
	p = mustPlan(t, cfg, applied(t, cfg, false), Options{Registry: oci.New(oci.WithTransport(tr))})
	if p.HasChanges() || tr.total() != 0 {
		t.Errorf("-refresh=false: changes %v, %d requests", actions(p), tr.total())
	}
}

func TestRefreshAdoptsByAnnotation(t *testing.T) {
	prefix, host := startRegistry(t)
	cfg := standard(prefix, defaultParams())
	// cm4-standard's image was built from other inputs: it must be created, not adopted.
	digests := push(t, cfg, nil, func(r *config.Resource) string {
		if r.Addr.String() == `profile.talos["cm4-standard"]` {
			return "other"
		}
		return r.Hash
	})
	tr := &countingTransport{inner: http.DefaultTransport}
	p := mustPlan(t, cfg, nil, refreshOpts(host, tr))
	for _, c := range p.Changes {
		if c.Address == `profile.talos["cm4-standard"]` {
			if c.Action != ActionCreate || !strings.Contains(c.Reasons[0].Message, "built from other inputs") {
				t.Errorf("cm4: %s %v", c.Action, c.Reasons)
			}
			continue
		}
		if c.Action != ActionAdopt || c.AdoptDigest != digests[c.Address] || c.Reasons[0].Kind != ReasonFoundInRegistry {
			t.Errorf("%s: %s %q %v, want adopt of %s", c.Address, c.Action, c.AdoptDigest, c.Reasons, digests[c.Address])
		}
	}
	if p.Summary != (Summary{Adopt: 4, Create: 1}) {
		t.Errorf("summary %+v", p.Summary)
	}
	// One list per repository, one manifest GET per candidate, concurrently.
	if got := tr.count("/tags/list"); got != 4 {
		t.Errorf("%d tags/list", got)
	}
	if got := tr.count("/manifests/"); got != 5 {
		t.Errorf("%d manifest requests, want 5", got)
	}
	// A missing repository is simply empty.
	cfg2 := standard(host+"/nobody", defaultParams())
	p = mustPlan(t, cfg2, nil, refreshOpts(host, nil))
	if p.Summary != (Summary{Create: 5}) {
		t.Errorf("empty registry: %+v", p.Summary)
	}
}

func TestRefreshUnreachableRegistry(t *testing.T) {
	cfg := standard("127.0.0.1:1/urmanac", defaultParams())
	_, err := MakePlan(t.Context(), cfg, nil, "", Options{Refresh: true, Registry: oci.New(oci.WithInsecure("127.0.0.1:1"), oci.WithKeychain(authn.NewMultiKeychain()))})
	if err == nil || !strings.Contains(err.Error(), "-refresh=false") {
		t.Errorf("err = %v, want one suggesting -refresh=false", err)
	}
}

// An artifact built on an upstream the plan rebuilds is stale even with the right hash.
func TestRefreshNeverAdoptsOnARebuiltUpstream(t *testing.T) {
	prefix, host := startRegistry(t)
	cfg := standard(prefix, defaultParams())
	push(t, cfg, map[string]bool{"kernel.sovereign": true}, nil)
	got := actions(mustPlan(t, cfg, nil, refreshOpts(host, nil)))
	want := map[string]string{
		"kernel.sovereign":              "create: not in the state, and " + prefix + "/kernel-sovereign:" + cfg.Resource("kernel.sovereign").Tag + " is not in the registry",
		"extension.hailort":             "create: not in the state; " + prefix + "/extension-hailort:" + cfg.Resource("extension.hailort").Tag + " is in the registry but was built on the kernel.sovereign this plan replaces",
		"installer.sovereign":           "create: not in the state; " + prefix + "/installer-sovereign:" + cfg.Resource("installer.sovereign").Tag + " is in the registry but was built on the kernel.sovereign this plan replaces",
		`profile.talos["cm5-hailo10h"]`: "create: not in the state; " + prefix + `/profile-talos:` + cfg.Resource(`profile.talos["cm5-hailo10h"]`).Tag + " is in the registry but was built on the installer.sovereign this plan replaces",
		`profile.talos["cm4-standard"]`: "adopt: not in the state, but " + prefix + "/profile-talos:" + cfg.Resource(`profile.talos["cm4-standard"]`).Tag + " is in the registry, built from the same hash (dev.sovos.hash): recorded without a build",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// TestRefreshAdoptsKernelOnlyWithItsCertificate: a kernel found in the registry without
// its signing-certificate artifact (an apply killed between the two pushes) is rebuilt,
// with that reason, and so is everything built on it; with the certificate next to it,
// it is adopted.
func TestRefreshAdoptsKernelOnlyWithItsCertificate(t *testing.T) {
	prefix, host := startRegistry(t)
	cfg := standard(prefix, defaultParams())
	kernel := cfg.Resource("kernel.sovereign")
	kernel.Build.SigningCert = &config.SigningCert{Target: "kernel-build", Path: "/src/certs/signing_key.x509"}
	digests := push(t, cfg, nil, nil)
	kref := prefix + "/kernel-sovereign:" + kernel.Tag

	p := mustPlan(t, cfg, nil, refreshOpts(host, nil))
	got := actions(p)
	if want := "rebuild: not in the state; " + kref + " is in the registry, built from the same hash, but without its signing-certificate artifact (an apply stopped before storing it): rebuilt, as its modules could not be verified"; got["kernel.sovereign"] != want {
		t.Errorf("kernel:\n got %s\nwant %s", got["kernel.sovereign"], want)
	}
	if c := p.Change("kernel.sovereign"); c.Reasons[0].Kind != ReasonCertMissing {
		t.Errorf("reason kind %s", c.Reasons[0].Kind)
	}
	for _, a := range []string{"extension.hailort", "installer.sovereign"} {
		if !strings.HasPrefix(got[a], "create: ") || !strings.Contains(got[a], "built on the kernel.sovereign this plan replaces") {
			t.Errorf("%s: %s", a, got[a])
		}
	}

	// The certificate artifact: a referrer of the kernel's manifest.
	kd, _ := name.NewDigest(prefix+"/kernel-sovereign@"+digests["kernel.sovereign"], name.Insecure)
	subject, err := remote.Head(kd)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := random.Image(16, 1)
	cert = mutate.ConfigMediaType(mutate.MediaType(cert, "application/vnd.oci.image.manifest.v1+json"), "application/vnd.oci.empty.v1+json")
	cert = mutate.Subject(cert, *subject).(v1.Image)
	cert = &withArtifactType{Image: cert, artifactType: CertArtifactType}
	cd, _ := cert.Digest()
	if err := remote.Write(kd.Context().Digest(cd.String()), cert); err != nil {
		t.Fatal(err)
	}
	p = mustPlan(t, cfg, nil, refreshOpts(host, nil))
	for _, a := range []string{"kernel.sovereign", "extension.hailort", "installer.sovereign"} {
		if c := p.Change(a); c.Action != ActionAdopt || c.AdoptDigest != digests[a] {
			t.Errorf("%s with its kernel's certificate stored: %s %v", a, c.Action, c.Reasons)
		}
	}
}

// withArtifactType sets a manifest's artifactType (mutate cannot).
type withArtifactType struct {
	v1.Image
	artifactType string
}

func (w *withArtifactType) RawManifest() ([]byte, error) {
	raw, err := w.Image.RawManifest()
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, err
	}
	m["artifactType"] = w.artifactType
	return json.Marshal(m)
}

func (w *withArtifactType) Digest() (v1.Hash, error) {
	raw, err := w.RawManifest()
	if err != nil {
		return v1.Hash{}, err
	}
	h, _, err := v1.SHA256(bytes.NewReader(raw))
	return h, err
}

func (w *withArtifactType) Manifest() (*v1.Manifest, error) {
	raw, err := w.RawManifest()
	if err != nil {
		return nil, err
	}
	return v1.ParseManifest(bytes.NewReader(raw))
}
