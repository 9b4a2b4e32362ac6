package testenv

import (
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/registry"
)

// MemRegistry serves go-containerregistry's in-memory registry (pkg/registry) on
// 127.0.0.1 over plain HTTP until the test ends, and returns its host:port. It is for
// unit tests; end-to-end tests use the real registry of StartRegistry.
//
// Each wrap wraps the registry's handler, the last one outermost, so a test can count,
// delay or corrupt what the registry serves; a nil wrap is ignored.
func MemRegistry(t testing.TB, wrap ...func(http.Handler) http.Handler) (host string) {
	t.Helper()
	var h http.Handler = registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	for _, w := range wrap {
		if w != nil {
			h = w(h)
		}
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// Corrupt is a MemRegistry wrap that changes one byte in the middle of the body of
// every GET the registry answers for which when returns true (a blob or manifest whose
// bytes no longer match its digest); other requests pass through.
func Corrupt(when func(*http.Request) bool) func(http.Handler) http.Handler {
	return func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method != http.MethodGet || !when(r) {
				h.ServeHTTP(w, r)
				return
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, r)
			body := rec.Body.Bytes()
			if len(body) > 0 {
				body[len(body)/2] ^= 0xff
			}
			for k, v := range rec.Header() {
				w.Header()[k] = v
			}
			w.WriteHeader(rec.Code)
			w.Write(body)
		})
	}
}
