package oci_test

import (
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"

	"github.com/urmanac/sovos/internal/oci"
	"github.com/urmanac/sovos/internal/testenv"
)

// counter counts the requests a handler sees, by "METHOD path-kind".
type counter struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *counter) add(key string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == nil {
		c.n = map[string]int{}
	}
	c.n[key]++
	return c.n[key]
}

func (c *counter) get(key string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[key]
}

func kind(r *http.Request) string {
	p := r.URL.Path
	switch {
	case p == "/v2/":
		return r.Method + " ping"
	case strings.Contains(p, "/blobs/uploads/"):
		return r.Method + " upload"
	case strings.Contains(p, "/blobs/"):
		return r.Method + " blob"
	case strings.Contains(p, "/manifests/"):
		return r.Method + " manifest"
	}
	return r.Method + " " + p
}

func randomImage(t *testing.T, layers int, size int64) v1.Image {
	t.Helper()
	img, err := random.Image(size, int64(layers))
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func TestPlainHTTPOnlyWhenListed(t *testing.T) {
	t.Parallel()
	var seen counter
	host := testenv.MemRegistry(t, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			seen.add("any")
			h.ServeHTTP(w, r)
		})
	})
	ref := host + "/x/state:main"

	// 127.0.0.1 is loopback, which go-containerregistry would speak plain HTTP to.
	c := oci.New(oci.WithTimeout(5 * time.Second))
	r, err := c.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Get(t.Context(), r)
	var ph *oci.PlainHTTPError
	if !errors.As(err, &ph) || ph.Host != host {
		t.Fatalf("err = %v, want a PlainHTTPError for %s", err, host)
	}
	for _, want := range []string{"the registry " + host + " speaks plain HTTP", "insecure_registries", `insecure_registries = ["` + host + `"]`, "sovos block"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if n := seen.get("any"); n != 0 {
		t.Errorf("the registry received %d plain-HTTP requests from a client that does not list it", n)
	}

	// Listed: plain HTTP it is.
	c = oci.New(oci.WithInsecure(host))
	r, _ = c.ParseReference(ref)
	if err := c.Write(t.Context(), r, randomImage(t, 1, 100)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Get(t.Context(), r); err != nil {
		t.Fatal(err)
	}
}

func TestNotFoundOnlyAfterPing(t *testing.T) {
	t.Parallel()
	// A web server that is not a registry: 404 for everything, /v2/ included.
	srv := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")
	c := oci.New(oci.WithInsecure(host))
	r, _ := c.ParseReference(host + "/x/state:main")
	_, err := c.Get(t.Context(), r)
	if err == nil || oci.IsNotFound(err) {
		t.Fatalf("a 404 on the /v2/ ping: err = %v, IsNotFound = %v; want an error that is not 'not found'", err, oci.IsNotFound(err))
	}
	var pe *oci.PingError
	if !errors.As(err, &pe) || !strings.Contains(err.Error(), host+" answered 404 Not Found to GET /v2/") || !strings.Contains(err.Error(), "no OCI registry") {
		t.Errorf("err = %v", err)
	}

	// A registry without that tag: not found, after a good ping.
	host = testenv.MemRegistry(t)
	c = oci.New(oci.WithInsecure(host))
	r, _ = c.ParseReference(host + "/x/state:main")
	if _, err := c.Get(t.Context(), r); !oci.IsNotFound(err) {
		t.Errorf("a missing manifest: err = %v, IsNotFound false", err)
	}
	if _, err := c.Head(t.Context(), r); !oci.IsNotFound(err) {
		t.Errorf("a missing manifest (HEAD): err = %v, IsNotFound false", err)
	}
	// A failing registry is not "not found" either.
	failing := testenv.MemRegistry(t, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.Contains(r.URL.Path, "/manifests/") {
				w.WriteHeader(http.StatusInternalServerError)
				return
			}
			h.ServeHTTP(w, r)
		})
	})
	c = oci.New(oci.WithInsecure(failing))
	r, _ = c.ParseReference(failing + "/x/state:main")
	if _, err := c.Get(t.Context(), r); err == nil || oci.IsNotFound(err) {
		t.Errorf("a 500 on the manifest: err = %v", err)
	}
}

// TestOneRetryPolicy checks that go-containerregistry adds no retries of its own: a
// manifest that always fails costs exactly three requests.
func TestOneRetryPolicy(t *testing.T) {
	t.Parallel()
	var seen counter
	host := testenv.MemRegistry(t, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			k := seen.add(kind(r))
			_ = k
			if kind(r) == "PUT manifest" {
				w.WriteHeader(http.StatusServiceUnavailable)
				return
			}
			h.ServeHTTP(w, r)
		})
	})
	c := oci.New(oci.WithInsecure(host))
	r, _ := c.ParseReference(host + "/x/y:z")
	start := time.Now()
	err := c.Write(t.Context(), r, randomImage(t, 1, 100))
	if err == nil {
		t.Fatal("a manifest PUT that always fails: no error")
	}
	if n := seen.get("PUT manifest"); n != 3 {
		t.Errorf("%d manifest PUTs, want 3", n)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("took %v, want about 0.75s of waiting", took)
	}
}

// cutOff reads part of a request's body and then resets the connection.
func cutOff(t *testing.T, w http.ResponseWriter, r *http.Request) {
	buf := make([]byte, 1000)
	_, _ = io.ReadFull(r.Body, buf)
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		t.Error(err)
		return
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	conn.Close()
}

func TestInterruptedUploadRestarts(t *testing.T) {
	t.Parallel()
	var seen counter
	host := testenv.MemRegistry(t, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			k := kind(r)
			n := seen.add(k)
			if k == "PATCH upload" && n == 1 {
				cutOff(t, w, r)
				return
			}
			h.ServeHTTP(w, r)
		})
	})
	c := oci.New(oci.WithInsecure(host))
	img := randomImage(t, 1, 1<<20)
	r, _ := c.ParseReference(host + "/x/y:z")
	if err := c.Write(t.Context(), r, img); err != nil {
		t.Fatalf("an upload cut off once: %v", err)
	}
	// The config blob is small; the layer's PATCH was cut off and its whole upload
	// (a new session) started again.
	if p, u := seen.get("POST upload"), seen.get("PATCH upload"); p != 3 || u != 3 {
		t.Errorf("%d upload sessions and %d PATCHes for two blobs, one cut off once; want 3 and 3", p, u)
	}
	got, err := c.Get(t.Context(), r)
	if err != nil {
		t.Fatal(err)
	}
	if want, _ := img.Digest(); got.Digest != want {
		t.Errorf("pushed %s, want %s", got.Digest, want)
	}

	// Cut off every time: the upload restarts twice, then fails.
	var seen2 counter
	host = testenv.MemRegistry(t, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if seen2.add(kind(r)); kind(r) == "PATCH upload" {
				cutOff(t, w, r)
				return
			}
			h.ServeHTTP(w, r)
		})
	})
	c = oci.New(oci.WithInsecure(host))
	repo, _ := c.NewRepository(host + "/x/y")
	layers, _ := img.Layers()
	err = c.WriteLayer(t.Context(), repo, layers[0])
	var ui *oci.UploadInterruptedError
	if !errors.As(err, &ui) || seen2.get("PATCH upload") != 3 || seen2.get("POST upload") != 3 {
		t.Errorf("err %v after %d sessions and %d PATCHes, want an interrupted upload after 3", err, seen2.get("POST upload"), seen2.get("PATCH upload"))
	}
}

// TestFlakyRegistry pushes and reads through a proxy that answers 503 to every second
// request.
func TestFlakyRegistry(t *testing.T) {
	t.Parallel()
	upstream := testenv.MemRegistry(t)
	proxy := testenv.StartFaultProxy(t, upstream)
	// Concurrent calls (blob uploads run four at a time): every request's first attempt
	// fails, and every second attempt after.
	proxy.FailEveryPerURL(testenv.DistinctURLs, 2, http.StatusServiceUnavailable)
	c := oci.New(oci.WithInsecure(proxy.Host), oci.WithUserAgent("sovos/test"))
	ctx := t.Context()

	img := randomImage(t, 3, 50_000)
	r, _ := c.ParseReference(proxy.Host + "/x/y:one")
	if err := c.Write(ctx, r, img); err != nil {
		t.Fatalf("push: %v", err)
	}
	desc, err := c.Get(ctx, r)
	if err != nil {
		t.Fatalf("get: %v", err)
	}
	tag, _ := c.NewTag(proxy.Host + "/x/y:stable")
	if err := c.Tag(ctx, tag, desc); err != nil {
		t.Fatalf("tag: %v", err)
	}
	pulled, err := c.Image(ctx, tag, "")
	if err != nil {
		t.Fatalf("image: %v", err)
	}
	layers, err := pulled.Layers()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range layers {
		rc, err := l.Compressed()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(io.Discard, rc); err != nil {
			t.Fatalf("reading a layer: %v", err)
		}
		rc.Close()
	}
	d, _ := c.NewDigest(proxy.Host + "/x/y@" + desc.Digest.String())
	if _, err := c.Referrers(ctx, d); err != nil {
		t.Fatalf("referrers: %v", err)
	}
	total := proxy.Count(nil)
	if total < 40 {
		t.Errorf("only %d requests went through the proxy", total)
	}
	if n := proxy.Count(testenv.UserAgentContains("sovos/test")); n != total {
		t.Errorf("%d of %d requests carry the client's User-Agent", n, total)
	}

	if f := proxy.Failed(); f < total/3 {
		t.Errorf("%d of %d requests answered 503", f, total)
	}

	// One request after another, every second one failing, pings and upload sessions
	// included: each failure's retry is the next request, which passes.
	proxy.Clear()
	proxy.FailEvery(nil, 2, http.StatusServiceUnavailable)
	repo, _ := c.NewRepository(proxy.Host + "/x/z")
	if err := c.WriteLayer(ctx, repo, layers[0]); err != nil {
		t.Fatalf("one blob upload: %v", err)
	}
	for i := range 5 {
		if _, err := c.Get(ctx, r); err != nil {
			t.Fatalf("get %d: %v", i, err)
		}
		if _, err := c.Head(ctx, tag); err != nil {
			t.Fatalf("head %d: %v", i, err)
		}
	}
	if f := proxy.Failed(); f < total/3+10 {
		t.Errorf("only %d requests answered 503", f)
	}
}

func TestSilentRegistry(t *testing.T) {
	t.Parallel()
	upstream := testenv.MemRegistry(t)
	proxy := testenv.StartFaultProxy(t, upstream)
	proxy.Silence(nil)
	c := oci.New(oci.WithInsecure(proxy.Host), oci.WithTimeout(300*time.Millisecond))
	r, _ := c.ParseReference(proxy.Host + "/x/state:main")
	start := time.Now()
	_, err := c.Get(t.Context(), r)
	took := time.Since(start)
	var te *oci.TimeoutError
	if !errors.As(err, &te) || te.Host != proxy.Host {
		t.Fatalf("err = %v, want a timeout naming %s", err, proxy.Host)
	}
	// Three attempts of 300ms and 0.75s of waits (the ping tries HTTPS and HTTP at once).
	if took > 4*time.Second {
		t.Errorf("gave up after %v", took)
	}
	if strings.Count(err.Error(), proxy.Host) > 2 {
		t.Errorf("the error repeats itself: %v", err)
	}

	// Back to life: the same client works.
	proxy.Clear()
	if _, err := c.Get(t.Context(), r); !oci.IsNotFound(err) {
		t.Errorf("after the registry came back: %v", err)
	}
}

func TestConnect(t *testing.T) {
	t.Parallel()
	upstream := testenv.MemRegistry(t)
	proxy := testenv.StartFaultProxy(t, upstream)
	c := oci.New(oci.WithInsecure(proxy.Host))
	r, _ := c.ParseReference(proxy.Host + "/a/b:c")
	if err := c.Write(t.Context(), r, randomImage(t, 1, 10)); err != nil {
		t.Fatal(err)
	}
	reg, _ := name.NewRegistry(proxy.Host, name.Insecure)
	before := proxy.Count(nil)
	p, err := c.Connect(t.Context(), reg, []string{r.Context().Scope("pull")})
	if err != nil {
		t.Fatal(err)
	}
	tags, err := p.List(t.Context(), r.Context())
	if err != nil || len(tags) != 1 {
		t.Fatalf("tags %v, %v", tags, err)
	}
	// One ping (HTTPS is refused without a request reaching the proxy's handler) and one
	// tags/list.
	if n := proxy.Count(nil) - before; n != 2 {
		t.Errorf("%d requests, want 2: %v", n, proxy.Requests()[before:])
	}
}

func TestDigest(t *testing.T) {
	t.Parallel()
	var seen counter
	var stripDigest atomic.Bool
	host := testenv.MemRegistry(t, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			seen.add(kind(r))
			if stripDigest.Load() && r.Method == http.MethodHead {
				// A registry that answers HEAD without Docker-Content-Digest.
				w.Header().Set("Content-Type", "application/vnd.oci.image.manifest.v1+json")
				w.WriteHeader(http.StatusOK)
				return
			}
			h.ServeHTTP(w, r)
		})
	})
	c := oci.New(oci.WithInsecure(host))
	r, _ := c.ParseReference(host + "/x/y:z")
	img := randomImage(t, 1, 10)
	if err := c.Write(t.Context(), r, img); err != nil {
		t.Fatal(err)
	}
	want, _ := img.Digest()

	before := seen.get("GET manifest")
	if d, err := c.Digest(t.Context(), r); err != nil || d != want || seen.get("GET manifest") != before {
		t.Errorf("HEAD: %v, %v, %d GETs; want %s and no GET", d, err, seen.get("GET manifest")-before, want)
	}
	stripDigest.Store(true)
	if d, err := c.Digest(t.Context(), r); err != nil || d != want || seen.get("GET manifest") != before+1 {
		t.Errorf("HEAD without a digest: %v, %v; want %s from one GET", d, err, want)
	}
	stripDigest.Store(false)
	missing, _ := c.ParseReference(host + "/x/y:missing")
	if _, err := c.Digest(t.Context(), missing); !oci.IsNotFound(err) || seen.get("GET manifest") != before+1 {
		t.Errorf("a missing tag: %v; want not found, from the HEAD alone", err)
	}
}
