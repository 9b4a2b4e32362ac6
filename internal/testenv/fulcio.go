package testenv

import (
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

	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/testing/ca"
)

// IdentityToken is an unsigned OIDC token with the claims Fulcio reads: issuer iss and
// subject sub, audience sigstore (Fulcio would check its signature; a client only
// passes it on).
func IdentityToken(iss, sub string) string {
	enc := base64.RawURLEncoding.EncodeToString
	claims, _ := json.Marshal(map[string]any{"iss": iss, "sub": sub, "aud": "sigstore"})
	return enc([]byte(`{"alg":"RS256"}`)) + "." + enc(claims) + ".c2ln"
}

// Fulcio is a stand-in for Sigstore's Fulcio, keyless signing's certificate authority,
// made with sigstore-go's test certificate helpers (no network).
type Fulcio struct {
	// URL is its base URL (fulcio_url).
	URL string
	// Root and Intermediate are its certificate chain.
	Root, Intermediate *x509.Certificate

	key    *ecdsa.PrivateKey
	mu     sync.Mutex
	tokens []string
	issued []*x509.Certificate
}

// StartFulcio serves Fulcio's POST /api/v2/signingCert until the test ends. A request
// whose bearer token (see IdentityToken) has a subject and whose proof of possession
// is the requested key's signature over that subject gets a certificate for that
// subject from the token's issuer, with its chain; any other is refused.
func StartFulcio(t testing.TB) *Fulcio {
	t.Helper()
	rootCert, rootKey, err := ca.GenerateRootCa()
	if err != nil {
		t.Fatal(err)
	}
	inter, interKey, err := ca.GenerateFulcioIntermediate(rootCert, rootKey)
	if err != nil {
		t.Fatal(err)
	}
	f := &Fulcio{Root: rootCert, Intermediate: inter, key: interKey}
	srv := httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(srv.Close)
	f.URL = srv.URL
	return f
}

func (f *Fulcio) serve(w http.ResponseWriter, r *http.Request) {
	tok, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	f.mu.Lock()
	f.tokens = append(f.tokens, tok)
	f.mu.Unlock()
	if r.Method != http.MethodPost || r.URL.Path != "/api/v2/signingCert" {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	var claims struct{ Iss, Sub string }
	if parts := strings.Split(tok, "."); len(parts) == 3 {
		payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
		json.Unmarshal(payload, &claims)
	}
	if claims.Sub == "" || claims.Iss == "" {
		http.Error(w, "no identity token with an issuer and a subject", http.StatusUnauthorized)
		return
	}
	var req struct {
		PublicKeyRequest struct {
			PublicKey struct {
				Content string `json:"content"`
			} `json:"publicKey"`
			ProofOfPossession string `json:"proofOfPossession"`
		} `json:"publicKeyRequest"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	block, _ := pem.Decode([]byte(req.PublicKeyRequest.PublicKey.Content))
	if block == nil {
		http.Error(w, "no PEM public key", http.StatusBadRequest)
		return
	}
	pub, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	pop, _ := base64.StdEncoding.DecodeString(req.PublicKeyRequest.ProofOfPossession)
	sum := sha256.Sum256([]byte(claims.Sub))
	if ec, ok := pub.(*ecdsa.PublicKey); !ok || !ecdsa.VerifyASN1(ec, sum[:], pop) {
		http.Error(w, "no proof of possession of the key over the token's subject", http.StatusBadRequest)
		return
	}
	leaf, err := ca.GenerateLeafCert(claims.Sub, claims.Iss, time.Now().Add(-time.Minute), publicKeyOnly{pub}, f.Intermediate, f.key)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	f.mu.Lock()
	f.issued = append(f.issued, leaf)
	f.mu.Unlock()
	var chain []string
	for _, c := range []*x509.Certificate{leaf, f.Intermediate, f.Root} {
		chain = append(chain, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})))
	}
	json.NewEncoder(w).Encode(map[string]any{"signedCertificateEmbeddedSct": map[string]any{"chain": map[string]any{"certificates": chain}}})
}

// Tokens are the bearer tokens of the requests so far.
func (f *Fulcio) Tokens() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.tokens...)
}

// Issued are the certificates issued so far.
func (f *Fulcio) Issued() []*x509.Certificate {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]*x509.Certificate(nil), f.issued...)
}

// TrustedMaterial is a trusted root holding only this certificate authority (no
// transparency log, no CT log).
func (f *Fulcio) TrustedMaterial() (root.TrustedMaterial, error) {
	return &fulcioMaterial{ca: &root.FulcioCertificateAuthority{Root: f.Root, Intermediates: []*x509.Certificate{f.Intermediate}, URI: f.URL}}, nil
}

type fulcioMaterial struct {
	root.BaseTrustedMaterial
	ca root.CertificateAuthority
}

func (m *fulcioMaterial) FulcioCertificateAuthorities() []root.CertificateAuthority {
	return []root.CertificateAuthority{m.ca}
}

// publicKeyOnly is what a certificate authority holds of the key it certifies.
type publicKeyOnly struct{ pub crypto.PublicKey }

func (p publicKeyOnly) Public() crypto.PublicKey { return p.pub }
func (p publicKeyOnly) Sign(io.Reader, []byte, crypto.SignerOpts) ([]byte, error) {
	panic("a certificate authority never holds the private key")
}
