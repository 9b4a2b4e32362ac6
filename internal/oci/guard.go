package oci

import (
	"context"
	"net/http"
	"strings"
)

type guardKey struct{}

// WithGuard returns ctx carrying guard: every request made with the returned context
// that writes a manifest (a PUT or DELETE of /v2/NAME/manifests/REF: a tag moved, a
// manifest stored or removed) first calls guard, before each attempt, retries
// included, and fails without being sent when guard returns an error. The state lock
// uses it to fence its holder's writes (SPEC §7 "Fencing"): a write, or a retry of
// one, starts only while the lock is still the holder's. Blob uploads, which move no
// tag, are not guarded.
func WithGuard(ctx context.Context, guard func(context.Context) error) context.Context {
	return context.WithValue(ctx, guardKey{}, guard)
}

// GuardError is a request its context's guard refused (WithGuard).
type GuardError struct{ Err error }

func (e *GuardError) Error() string { return e.Err.Error() }
func (e *GuardError) Unwrap() error { return e.Err }

// checkGuard runs req's guard, if any, when req writes a manifest.
func checkGuard(req *http.Request) error {
	g, _ := req.Context().Value(guardKey{}).(func(context.Context) error)
	if g == nil || !isManifestWrite(req) {
		return nil
	}
	if err := g(req.Context()); err != nil {
		return &GuardError{Err: err}
	}
	return nil
}

func isManifestWrite(req *http.Request) bool {
	return (req.Method == http.MethodPut || req.Method == http.MethodDelete) &&
		strings.Contains(req.URL.Path, "/manifests/")
}
