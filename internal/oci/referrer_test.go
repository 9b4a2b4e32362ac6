package oci_test

import (
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/urmanac/sovos/internal/oci"
	"github.com/urmanac/sovos/internal/testenv"
)

// TestPutReferrerConcurrent pushes several referrers of one subject at once to a
// registry without the referrers API, whose fallback index (the subject's
// sha256-<hex> tag) each push reads, extends and writes back (SPEC §7: referrers are
// pushed one at a time per subject). Every one of them is listed afterwards: none was
// lost to another's read-modify-write. Index writes are slowed so that unserialised
// pushes would overlap.
func TestPutReferrerConcurrent(t *testing.T) {
	t.Parallel()
	host := testenv.MemRegistry(t, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodPut && kind(r) == "PUT manifest" {
				time.Sleep(50 * time.Millisecond)
			}
			h.ServeHTTP(w, r)
		})
	})
	c := oci.New(oci.WithInsecure(host))
	ctx := t.Context()
	img := randomImage(t, 1, 256)
	ref, _ := c.ParseReference(host + "/x/y:z")
	if err := c.Write(ctx, ref, img); err != nil {
		t.Fatal(err)
	}
	digest, _ := img.Digest()
	subject, _ := c.NewDigest(host + "/x/y@" + digest.String())

	const n = 8
	pushed := make(chan string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d, err := c.PutReferrer(ctx, subject, "application/vnd.sovos.test.v1", oci.Blob{Content: fmt.Appendf(nil, "referrer %d", i), MediaType: "application/vnd.sovos.test.v1"}, nil)
			if err != nil {
				t.Errorf("referrer %d: %v", i, err)
			}
			pushed <- d
		}()
	}
	wg.Wait()
	close(pushed)

	idx, err := c.Referrers(ctx, subject)
	if err != nil {
		t.Fatal(err)
	}
	m, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	listed := map[string]bool{}
	for _, d := range m.Manifests {
		listed[d.Digest.String()] = true
	}
	for d := range pushed {
		if !listed[d] {
			t.Errorf("referrer %s was pushed but is not listed (%d of %d listed)", d, len(m.Manifests), n)
		}
	}
}
