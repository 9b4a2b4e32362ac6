package testenv

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/verify"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/sigstore/sigstore/pkg/signature/options"
)

// Verified is a statement whose Sigstore bundle verified.
type Verified struct {
	PredicateType string
	// Predicate is the statement's predicate, as JSON.
	Predicate json.RawMessage
}

// SigstoreVerify is an independent verifier of what sovos attaches (no sovos code):
// it lists the referrers of ref (plain HTTP) with go-containerregistry, as cosign does,
// and verifies every Sigstore bundle among them with sigstore-go against the PEM public
// key pubPEM (no transparency log, as `cosign verify --insecure-ignore-tlog`), keeping
// the statements of predicateType about ref's digest. It returns them, and the errors
// of the bundles that did not verify.
func SigstoreVerify(t testing.TB, ref string, pubPEM []byte, predicateType string) ([]Verified, []error) {
	t.Helper()
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	desc, err := remote.Head(r)
	if err != nil {
		t.Fatalf("HEAD %s: %v", ref, err)
	}
	dgst := r.Context().Digest(desc.Digest.String())
	idx, err := remote.Referrers(dgst)
	if err != nil {
		t.Fatalf("referrers of %s: %v", dgst, err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	pub, err := cryptoutils.UnmarshalPEMToPublicKey(pubPEM)
	if err != nil {
		t.Fatal(err)
	}
	sv, err := signature.LoadDefaultVerifier(pub, options.WithED25519ph())
	if err != nil {
		t.Fatal(err)
	}
	key := root.NewExpiringKey(sv, time.Time{}, time.Time{})
	material := root.NewTrustedPublicKeyMaterial(func(string) (root.TimeConstrainedVerifier, error) { return key, nil })
	verifier, err := verify.NewVerifier(material, verify.WithNoObserverTimestamps())
	if err != nil {
		t.Fatal(err)
	}
	raw, err := hex.DecodeString(desc.Digest.Hex)
	if err != nil {
		t.Fatal(err)
	}
	var out []Verified
	var errs []error
	for _, m := range im.Manifests {
		img, err := remote.Image(r.Context().Digest(m.Digest.String()))
		if err != nil {
			t.Fatal(err)
		}
		layers, err := img.Layers()
		if err != nil || len(layers) != 1 {
			continue
		}
		if mt, _ := layers[0].MediaType(); !strings.HasPrefix(string(mt), "application/vnd.dev.sigstore.bundle") {
			continue
		}
		rc, err := layers[0].Uncompressed()
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		var b bundle.Bundle
		if err := b.UnmarshalJSON(data); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", m.Digest, err))
			continue
		}
		res, err := verifier.Verify(&b, verify.NewPolicy(verify.WithArtifactDigest("sha256", raw), verify.WithKey()))
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", m.Digest, err))
			continue
		}
		if res.Statement == nil || res.Statement.GetPredicateType() != predicateType {
			continue
		}
		pred, err := json.Marshal(res.Statement.GetPredicate().AsMap())
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, Verified{PredicateType: predicateType, Predicate: pred})
	}
	return out, errs
}
