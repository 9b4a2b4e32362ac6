package oci

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// retryDelays are the waits before the second and the third attempt of a request.
var retryDelays = []time.Duration{250 * time.Millisecond, 500 * time.Millisecond}

// retryTransport is the client's transport: plain HTTP only to listed hosts, a
// deadline without progress on every attempt, and retries of transient failures.
type retryTransport struct {
	inner    http.RoundTripper
	insecure []string
	timeout  time.Duration
	delays   []time.Duration
}

// RoundTrip implements http.RoundTripper.
func (t *retryTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme == "http" && !listed(t.insecure, req.URL.Host) {
		// go-containerregistry falls back to plain HTTP for loopback and private
		// addresses; sovos speaks it only to listed registries, so such a request
		// goes out as HTTPS, and a plain-HTTP registry is told apart by its answer.
		r := req.Clone(req.Context())
		r.URL.Scheme = "https"
		req = r
	}
	hasBody := req.Body != nil && req.Body != http.NoBody
	for attempt := 1; ; attempt++ {
		if err := checkGuard(req); err != nil {
			return nil, err
		}
		areq := req
		if attempt > 1 {
			areq = req.Clone(req.Context())
			if hasBody {
				body, err := req.GetBody()
				if err != nil {
					return nil, err
				}
				areq.Body = body
			}
		}
		resp, sent, err := t.once(areq)
		wait, again := t.retryable(req, resp, err)
		if err != nil && req.Context().Err() != nil {
			return nil, err
		}
		if err != nil && sent > 0 && isUpload(req) {
			// Part of the blob may sit in the upload session: resending the body there
			// could corrupt it, so the whole upload of this blob restarts instead.
			return nil, &UploadInterruptedError{Host: req.URL.Host, Err: err}
		}
		if !again || attempt > len(t.delays) || req.Context().Err() != nil || (hasBody && req.GetBody == nil) {
			return resp, withAttempts(err, attempt)
		}
		if wait < t.delays[attempt-1] {
			wait = t.delays[attempt-1]
		}
		if resp != nil {
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
			resp.Body.Close()
		}
		timer := time.NewTimer(wait)
		select {
		case <-req.Context().Done():
			timer.Stop()
			return nil, req.Context().Err()
		case <-timer.C:
		}
	}
}

// once makes one attempt under the watchdog, and returns how many bytes of the body
// it sent.
func (t *retryTransport) once(req *http.Request) (*http.Response, int64, error) {
	ctx, cancel := context.WithCancelCause(req.Context())
	w := &watchdog{d: t.timeout}
	w.fire = func() {
		cancel(&TimeoutError{Host: req.URL.Host, Method: req.Method, Path: req.URL.Path, After: t.timeout, Body: w.bodyPhase()})
	}
	areq := req.WithContext(ctx)
	var sent progress
	if req.Body != nil && req.Body != http.NoBody {
		areq.Body = &progressReader{rc: req.Body, w: w, n: &sent}
		if req.GetBody != nil {
			// net/http rewinds a body with GetBody when it retries by itself.
			areq.GetBody = func() (io.ReadCloser, error) {
				rc, err := req.GetBody()
				if err != nil {
					return nil, err
				}
				return &progressReader{rc: rc, w: w, n: &sent}, nil
			}
		}
	}
	w.start()
	resp, err := t.inner.RoundTrip(areq)
	w.stop()
	if err != nil {
		defer cancel(nil)
		var te *TimeoutError
		if errors.As(context.Cause(ctx), &te) && req.Context().Err() == nil {
			return nil, sent.get(), te
		}
		return nil, sent.get(), t.classify(req, err)
	}
	w.enterBody()
	resp.Body = &watchedBody{rc: resp.Body, w: w, ctx: ctx, cancel: cancel}
	return resp, sent.get(), nil
}

// retryable says whether an attempt's outcome is worth another attempt, and how long
// the registry asked to wait first (Retry-After).
func (t *retryTransport) retryable(req *http.Request, resp *http.Response, err error) (time.Duration, bool) {
	if err != nil {
		if req.Context().Err() != nil {
			return 0, false
		}
		var te *TimeoutError
		return 0, errors.As(err, &te) || isConnectionDrop(err)
	}
	switch s := resp.StatusCode; {
	case s == http.StatusTooManyRequests:
		wait := retryAfter(resp.Header.Get("Retry-After"), time.Now())
		// A registry asking for more than a request may take is reported, not waited on.
		return wait, wait <= t.timeout
	case s == http.StatusRequestTimeout:
		return 0, true
	case s >= 500 && s <= 599:
		return 0, s != http.StatusNotImplemented && s != http.StatusHTTPVersionNotSupported
	}
	return 0, false
}

// retryAfter reads a Retry-After header: seconds or an HTTP date; 0 when absent or
// unreadable.
func retryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(v); err == nil {
		if n < 0 {
			return 0
		}
		return time.Duration(n) * time.Second
	}
	if at, err := http.ParseTime(v); err == nil && at.After(now) {
		return at.Sub(now)
	}
	return 0
}

// isUpload reports whether req carries blob data into an upload session.
func isUpload(req *http.Request) bool {
	return (req.Method == http.MethodPatch || req.Method == http.MethodPut) &&
		strings.Contains(req.URL.Path, "/blobs/uploads/")
}

// uploadBackoff is the client's retry schedule in go-containerregistry's terms, for
// its restart of a whole blob upload.
func uploadBackoff(delays []time.Duration) remote.Backoff {
	b := remote.Backoff{Duration: 250 * time.Millisecond, Factor: 2, Steps: len(delays) + 1}
	if len(delays) > 0 {
		b.Duration = delays[0]
	}
	if len(delays) > 1 && delays[0] > 0 {
		b.Factor = float64(delays[1]) / float64(delays[0])
	}
	return b
}

// restartUpload is go-containerregistry's retry predicate: it retries a blob upload
// (afresh, with a new upload session) only when the session itself went wrong: the
// body was cut off, or the registry lost or rejected what it received. Everything
// else was already retried by the transport.
func restartUpload(err error) bool {
	var ui *UploadInterruptedError
	if errors.As(err, &ui) {
		return true
	}
	var te *transport.Error
	if !errors.As(err, &te) || te.Request == nil || !strings.Contains(te.Request.URL.Path, "/blobs/uploads/") {
		return false
	}
	if te.StatusCode == http.StatusNotFound || te.StatusCode == http.StatusRequestedRangeNotSatisfiable {
		return true
	}
	for _, d := range te.Errors {
		switch d.Code {
		case transport.BlobUploadUnknownErrorCode, transport.BlobUploadInvalidErrorCode, transport.DigestInvalidErrorCode:
			return true
		}
	}
	return false
}

// progress counts the bytes of a request body sent.
type progress struct {
	mu sync.Mutex
	n  int64
}

func (p *progress) add(n int) {
	p.mu.Lock()
	p.n += int64(n)
	p.mu.Unlock()
}

func (p *progress) get() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.n
}

// progressReader is a request body: every byte the transport takes from it restarts
// the deadline.
type progressReader struct {
	rc io.ReadCloser
	w  *watchdog
	n  *progress
}

func (r *progressReader) Read(p []byte) (int, error) {
	n, err := r.rc.Read(p)
	if n > 0 {
		r.n.add(n)
		r.w.kick()
	}
	return n, err
}

func (r *progressReader) Close() error { return r.rc.Close() }

// watchedBody is a response body: each read must deliver within the deadline (the
// time the caller spends between reads does not count).
type watchedBody struct {
	rc     io.ReadCloser
	w      *watchdog
	ctx    context.Context
	cancel context.CancelCauseFunc
}

func (b *watchedBody) Read(p []byte) (int, error) {
	b.w.start()
	n, err := b.rc.Read(p)
	b.w.stop()
	if err != nil && err != io.EOF {
		var te *TimeoutError
		if errors.As(context.Cause(b.ctx), &te) {
			err = te
		}
	}
	return n, err
}

func (b *watchedBody) Close() error {
	b.w.stop()
	err := b.rc.Close()
	b.cancel(nil)
	return err
}

// watchdog fires when it has been running for d without a kick.
type watchdog struct {
	d    time.Duration
	fire func()

	mu      sync.Mutex
	timer   *time.Timer
	running bool
	body    bool
}

func (w *watchdog) start() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.running = true
	if w.timer == nil {
		w.timer = time.AfterFunc(w.d, w.fire)
		return
	}
	w.timer.Reset(w.d)
}

func (w *watchdog) stop() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.running = false
	if w.timer != nil {
		w.timer.Stop()
	}
}

// kick restarts a running deadline: there was progress.
func (w *watchdog) kick() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.running && w.timer != nil {
		w.timer.Reset(w.d)
	}
}

func (w *watchdog) enterBody() {
	w.mu.Lock()
	w.body = true
	w.mu.Unlock()
}

func (w *watchdog) bodyPhase() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.body
}
