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
