package attest_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"
	"github.com/sigstore/sigstore-go/pkg/sign"

	"github.com/urmanac/sovos/attest"
	"github.com/urmanac/sovos/internal/testenv"
)

const workflow = "https://github.com/urmanac/factory/.github/workflows/sovos-apply.yml@refs/heads/main"

// Keyless signing, wired end to end against stand-ins (no network here): the OIDC token
// comes from GitHub Actions' endpoint (audience sigstore, the request token as bearer),
// Fulcio is asked for a certificate with that token and a proof of possession of the
// ephemeral key over the token's subject, the signature goes to the transparency log
// with that certificate, and the bundle verifies for that identity and issuer, and not
// for another workflow's.
func TestKeylessSigning(t *testing.T) {
	tok := testenv.IdentityToken(attest.GitHubIssuer, workflow)
	var mu sync.Mutex
	var oidcCalls int

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

	fulcio := testenv.StartFulcio(t)

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
	if got := fulcio.Tokens(); oidcCalls != 1 || len(got) != 1 || got[0] != tok {
		t.Errorf("OIDC endpoint asked %d times, Fulcio given tokens %q; want once each, the OIDC endpoint's token", oidcCalls, got)
	}
	if len(tlog.certs) != 1 || !strings.Contains(tlog.certs[0], "BEGIN CERTIFICATE") {
		t.Errorf("the transparency log got %q, want the Fulcio certificate", tlog.certs)
	}

	ok, err := attest.KeylessVerifierAt(fulcio.TrustedMaterial, `^https://github\.com/urmanac/factory/`, attest.GitHubIssuer)
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
	other, _ := attest.KeylessVerifierAt(fulcio.TrustedMaterial, `^https://github\.com/someone-else/`, attest.GitHubIssuer)
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
