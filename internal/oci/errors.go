package oci

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// PlainHTTPError is a registry that answered HTTPS in plain HTTP and is not listed in
// insecure_registries.
type PlainHTTPError struct {
	Host string
}

func (e *PlainHTTPError) Error() string {
	return fmt.Sprintf("the registry %s speaks plain HTTP, and sovos speaks plain HTTP only to the registries listed in insecure_registries; if %s is meant to be reached without TLS (a local or test registry), add it to the sovos block: insecure_registries = [%q]",
		e.Host, e.Host, e.Host)
}

// TimeoutError is a request that went without progress for the client's timeout.
type TimeoutError struct {
	Host, Method, Path string
	After              time.Duration
	// Body is set when the response had started and its body stalled.
	Body bool
	// Attempts is how many times the request was made.
	Attempts int
}

func (e *TimeoutError) Error() string {
	what := "no answer to"
	if e.Body {
		what = "the answer stalled for"
	}
	tries := ""
	if e.Attempts > 1 {
		tries = fmt.Sprintf(", %d attempts", e.Attempts)
	}
	return fmt.Sprintf("the registry %s did not respond: %s %s %s within %s (%s%s); check that it is up and reachable, or raise %s",
		e.Host, what, e.Method, e.Path, e.After, TimeoutEnv, tries, TimeoutEnv)
}

// Timeout marks the error as a timeout for net.Error users (url.Error).
func (e *TimeoutError) Timeout() bool { return true }

// UnreachableError is a registry that could not be connected to (no such host,
// connection refused).
type UnreachableError struct {
	Host string
	Err  error
}

func (e *UnreachableError) Error() string {
	return fmt.Sprintf("cannot reach the registry %s: %v; is it running, and is the address right?", e.Host, e.Err)
}

func (e *UnreachableError) Unwrap() error { return e.Err }

// UploadInterruptedError is a blob upload whose body was cut off; go-containerregistry
// restarts the upload of that blob when it sees it.
type UploadInterruptedError struct {
	Host string
	Err  error
}

func (e *UploadInterruptedError) Error() string {
	return fmt.Sprintf("uploading a blob to %s was cut off: %v", e.Host, e.Err)
}

func (e *UploadInterruptedError) Unwrap() error { return e.Err }

// PingError is a registry whose API check (GET /v2/, the first request of every
// operation) failed: whatever answers at that address is not a working registry.
type PingError struct {
	Host string
	Err  *transport.Error
}

func (e *PingError) Error() string {
	if e.Err.StatusCode == http.StatusNotFound {
		return fmt.Sprintf("%s answered 404 Not Found to GET /v2/, the registry API's base: there is no OCI registry at that address (check the host and port)", e.Host)
	}
	return fmt.Sprintf("the registry %s failed its API check (GET /v2/): %s", e.Host, strings.TrimPrefix(e.Err.Error(), e.Err.Request.Method+" "))
}

func (e *PingError) Unwrap() error { return e.Err }

// retriedError says how many attempts a failure took.
type retriedError struct {
	attempts int
	err      error
}

func (e *retriedError) Error() string {
	return fmt.Sprintf("%v (%d attempts)", e.err, e.attempts)
}

func (e *retriedError) Unwrap() error { return e.err }

func withAttempts(err error, n int) error {
	if err == nil || n <= 1 {
		return err
	}
	var te *TimeoutError
	if errors.As(err, &te) {
		te.Attempts = n
		return err
	}
	return &retriedError{attempts: n, err: err}
}

// classify turns a failed attempt's error into the client's errors where it can.
func (t *retryTransport) classify(req *http.Request, err error) error {
	host := req.URL.Host
	var rhe tls.RecordHeaderError
	if errors.As(err, &rhe) && string(rhe.RecordHeader[:]) == "HTTP/" && !listed(t.insecure, host) {
		return &PlainHTTPError{Host: host}
	}
	var dnsErr *net.DNSError
	var opErr *net.OpError
	if errors.As(err, &dnsErr) || (errors.As(err, &opErr) && opErr.Op == "dial") {
		return &UnreachableError{Host: host, Err: err}
	}
	return err
}

// isConnectionDrop reports a connection that the registry (or something between)
// closed or reset: worth another attempt.
func isConnectionDrop(err error) bool {
	if errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) || errors.Is(err, io.EOF) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) {
		return true
	}
	msg := err.Error()
	for _, s := range []string{"connection reset by peer", "server closed idle connection", "transport connection broken", "broken pipe"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// Explain returns the client's own error inside err when there is one: go-containerregistry
// wraps it (and its /v2/ check, trying two schemes, may report it twice), while the
// client's errors already name the registry and say what to do. Other errors come back
// unchanged.
func Explain(err error) error {
	if err == nil {
		return nil
	}
	var ge *GuardError
	if errors.As(err, &ge) {
		return ge.Err
	}
	var ph *PlainHTTPError
	if errors.As(err, &ph) {
		return ph
	}
	var te *TimeoutError
	if errors.As(err, &te) {
		return te
	}
	var ue *UnreachableError
	if errors.As(err, &ue) {
		return ue
	}
	var ui *UploadInterruptedError
	if errors.As(err, &ui) {
		return ui
	}
	var terr *transport.Error
	if errors.As(err, &terr) && terr.Request != nil && isPing(terr.Request.URL.Path) {
		return &PingError{Host: terr.Request.URL.Host, Err: terr}
	}
	return err
}

// ownError reports whether err is one of the client's own errors: the registry could
// not be spoken to at all.
func ownError(err error) bool {
	var (
		ph *PlainHTTPError
		te *TimeoutError
		ue *UnreachableError
		pe *PingError
	)
	return errors.As(err, &ph) || errors.As(err, &te) || errors.As(err, &ue) || errors.As(err, &pe)
}

// IsNotFound reports whether err is a registry's 404 (or MANIFEST_UNKNOWN,
// NAME_UNKNOWN, BLOB_UNKNOWN) for a manifest, a tag list or a blob: the thing asked
// for does not exist. A failure of the /v2/ check never is, so an address without a
// registry is an error, not an empty repository.
func IsNotFound(err error) bool {
	var terr *transport.Error
	if !errors.As(err, &terr) {
		return false
	}
	if terr.Request == nil || isPing(terr.Request.URL.Path) {
		return false
	}
	if terr.StatusCode == http.StatusNotFound {
		return true
	}
	for _, d := range terr.Errors {
		switch d.Code {
		case transport.ManifestUnknownErrorCode, transport.NameUnknownErrorCode, transport.BlobUnknownErrorCode:
			return true
		}
	}
	return false
}

// HasCode reports whether err is a registry error carrying code.
func HasCode(err error, code transport.ErrorCode) bool {
	var terr *transport.Error
	if !errors.As(err, &terr) {
		return false
	}
	for _, d := range terr.Errors {
		if d.Code == code {
			return true
		}
	}
	return false
}

func isPing(path string) bool { return path == "/v2/" || path == "/v2" }
