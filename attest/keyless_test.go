package attest_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/sign"
	"github.com/sigstore/sigstore-go/pkg/testing/ca"

	"github.com/urmanac/sovos/attest"
)

const workflow = "https://github.com/urmanac/factory/.github/workflows/sovos-apply.yml@refs/heads/main"

// fakeJWT is an unsigned token with the claims Fulcio reads the subject from (Fulcio
// itself would check its signature; sovos only passes it on).
func fakeJWT(sub string) string {
	enc := base64.RawURLEncoding.EncodeToString
	claims, _ := json.Marshal(map[string]any{"iss": attest.GitHubIssuer, "sub": sub, "aud": "sigstore"})
	return enc([]byte(`{"alg":"RS256"}`)) + "." + enc(claims) + ".c2ln"
}

// publicOnly is a crypto.Signer that only knows its public key: what a certificate
// authority has of the key it certifies.
type publicOnly struct{ pub crypto.PublicKey }

func (p publicOnly) Public() crypto.PublicKey { return p.pub }
func (p publicOnly) Sign(io.Reader, []byte, crypto.SignerOpts) ([]byte, error) {
	panic("a certificate authority never holds the private key")
}

// testCA is a Fulcio stand-in built with sigstore-go's test certificate helpers.
type testCA struct {
	root, intermediate *x509.Certificate
	key                *ecdsa.PrivateKey
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	rootCert, rootKey, err := ca.GenerateRootCa()
	if err != nil {
		t.Fatal(err)
	}
	inter, interKey, err := ca.GenerateFulcioIntermediate(rootCert, rootKey)
	if err != nil {
		t.Fatal(err)
	}
	return &testCA{root: rootCert, intermediate: inter, key: interKey}
}

// material is the trusted root holding only this CA.
func (c *testCA) material() (root.TrustedMaterial, error) {
	return &caMaterial{ca: &root.FulcioCertificateAuthority{Root: c.root, Intermediates: []*x509.Certificate{c.intermediate}, URI: "https://fulcio.test"}}, nil
}

type caMaterial struct {
	root.BaseTrustedMaterial
	ca root.CertificateAuthority
}

func (m *caMaterial) FulcioCertificateAuthorities() []root.CertificateAuthority {
	return []root.CertificateAuthority{m.ca}
}

// Keyless signing, wired end to end against stand-ins (no network here): the OIDC token
// comes from GitHub Actions' endpoint (audience sigstore, the request token as bearer),
// Fulcio is asked for a certificate with that token and a proof of possession of the
// ephemeral key over the token's subject, the signature goes to the transparency log
// with that certificate, and the bundle verifies for that identity and issuer, and not
// for another workflow's.
func TestKeylessSigning(t *testing.T) {
	tok := fakeJWT(workflow)
	var mu sync.Mutex
	var oidcCalls, fulcioCalls int

	oidc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		oidcCalls++
		mu.Unlock()
		if r.Header.Get("Authorization") != "Bearer request-token" || r.URL.Query().Get("audience") != "sigstore" || r.URL.Query().Get("api-version") != "2.0" {
			http.Error(w, "bad request", http.StatusUnauthorized)
			return
		}
		json.NewEncoder(w).Encode(map[string]string{"value": tok})
	}))
	defer oidc.Close()

	c := newTestCA(t)
	fulcio := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		fulcioCalls++
		mu.Unlock()
		if r.URL.Path != "/api/v2/signingCert" || r.Header.Get("Authorization") != "Bearer "+tok {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		var req struct {
			PublicKeyRequest struct {
				PublicKey struct {
					Algorithm, Content string
				} `json:"publicKey"`
				ProofOfPossession string `json:"proofOfPossession"`
			} `json:"publicKeyRequest"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		block, _ := pem.Decode([]byte(req.PublicKeyRequest.PublicKey.Content))
		pub, err := x509.ParsePKIXPublicKey(block.Bytes)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		pop, _ := base64.StdEncoding.DecodeString(req.PublicKeyRequest.ProofOfPossession)
		sum := sha256.Sum256([]byte(workflow))
		if !ecdsa.VerifyASN1(pub.(*ecdsa.PublicKey), sum[:], pop) {
			http.Error(w, "no proof of possession of the key over the token's subject", http.StatusBadRequest)
			return
		}
		leaf, err := ca.GenerateLeafCert(workflow, attest.GitHubIssuer, time.Now().Add(-time.Minute), publicOnly{pub}, c.intermediate, c.key)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		var chain []string
		for _, cert := range []*x509.Certificate{leaf, c.intermediate, c.root} {
			chain = append(chain, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})))
		}
		json.NewEncoder(w).Encode(map[string]any{"signedCertificateEmbeddedSct": map[string]any{"chain": map[string]any{"certificates": chain}}})
	}))
	defer fulcio.Close()

	env := map[string]string{
		"ACTIONS_ID_TOKEN_REQUEST_URL":   oidc.URL + "/token?api-version=2.0",
		"ACTIONS_ID_TOKEN_REQUEST_TOKEN": "request-token",
	}
	tlog := &recordingLog{}
	s := attest.KeylessSigner(attest.KeylessOptions{
		FulcioURL: fulcio.URL,
		Token: func(ctx context.Context) (string, error) {
			return attest.IdentityToken(ctx, func(k string) string { return env[k] }, nil)
		},
		TransparencyLogs: []sign.Transparency{tlog},
	})
	digest := "sha256:" + strings.Repeat("ab", 32)
	stmt, err := attest.Statement("", digest, attest.CosignSignType, map[string]any{})
	if err != nil {
		t.Fatal(err)
	}
	bundle, err := s.Sign(context.Background(), stmt)
	if err != nil {
		t.Fatal(err)
	}
	if oidcCalls != 1 || fulcioCalls != 1 {
		t.Errorf("OIDC endpoint asked %d times, Fulcio %d; want once each", oidcCalls, fulcioCalls)
	}
	if len(tlog.certs) != 1 || !strings.Contains(tlog.certs[0], "BEGIN CERTIFICATE") {
		t.Errorf("the transparency log got %q, want the Fulcio certificate", tlog.certs)
	}

	ok, err := attest.KeylessVerifierAt(c.material, `^https://github\.com/urmanac/factory/`, attest.GitHubIssuer)
	if err != nil {
		t.Fatal(err)
	}
	st, err := ok.Verify(bundle, digest)
	if err != nil {
		t.Fatalf("verifying the keyless bundle: %v", err)
	}
	if st.PredicateType != attest.CosignSignType || !st.About(digest) {
		t.Errorf("statement %+v", st)
	}
	other, _ := attest.KeylessVerifierAt(c.material, `^https://github\.com/someone-else/`, attest.GitHubIssuer)
	if _, err := other.Verify(bundle, digest); err == nil {
		t.Error("a bundle for another workflow's identity verified")
	}
	if _, err := ok.Verify(bundle, "sha256:"+strings.Repeat("cd", 32)); err == nil {
		t.Error("the bundle verified for another digest")
	}
}

// recordingLog is a transparency log that records what it is given and logs nothing.
type recordingLog struct{ certs []string }

func (l *recordingLog) GetTransparencyLogEntry(_ context.Context, keyOrCertPEM []byte, _ *protobundle.Bundle) error {
	l.certs = append(l.certs, string(keyOrCertPEM))
	return nil
}

// The identity token: $SIGSTORE_ID_TOKEN first; else GitHub Actions' endpoint; neither
// is an error that says what to give the job.
func TestIdentityToken(t *testing.T) {
	ctx := context.Background()
	got, err := attest.IdentityToken(ctx, func(k string) string {
		return map[string]string{"SIGSTORE_ID_TOKEN": "explicit", "ACTIONS_ID_TOKEN_REQUEST_URL": "http://127.0.0.1:1/x", "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "t"}[k]
	}, nil)
	if err != nil || got != "explicit" {
		t.Errorf("SIGSTORE_ID_TOKEN: %q %v", got, err)
	}
	_, err = attest.IdentityToken(ctx, func(string) string { return "" }, nil)
	if err == nil || !strings.Contains(err.Error(), "id-token: write") {
		t.Errorf("no token anywhere: %v", err)
	}
	denied := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { http.Error(w, "no", http.StatusForbidden) }))
	defer denied.Close()
	_, err = attest.IdentityToken(ctx, func(k string) string {
		return map[string]string{"ACTIONS_ID_TOKEN_REQUEST_URL": denied.URL + "/t", "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "t"}[k]
	}, nil)
	if err == nil || !strings.Contains(err.Error(), "403") {
		t.Errorf("refused by GitHub: %v", err)
	}
}
