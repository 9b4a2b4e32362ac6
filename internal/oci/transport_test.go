package oci

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// recorder is a test server that answers from a script and records when each request
// arrived and what body it carried.
type recorder struct {
	mu     sync.Mutex
	times  []time.Time
	bodies []string
}

func (r *recorder) record(req *http.Request) int {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.times = append(r.times, time.Now())
	r.bodies = append(r.bodies, string(body))
	return len(r.times)
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.times)
}

// gaps returns the time between consecutive requests.
func (r *recorder) gaps() []time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []time.Duration
	for i := 1; i < len(r.times); i++ {
		out = append(out, r.times[i].Sub(r.times[i-1]))
	}
	return out
}

// serve starts a plain-HTTP server whose nth request (1-based) is answered by
// answer(n, w); the client under test lists it as insecure.
func serve(t *testing.T, answer func(n int, w http.ResponseWriter, r *http.Request)) (*recorder, string) {
	t.Helper()
	rec := &recorder{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		answer(rec.record(r), w, r)
	}))
	t.Cleanup(srv.Close)
	return rec, strings.TrimPrefix(srv.URL, "http://")
}

func do(t *testing.T, c *Client, method, url string, body []byte) (*http.Response, error) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.rt.RoundTrip(req)
	if err == nil {
		t.Cleanup(func() { resp.Body.Close() })
	}
	return resp, err
}

func TestRetriesTransientStatus(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		statuses []int // answers in order; the last repeats
		attempts int
		final    int
	}{
		{"503 twice then OK", []int{503, 503, 200}, 3, 200},
		{"always 500: three attempts, then the 500", []int{500}, 3, 500},
		{"502 once", []int{502, 200}, 2, 200},
		{"504", []int{504, 200}, 2, 200},
		{"408", []int{408, 200}, 2, 200},
		{"404 is an answer", []int{404}, 1, 404},
		{"401 is an answer", []int{401}, 1, 401},
		{"501 Not Implemented is not transient", []int{501}, 1, 501},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec, host := serve(t, func(n int, w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tc.statuses[min(n, len(tc.statuses))-1])
			})
			c := New(WithInsecure(host))
			start := time.Now()
			resp, err := do(t, c, http.MethodGet, "http://"+host+"/v2/x/manifests/latest", nil)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tc.final || rec.count() != tc.attempts {
				t.Errorf("status %d after %d attempts, want %d after %d", resp.StatusCode, rec.count(), tc.final, tc.attempts)
			}
			// The waits between attempts: 250 ms, then 500 ms.
			want := []time.Duration{250 * time.Millisecond, 500 * time.Millisecond}
			for i, g := range rec.gaps() {
				if g < want[i] || g > want[i]+400*time.Millisecond {
					t.Errorf("wait before attempt %d: %v, want %v", i+2, g, want[i])
				}
			}
			if tc.attempts == 1 && time.Since(start) > 200*time.Millisecond {
				t.Errorf("an answer that is not transient took %v", time.Since(start))
			}
		})
	}
}

func TestRetryAfter(t *testing.T) {
	t.Parallel()
	rec, host := serve(t, func(n int, w http.ResponseWriter, r *http.Request) {
		if n == 1 {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	c := New(WithInsecure(host))
	resp, err := do(t, c, http.MethodGet, "http://"+host+"/v2/x/tags/list", nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("resp %v, err %v", resp, err)
	}
	if g := rec.gaps(); len(g) != 1 || g[0] < time.Second || g[0] > 1500*time.Millisecond {
		t.Errorf("waited %v after a 429 with Retry-After: 1, want 1s", g)
	}

	// A registry asking for more than the request deadline is not waited for.
	rec, host = serve(t, func(n int, w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "3600")
		w.WriteHeader(http.StatusTooManyRequests)
	})
	c = New(WithInsecure(host), WithTimeout(5*time.Second))
	resp, err = do(t, c, http.MethodGet, "http://"+host+"/v2/x/tags/list", nil)
	if err != nil || resp.StatusCode != 429 || rec.count() != 1 {
		t.Errorf("Retry-After: 3600: status %v, err %v, %d attempts; want the 429 at once", resp.StatusCode, err, rec.count())
	}

	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for v, want := range map[string]time.Duration{
		"":                              0,
		"2":                             2 * time.Second,
		"-1":                            0,
		"soon":                          0,
		"Fri, 02 Jan 2026 03:04:15 GMT": 10 * time.Second,
		"Fri, 02 Jan 2026 03:04:00 GMT": 0,
	} {
		if got := retryAfter(v, now); got != want {
			t.Errorf("retryAfter(%q) = %v, want %v", v, got, want)
		}
	}
}

func TestRetryResendsBody(t *testing.T) {
	t.Parallel()
	rec, host := serve(t, func(n int, w http.ResponseWriter, r *http.Request) {
		if n < 3 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusCreated)
	})
	c := New(WithInsecure(host), withRetryDelays(time.Millisecond, time.Millisecond))
	body := []byte(`{"schemaVersion":2}`)
	resp, err := do(t, c, http.MethodPut, "http://"+host+"/v2/x/manifests/latest", body)
	if err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("resp %v, err %v", resp, err)
	}
	for i, b := range rec.bodies {
		if b != string(body) {
			t.Errorf("attempt %d carried %q, want %q", i+1, b, body)
		}
	}
	if len(rec.bodies) != 3 {
		t.Errorf("%d attempts, want 3", len(rec.bodies))
	}

	// A body that cannot be read again is sent once.
	rec, host = serve(t, func(n int, w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	})
	c = New(WithInsecure(host), withRetryDelays(time.Millisecond, time.Millisecond))
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPut, "http://"+host+"/v2/x/manifests/latest", io.NopCloser(bytes.NewReader(body)))
	resp, err = c.rt.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 503 || rec.count() != 1 {
		t.Errorf("a one-shot body: status %d after %d attempts, want 503 after 1", resp.StatusCode, rec.count())
	}
}

// resetConn closes the connection under a request with a TCP reset.
func resetConn(t *testing.T, w http.ResponseWriter) {
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

func TestRetriesResetConnection(t *testing.T) {
	t.Parallel()
	rec, host := serve(t, func(n int, w http.ResponseWriter, r *http.Request) {
		if n == 1 {
			resetConn(t, w)
			return
		}
		_, _ = io.WriteString(w, "ok")
	})
	c := New(WithInsecure(host), withRetryDelays(time.Millisecond, time.Millisecond))
	resp, err := do(t, c, http.MethodGet, "http://"+host+"/v2/x/blobs/sha256:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := io.ReadAll(resp.Body); string(b) != "ok" || rec.count() != 2 {
		t.Errorf("got %q after %d attempts, want ok after 2", b, rec.count())
	}

	// Reset every time: three attempts, and the error says so.
	rec, host = serve(t, func(n int, w http.ResponseWriter, r *http.Request) { resetConn(t, w) })
	c = New(WithInsecure(host), withRetryDelays(time.Millisecond, time.Millisecond))
	_, err = do(t, c, http.MethodGet, "http://"+host+"/v2/x/blobs/sha256:0", nil)
	if err == nil || rec.count() != 3 || !strings.Contains(err.Error(), "(3 attempts)") {
		t.Errorf("err %v after %d attempts, want a reset after 3", err, rec.count())
	}
}

func TestDeadline(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })

	t.Run("no answer", func(t *testing.T) {
		rec, host := serve(t, func(n int, w http.ResponseWriter, r *http.Request) {
			select {
			case <-release:
			case <-r.Context().Done():
			}
		})
		c := New(WithInsecure(host), WithTimeout(300*time.Millisecond), withRetryDelays(10*time.Millisecond, 20*time.Millisecond))
		start := time.Now()
		_, err := do(t, c, http.MethodGet, "http://"+host+"/v2/x/manifests/main", nil)
		took := time.Since(start)
		var te *TimeoutError
		if !errors.As(err, &te) || te.Host != host || te.Attempts != 3 || te.Body {
			t.Fatalf("err = %#v (%v), want a TimeoutError for %s after 3 attempts", err, err, host)
		}
		if rec.count() != 3 || took < 900*time.Millisecond || took > 2*time.Second {
			t.Errorf("%d attempts in %v, want 3 in about 3 × 300ms", rec.count(), took)
		}
		for _, want := range []string{"the registry " + host + " did not respond", "GET /v2/x/manifests/main", "300ms", TimeoutEnv, "3 attempts"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q lacks %q", err, want)
			}
		}
	})

	t.Run("a body that stalls", func(t *testing.T) {
		_, host := serve(t, func(n int, w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", "100")
			_, _ = io.WriteString(w, "abc")
			w.(http.Flusher).Flush()
			select {
			case <-release:
			case <-r.Context().Done():
			}
		})
		c := New(WithInsecure(host), WithTimeout(300*time.Millisecond))
		resp, err := do(t, c, http.MethodGet, "http://"+host+"/v2/x/blobs/sha256:0", nil)
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		b, err := io.ReadAll(resp.Body)
		var te *TimeoutError
		if string(b) != "abc" || !errors.As(err, &te) || !te.Body || time.Since(start) > 2*time.Second {
			t.Errorf("read %q, err %v after %v; want abc, then a stalled-body timeout", b, err, time.Since(start))
		}
	})

	t.Run("a slow body that keeps moving", func(t *testing.T) {
		_, host := serve(t, func(n int, w http.ResponseWriter, r *http.Request) {
			for range 10 {
				_, _ = io.WriteString(w, "x")
				w.(http.Flusher).Flush()
				time.Sleep(100 * time.Millisecond)
			}
		})
		c := New(WithInsecure(host), WithTimeout(300*time.Millisecond))
		resp, err := do(t, c, http.MethodGet, "http://"+host+"/v2/x/blobs/sha256:0", nil)
		if err != nil {
			t.Fatal(err)
		}
		// The caller's own pauses between reads do not count either.
		time.Sleep(500 * time.Millisecond)
		if b, err := io.ReadAll(resp.Body); err != nil || len(b) != 10 {
			t.Errorf("read %q, %v; want 10 bytes over a second with a 300ms deadline", b, err)
		}
	})

	t.Run("a slow upload that keeps moving", func(t *testing.T) {
		_, host := serve(t, func(n int, w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusCreated)
		})
		c := New(WithInsecure(host), WithTimeout(300*time.Millisecond))
		pr, pw := io.Pipe()
		go func() {
			for range 10 {
				_, _ = pw.Write([]byte("x"))
				time.Sleep(100 * time.Millisecond)
			}
			pw.Close()
		}()
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodPut, "http://"+host+"/v2/x/manifests/latest", pr)
		resp, err := c.rt.RoundTrip(req)
		if err != nil {
			t.Fatalf("an upload taking 1s with a 300ms deadline, moving every 100ms: %v", err)
		}
		resp.Body.Close()
	})

	t.Run("the caller's own cancellation is not retried", func(t *testing.T) {
		rec, host := serve(t, func(n int, w http.ResponseWriter, r *http.Request) {
			select {
			case <-release:
			case <-r.Context().Done():
			}
		})
		c := New(WithInsecure(host), WithTimeout(10*time.Second))
		ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+host+"/v2/", nil)
		_, err := c.rt.RoundTrip(req)
		if !errors.Is(err, context.DeadlineExceeded) || rec.count() != 1 {
			t.Errorf("err %v after %d attempts, want the caller's deadline after 1", err, rec.count())
		}
	})
}

func TestTimeoutFromEnv(t *testing.T) {
	for _, tc := range []struct {
		val  string
		want time.Duration
		err  bool
	}{
		{"", DefaultTimeout, false},
		{"5s", 5 * time.Second, false},
		{" 2m ", 2 * time.Minute, false},
		{"30", 0, true},
		{"abc", 0, true},
		{"0s", 0, true},
		{"-1s", 0, true},
	} {
		t.Setenv(TimeoutEnv, tc.val)
		got, err := TimeoutFromEnv()
		if got != tc.want || (err != nil) != tc.err {
			t.Errorf("%s=%q: %v, %v", TimeoutEnv, tc.val, got, err)
		}
		if err != nil && (!strings.Contains(err.Error(), TimeoutEnv) || !strings.Contains(err.Error(), "30s")) {
			t.Errorf("%s=%q: error %q does not say what to write", TimeoutEnv, tc.val, err)
		}
	}
}

func TestInsecure(t *testing.T) {
	t.Parallel()
	hosts := []string{"127.0.0.1:5000", "Registry.LAN", "docker.io"}
	for ref, want := range map[string]bool{
		"127.0.0.1:5000/x/kernel:v1":                                true,
		"127.0.0.1:5000/x/kernel@sha256:" + strings.Repeat("a", 64): true,
		"127.0.0.1:5000/x/state":                                    true,
		"127.0.0.1:5001/x/state":                                    false,
		"127.0.0.1/x":                                               false,
		"localhost:5000/x":                                          false, // not listed: loopback is not special
		"10.0.0.1:5000/x":                                           false, // nor private addresses
		"registry.lan/x/y":                                          true,  // hosts compare without case
		"busybox:latest":                                            true,  // Docker Hub, listed as docker.io
		"ghcr.io/siderolabs/installer:v1":                           false,
		"":                                                          false,
	} {
		if got := Insecure(hosts, ref); got != want {
			t.Errorf("Insecure(%q) = %v, want %v", ref, got, want)
		}
	}
	c := New(WithInsecure(" 127.0.0.1:5000 ", ""))
	if !c.Insecure("127.0.0.1:5000/x") || len(c.InsecureHosts()) != 1 {
		t.Errorf("client: Insecure = %v, hosts %q", c.Insecure("127.0.0.1:5000/x"), c.InsecureHosts())
	}
	if r, _ := c.ParseReference("127.0.0.1:5000/x:y"); r.Context().Scheme() != "http" {
		t.Errorf("a listed registry's reference is not plain HTTP: %s", r.Context().Scheme())
	}
}

func TestLockSubject(t *testing.T) {
	t.Parallel()
	c := New()
	d1, _ := c.NewDigest("127.0.0.1:5000/x@sha256:" + strings.Repeat("a", 64))
	d2, _ := c.NewDigest("127.0.0.1:5000/x@sha256:" + strings.Repeat("b", 64))
	unlock := c.LockSubject(d1)
	got := make(chan string, 2)
	go func() { u := c.LockSubject(d2); got <- "other subject"; u() }()
	go func() { u := c.LockSubject(d1); got <- "same subject"; u() }()
	if first := <-got; first != "other subject" {
		t.Errorf("%s got the lock while it was held", first)
	}
	select {
	case s := <-got:
		t.Errorf("%s got the lock while it was held", s)
	case <-time.After(100 * time.Millisecond):
	}
	unlock()
	if s := <-got; s != "same subject" {
		t.Errorf("got %s", s)
	}
}

// TestGuard: a guarded context's manifest writes ask the guard before each attempt, the
// retries included, and are not sent when it refuses; other requests are not guarded.
func TestGuard(t *testing.T) {
	t.Parallel()
	rec, host := serve(t, func(n int, w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	})
	c := New(WithInsecure(host), withRetryDelays(time.Millisecond, time.Millisecond))
	var calls int
	refuse := false
	ctx := WithGuard(t.Context(), func(context.Context) error {
		calls++
		if refuse {
			return errors.New("not any more")
		}
		return nil
	})
	send := func(method, path string) error {
		req, _ := http.NewRequestWithContext(ctx, method, "http://"+host+path, bytes.NewReader([]byte("{}")))
		req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader([]byte("{}"))), nil }
		resp, err := c.rt.RoundTrip(req)
		if err == nil {
			resp.Body.Close()
		}
		return err
	}
	if err := send(http.MethodPut, "/v2/x/manifests/stable"); err != nil || calls != 3 || rec.count() != 3 {
		t.Errorf("a manifest PUT retried: err %v, guard called %d times, %d requests sent", err, calls, rec.count())
	}
	calls = 0
	for _, r := range []struct{ method, path string }{{http.MethodGet, "/v2/x/manifests/stable"}, {http.MethodPut, "/v2/x/blobs/uploads/1"}} {
		if err := send(r.method, r.path); err != nil || calls != 0 {
			t.Errorf("%s %s: err %v, guard called %d times", r.method, r.path, err, calls)
		}
	}
	refuse = true
	before := rec.count()
	err := send(http.MethodDelete, "/v2/x/manifests/sha256:"+strings.Repeat("a", 64))
	var ge *GuardError
	if !errors.As(err, &ge) || Explain(err).Error() != "not any more" || rec.count() != before {
		t.Errorf("a refused DELETE: %v (%d requests sent)", err, rec.count()-before)
	}
}
