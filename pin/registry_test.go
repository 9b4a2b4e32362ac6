package pin_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/urmanac/sovos/internal/oci"
	"github.com/urmanac/sovos/internal/testenv"
	"github.com/urmanac/sovos/pin"
)

// TestRegistry resolves through the registry client against an in-process registry: the
// index digest of a multi-platform image from one HEAD, a GET where HEAD gives no digest,
// and "not found" told apart from other failures.
func TestRegistry(t *testing.T) {
	var (
		mu        sync.Mutex
		methods   []string
		noDigests bool
	)
	host := testenv.MemRegistry(t, func(inner http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.Contains(r.URL.Path, "/manifests/") {
				mu.Lock()
				methods = append(methods, r.Method)
				strip := noDigests && r.Method == http.MethodHead
				mu.Unlock()
				if strip {
					inner.ServeHTTP(headerFilter{w}, r)
					return
				}
			}
			inner.ServeHTTP(w, r)
		})
	})

	idx := v1.ImageIndex(empty.Index)
	for _, arch := range []string{"amd64", "arm64"} {
		img, err := random.Image(128, 1)
		if err != nil {
			t.Fatal(err)
		}
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: img,
			Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: arch}}})
	}
	ref := host + "/multi:v1"
	tag, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.WriteIndex(tag, idx); err != nil {
		t.Fatal(err)
	}
	want, _ := idx.Digest()

	resolve := pin.Registry(oci.New(oci.WithInsecure(host)))
	ctx := context.Background()
	methods = nil
	if got, err := resolve.Digest(ctx, ref); err != nil || got != want.String() {
		t.Fatalf("Digest = %s, %v; want the index %s", got, err, want)
	}
	if strings.Join(methods, ",") != "HEAD" {
		t.Errorf("manifest requests %v, want one HEAD", methods)
	}

	mu.Lock()
	noDigests, methods = true, nil
	mu.Unlock()
	if got, err := resolve.Digest(ctx, ref); err != nil || got != want.String() {
		t.Fatalf("without a digest on HEAD: %s, %v; want %s", got, err, want)
	}
	if strings.Join(methods, ",") != "HEAD,GET" {
		t.Errorf("manifest requests %v, want HEAD then GET", methods)
	}

	if _, err := resolve.Digest(ctx, host+"/multi:v9"); !errors.Is(err, pin.ErrNotFound) {
		t.Errorf("a missing tag: %v, want ErrNotFound", err)
	}
	if _, err := resolve.Digest(ctx, "127.0.0.1:1/x:y"); err == nil || errors.Is(err, pin.ErrNotFound) {
		t.Errorf("an unreachable registry: %v, want an error other than ErrNotFound", err)
	}
	if _, err := resolve.Digest(ctx, "UPPER/case:v1"); err == nil || !strings.Contains(err.Error(), `"UPPER/case:v1"`) {
		t.Errorf("an invalid reference: %v", err)
	}
}

// headerFilter drops the digest header, as some registries do on HEAD.
type headerFilter struct{ http.ResponseWriter }

func (h headerFilter) WriteHeader(code int) {
	h.Header().Del("Docker-Content-Digest")
	h.ResponseWriter.WriteHeader(code)
}
