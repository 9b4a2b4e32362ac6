package testenv

import (
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// FaultProxy is a plain-HTTP reverse proxy in front of a registry (or any HTTP server)
// that injects faults into what it forwards: delays, error answers, silence. Tests put
// it between sovos and a real registry (StartRegistry) and point sovos at Host instead,
// to see what sovos does when the registry is slow, flaky or hung. Faults can be added
// and cleared while the test runs; every request is recorded for Count.
//
// The proxy keeps the client's Host header, so a registry's upload Location URLs lead
// back through the proxy. List Host in insecure_registries (and in a BuildKit daemon's
// WithInsecureRegistries) as you would the registry's own address.
type FaultProxy struct {
	// Host is the proxy's host:port.
	Host string

	mu     sync.Mutex
	faults []*fault
	seen   []*http.Request
	failed int
	quit   chan struct{}
}

// Match selects the requests a fault applies to (or Count counts); nil matches every
// request. Combine them with AllOf.
type Match func(*http.Request) bool

type faultKind int

const (
	faultDelay faultKind = iota
	faultStatus
	faultSilence
)

type fault struct {
	kind   faultKind
	match  Match
	delay  time.Duration
	every  int
	status int
	perURL bool
	n      int            // matching requests seen, for every
	byURL  map[string]int // the same, per method and URL, for perURL
	done   chan struct{}  // closed by Clear: silenced requests end
}

// StartFaultProxy starts a proxy in front of upstream (host:port, plain HTTP) until
// the test ends, with no fault yet.
func StartFaultProxy(t testing.TB, upstream string) *FaultProxy {
	t.Helper()
	p := &FaultProxy{quit: make(chan struct{})}
	rp := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: "http", Host: upstream})
	// A client that gives up on a delayed or silenced request is expected here.
	rp.ErrorLog = log.New(io.Discard, "", 0)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p.inject(w, r) {
			return
		}
		rp.ServeHTTP(w, r)
	}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	t.Cleanup(func() {
		close(p.quit)
		srv.CloseClientConnections()
		srv.Close()
	})
	p.Host = strings.TrimPrefix(srv.URL, "http://")
	return p
}

// Delay holds the requests m matches for d before forwarding them (a slow registry,
// or a write that lands late).
func (p *FaultProxy) Delay(m Match, d time.Duration) {
	p.add(&fault{kind: faultDelay, match: m, delay: d})
}

// FailEvery answers status (e.g. 503), with a registry error body and without
// forwarding, to every nth request that m matches: the nth, the 2nth, and so on;
// n = 1 fails them all. The request's body is read first, as a front proxy would.
func (p *FaultProxy) FailEvery(m Match, n, status int) {
	if n < 1 {
		n = 1
	}
	p.add(&fault{kind: faultStatus, match: m, every: n, status: status})
}

// FailEveryPerURL answers status, like FailEvery, to every nth request of each method
// and URL that m matches, starting with the first: with n = 2 a request fails, the
// same request again passes, and so on.
//
// With FailEvery, concurrent clients share one count, and clients that retry in step
// can be handed the failing turn at every attempt: four concurrent uploads retried
// after the same delays, under FailEvery(nil, 2, 503), leave one failing three times.
// No fixed number of retries survives that, so a test that wants every request to
// succeed on a retry counts per URL instead, and leaves out (see DistinctURLs) the
// requests whose URL is the same for concurrent calls, for which the same holds.
func (p *FaultProxy) FailEveryPerURL(m Match, n, status int) {
	if n < 1 {
		n = 1
	}
	p.add(&fault{kind: faultStatus, match: m, every: n, status: status, perURL: true, byURL: map[string]int{}})
}

// Silence makes the proxy accept the requests m matches and never answer them (a hung
// registry), until Clear or the end of the test closes their connections.
func (p *FaultProxy) Silence(m Match) {
	p.add(&fault{kind: faultSilence, match: m})
}

// Clear removes every fault; requests being silenced get their connection closed.
func (p *FaultProxy) Clear() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, f := range p.faults {
		close(f.done)
	}
	p.faults = nil
}

// Count returns how many requests the proxy received that m matches (faulted or not).
func (p *FaultProxy) Count(m Match) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, r := range p.seen {
		if m == nil || m(r) {
			n++
		}
	}
	return n
}

// Failed returns how many requests the proxy answered with an error status itself.
func (p *FaultProxy) Failed() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.failed
}

// Requests returns "METHOD PATH" for every request received, in order.
func (p *FaultProxy) Requests() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]string, len(p.seen))
	for i, r := range p.seen {
		out[i] = r.Method + " " + r.URL.Path
	}
	return out
}

func (p *FaultProxy) add(f *fault) {
	f.done = make(chan struct{})
	p.mu.Lock()
	defer p.mu.Unlock()
	p.faults = append(p.faults, f)
}

// inject applies the faults matching r, in the order they were added, and reports
// whether it answered r itself.
func (p *FaultProxy) inject(w http.ResponseWriter, r *http.Request) bool {
	p.mu.Lock()
	p.seen = append(p.seen, r.Clone(r.Context()))
	var delay time.Duration
	status := 0
	var silence chan struct{}
	for _, f := range p.faults {
		if f.match != nil && !f.match(r) {
			continue
		}
		switch f.kind {
		case faultDelay:
			delay += f.delay
		case faultStatus:
			f.n++
			fail := f.n%f.every == 0
			if f.perURL {
				key := r.Method + " " + r.URL.String()
				f.byURL[key]++
				fail = (f.byURL[key]-1)%f.every == 0
			}
			if fail && status == 0 {
				status = f.status
				p.failed++
			}
		case faultSilence:
			if silence == nil {
				silence = f.done
			}
		}
	}
	p.mu.Unlock()

	if silence != nil {
		select {
		case <-silence:
		case <-p.quit:
		case <-r.Context().Done():
		}
		// End without an answer: the connection is closed.
		panic(http.ErrAbortHandler)
	}
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-p.quit:
		case <-r.Context().Done():
			return true
		}
	}
	if status != 0 {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, `{"errors":[{"code":"UNAVAILABLE","message":"injected by the test's fault proxy"}]}`)
		return true
	}
	return false
}

// UserAgentContains matches requests whose User-Agent contains s, e.g. "sovos/" for
// sovos's own calls and not a BuildKit daemon's.
func UserAgentContains(s string) Match {
	return func(r *http.Request) bool { return strings.Contains(r.UserAgent(), s) }
}

// PathContains matches requests whose URL path contains s ("/manifests/", "/blobs/uploads/").
func PathContains(s string) Match {
	return func(r *http.Request) bool { return strings.Contains(r.URL.Path, s) }
}

// Methods matches requests with one of these methods.
func Methods(methods ...string) Match {
	return func(r *http.Request) bool { return slices.Contains(methods, r.Method) }
}

// DistinctURLs matches the registry requests whose method and URL identify them: all
// but the /v2/ ping and the POST that opens a blob upload, which concurrent calls send
// to the same URL. Use it with FailEveryPerURL.
func DistinctURLs(r *http.Request) bool {
	if r.URL.Path == "/v2/" || r.URL.Path == "/v2" {
		return false
	}
	return r.Method != http.MethodPost || !strings.HasSuffix(r.URL.Path, "/blobs/uploads/")
}

// AllOf matches requests that every m matches (nil entries match everything).
func AllOf(ms ...Match) Match {
	return func(r *http.Request) bool {
		for _, m := range ms {
			if m != nil && !m(r) {
				return false
			}
		}
		return true
	}
}
