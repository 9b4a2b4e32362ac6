package state

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/urmanac/sovos/internal/oci"
	"github.com/urmanac/sovos/internal/testenv"
)

// TestRegistryNoStateOnlyAfterPing: "no state yet" is a 404 on the state manifest from a
// registry that answered its /v2/ check, and nothing else.
func TestRegistryNoStateOnlyAfterPing(t *testing.T) {
	ctx := context.Background()

	// A registry without the tag: no state, no error.
	host := testenv.MemRegistry(t)
	if s, d, err := newTestRegistry(t, host, "main").Read(ctx); s != nil || d != "" || err != nil {
		t.Errorf("a registry without the state: %v, %q, %v", s, d, err)
	}

	// A web server that is not a registry answers 404 to everything, /v2/ included:
	// an error, or an apply would start a new lineage over the real state elsewhere.
	web := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(web.Close)
	host = strings.TrimPrefix(web.URL, "http://")
	s, _, err := newTestRegistry(t, host, "main").Read(ctx)
	if s != nil || err == nil {
		t.Fatalf("a 404 on /v2/: state %v, err %v; want an error", s, err)
	}
	for _, want := range []string{"registry " + host + "/sovos/state:main", "404", "/v2/", "no OCI registry"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}

	// A registry failing with 500 on the manifest: an error too, after three attempts.
	var manifestGets int
	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v2/" {
			return
		}
		manifestGets++
		w.WriteHeader(http.StatusInternalServerError)
	}))
	t.Cleanup(failing.Close)
	host = strings.TrimPrefix(failing.URL, "http://")
	if s, _, err := newTestRegistry(t, host, "main").Read(ctx); s != nil || err == nil || manifestGets != 3 {
		t.Errorf("a 500 on the manifest: state %v, err %v, %d attempts", s, err, manifestGets)
	}
}

// TestRegistrySilent: a registry that accepts connections and never answers makes
// Read fail within the deadline's three attempts, naming the registry.
func TestRegistrySilent(t *testing.T) {
	proxy := testenv.StartFaultProxy(t, testenv.MemRegistry(t))
	proxy.Silence(nil)
	r := newTestRegistry(t, proxy.Host, "main", oci.WithTimeout(200*time.Millisecond))
	start := time.Now()
	s, _, err := r.Read(context.Background())
	if s != nil || err == nil || !strings.Contains(err.Error(), "the registry "+proxy.Host+" did not respond") {
		t.Fatalf("Read from a silent registry: %v, %v", s, err)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("took %v with a 200ms deadline", took)
	}
	if _, err := r.Write(context.Background(), sampleState()); err == nil || !strings.Contains(err.Error(), proxy.Host) {
		t.Errorf("Write to a silent registry: %v", err)
	}
}
