package testenv

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestFaultProxy(t *testing.T) {
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "upstream "+r.Host)
	}))
	t.Cleanup(upstream.Close)
	p := StartFaultProxy(t, strings.TrimPrefix(upstream.URL, "http://"))
	get := func(path string) (int, string, time.Duration) {
		t.Helper()
		start := time.Now()
		resp, err := http.Get("http://" + p.Host + path)
		if err != nil {
			return 0, err.Error(), time.Since(start)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), time.Since(start)
	}

	// No fault: forwarded, with the client's Host kept.
	if code, body, _ := get("/v2/"); code != 200 || body != "upstream "+p.Host {
		t.Errorf("forwarded: %d %q", code, body)
	}

	p.FailEvery(PathContains("/manifests/"), 2, http.StatusServiceUnavailable)
	var codes []int
	for range 4 {
		code, _, _ := get("/v2/x/manifests/a")
		codes = append(codes, code)
	}
	if code, _, _ := get("/v2/x/blobs/b"); code != 200 {
		t.Errorf("a request the fault does not match: %d", code)
	}
	if want := []int{200, 503, 200, 503}; !equal(codes, want) {
		t.Errorf("FailEvery(2): %v, want %v", codes, want)
	}

	p.Clear()
	p.FailEveryPerURL(nil, 2, http.StatusTooManyRequests)
	codes = nil
	for _, path := range []string{"/a", "/b", "/a", "/b", "/a"} {
		code, _, _ := get(path)
		codes = append(codes, code)
	}
	if want := []int{429, 429, 200, 200, 429}; !equal(codes, want) {
		t.Errorf("FailEveryPerURL(2): %v, want %v", codes, want)
	}
	if p.Failed() != 5 {
		t.Errorf("Failed() = %d, want 5", p.Failed())
	}

	p.Clear()
	p.Delay(Methods(http.MethodGet), 300*time.Millisecond)
	if code, _, took := get("/slow"); code != 200 || took < 300*time.Millisecond {
		t.Errorf("Delay: %d after %v", code, took)
	}

	p.Clear()
	p.Silence(nil)
	var wg sync.WaitGroup
	wg.Add(1)
	var code int
	var silentFor time.Duration
	go func() {
		defer wg.Done()
		// A POST, which net/http does not send again on a new connection by itself.
		start := time.Now()
		resp, err := http.Post("http://"+p.Host+"/hung", "text/plain", strings.NewReader("x"))
		silentFor = time.Since(start)
		if err == nil {
			code = resp.StatusCode
			resp.Body.Close()
		}
	}()
	time.Sleep(500 * time.Millisecond)
	p.Clear() // ends the silenced request without an answer
	wg.Wait()
	if code != 0 || silentFor < 500*time.Millisecond {
		t.Errorf("Silence: status %d after %v, want no answer for as long as it lasted", code, silentFor)
	}

	if n := p.Count(PathContains("/manifests/")); n != 4 {
		t.Errorf("Count(/manifests/) = %d, want 4", n)
	}
	if all := p.Requests(); len(all) != p.Count(nil) || all[0] != "GET /v2/" {
		t.Errorf("Requests() = %v", all)
	}
}

func equal(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
