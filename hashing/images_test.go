package hashing

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/urmanac/sovos/internal/oci"
	"github.com/urmanac/sovos/internal/testenv"
)

const testDigest = "sha256:0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0"

// noNetwork fails the test on any request.
type noNetwork struct {
	t     *testing.T
	calls atomic.Int64
}

func (n *noNetwork) RoundTrip(r *http.Request) (*http.Response, error) {
	n.calls.Add(1)
	n.t.Errorf("unexpected request %s %s", r.Method, r.URL)
	return nil, errors.New("no network in this test")
}

func TestResolveWithoutNetwork(t *testing.T) {
	nn := &noNetwork{t: t}
	tests := []struct {
		name         string
		refresh      bool
		ref, pin     string
		known        string
		want, errStr string
	}{
		{name: "pinned", refresh: true, ref: "ghcr.io/siderolabs/installer:v1.13.3", pin: testDigest, want: testDigest},
		{name: "pinned offline", ref: "ghcr.io/siderolabs/installer:v1.13.3", pin: testDigest, want: testDigest},
		{name: "digest in ref", refresh: true, ref: "ghcr.io/siderolabs/installer@" + testDigest, want: testDigest},
		{name: "known offline", ref: "ghcr.io/siderolabs/installer:v1.13.3", known: testDigest, want: testDigest},
		{name: "unknown offline", ref: "ghcr.io/siderolabs/installer:v1.13.3",
			errStr: "image ghcr.io/siderolabs/installer:v1.13.3 has no pinned digest and none is recorded in the state"},
		{name: "bad pin", ref: "ghcr.io/x/y:1", pin: "sha256:nope", errStr: `image ghcr.io/x/y:1: digest "sha256:nope" is not a valid digest`},
		{name: "conflicting pin", ref: "ghcr.io/x/y@" + testDigest, pin: "sha256:" + strings.Repeat("1", 64), errStr: "the reference names digest"},
		{name: "bad ref", ref: "Not A Ref", errStr: `image reference "Not A Ref"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &ImageResolver{Refresh: tt.refresh, Registry: oci.New(oci.WithTransport(nn), oci.WithKeychain(authn.NewMultiKeychain()))}
			got, err := r.Resolve(context.Background(), tt.ref, tt.pin, tt.known)
			if tt.errStr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.errStr) {
					t.Fatalf("got %q, %v; want an error containing %q", got, err, tt.errStr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
	if nn.calls.Load() != 0 {
		t.Errorf("%d requests made", nn.calls.Load())
	}
}

// testRegistry starts an in-memory registry (testenv.MemRegistry), wrapped by wrap when
// not nil, and pushes one random image; it returns the image's reference and digest.
func testRegistry(t *testing.T, wrap func(http.Handler) http.Handler) (host, ref, digest string) {
	t.Helper()
	host = testenv.MemRegistry(t, wrap)
	ref = host + "/siderolabs/installer:v1.13.3"
	img, err := random.Image(256, 1)
	if err != nil {
		t.Fatal(err)
	}
	tag, err := name.NewTag(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(tag, img); err != nil {
		t.Fatal(err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return host, ref, d.String()
}

func TestResolveRegistry(t *testing.T) {
	var heads, gets atomic.Int64
	var refuseHead atomic.Bool
	host, ref, want := testRegistry(t, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.Contains(r.URL.Path, "/manifests/") {
				switch r.Method {
				case http.MethodHead:
					heads.Add(1)
					if refuseHead.Load() {
						w.WriteHeader(http.StatusMethodNotAllowed)
						return
					}
				case http.MethodGet:
					gets.Add(1)
				}
			}
			next.ServeHTTP(w, r)
		})
	})
	r := &ImageResolver{Refresh: true, Registry: oci.New(oci.WithInsecure(host), oci.WithKeychain(authn.NewMultiKeychain()))}
	heads.Store(0)
	gets.Store(0)
	got, err := r.Resolve(context.Background(), ref, "", "sha256:stale-from-state")
	if err != nil || got != want {
		t.Fatalf("got %q, %v; want %q", got, err, want)
	}
	if heads.Load() != 1 || gets.Load() != 0 {
		t.Errorf("HEAD %d, GET %d; want one HEAD", heads.Load(), gets.Load())
	}

	refuseHead.Store(true)
	got, err = r.Resolve(context.Background(), ref, "", "")
	if err != nil || got != want {
		t.Fatalf("with HEAD refused: got %q, %v; want %q", got, err, want)
	}
	if gets.Load() != 1 {
		t.Errorf("GET %d, want the fallback GET", gets.Load())
	}

	_, err = r.Resolve(context.Background(), host+"/siderolabs/installer:missing", "", "")
	if err == nil || !strings.Contains(err.Error(), "resolving image "+host+"/siderolabs/installer:missing") {
		t.Errorf("missing tag: %v", err)
	}
}

func TestResolveUnreachable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	host := strings.TrimPrefix(srv.URL, "http://")
	srv.Close() // nothing listens there any more
	ref := host + "/x/y:1"
	r := &ImageResolver{Refresh: true, Registry: oci.New(oci.WithInsecure(host), oci.WithKeychain(authn.NewMultiKeychain()))}
	_, err := r.Resolve(context.Background(), ref, "", "")
	if err == nil || !strings.Contains(err.Error(), "resolving image "+ref+": cannot reach the registry "+host) || strings.Count(err.Error(), "cannot reach") != 1 {
		t.Errorf("got %v", err)
	}
}
