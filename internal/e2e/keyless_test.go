package e2e

import (
	"crypto"
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

	"github.com/sigstore/sigstore-go/pkg/testing/ca"

	"github.com/urmanac/sovos/attest"
	"github.com/urmanac/sovos/internal/testenv"
)

// keylessConfig signs keyless with the Fulcio and Rekor its variables name.
const keylessConfig = `variable "registry" { type = string }
variable "fulcio" { type = string }
variable "rekor" { type = string }

sovos {
  insecure_registries = [split("/", var.registry)[0]]
  signing {
    keyless    = true
    fulcio_url = var.fulcio
    rekor_url  = var.rekor
  }
}

source "k" { path = "./k" }

kernel "k" {
  source = source.k
  image  = "${var.registry}/k"
}
`

// publicKeyOnly is what a certificate authority holds of the key it certifies.
type publicKeyOnly struct{ pub crypto.PublicKey }

func (p publicKeyOnly) Public() crypto.PublicKey { return p.pub }
func (p publicKeyOnly) Sign(io.Reader, []byte, crypto.SignerOpts) ([]byte, error) {
	panic("a certificate authority never holds the private key")
}

// TestCLIKeylessWiring: `signing { keyless = true }` as the apply workflow uses it,
// against stand-ins for GitHub's OIDC endpoint, Fulcio and Rekor (no network here). The
// job's identity token is asked for with the request token GitHub Actions gives a job
// with `id-token: write`, Fulcio at fulcio_url certifies the ephemeral key for that
// token, and the signature goes to the Rekor at rekor_url with that certificate;
// without a token the apply says what the job lacks and asks Fulcio nothing.
func TestCLIKeylessWiring(t *testing.T) {
	const subject = "https://github.com/urmanac/factory/.github/workflows/sovos-apply.yml@refs/heads/main"
	claims, _ := json.Marshal(map[string]any{"iss": attest.GitHubIssuer, "sub": subject, "aud": "sigstore"})
	token := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"RS256"}`)) + "." + base64.RawURLEncoding.EncodeToString(claims) + ".c2ln"

	var mu sync.Mutex
	var calls []string
	record := func(s string) {
		mu.Lock()
		calls = append(calls, s)
		mu.Unlock()
	}
	oidc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		record("oidc " + r.Header.Get("Authorization") + " audience=" + r.URL.Query().Get("audience"))
		json.NewEncoder(w).Encode(map[string]string{"value": token})
	}))
	t.Cleanup(oidc.Close)

	rootCert, rootKey, err := ca.GenerateRootCa()
	if err != nil {
		t.Fatal(err)
	}
	inter, interKey, err := ca.GenerateFulcioIntermediate(rootCert, rootKey)
	if err != nil {
		t.Fatal(err)
	}
	var leafPEM string
	fulcio := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		record("fulcio " + r.URL.Path + " " + r.Header.Get("Authorization"))
		var req struct {
			PublicKeyRequest struct {
				PublicKey struct{ Content string } `json:"publicKey"`
			} `json:"publicKeyRequest"`
		}
		json.NewDecoder(r.Body).Decode(&req)
		block, _ := pem.Decode([]byte(req.PublicKeyRequest.PublicKey.Content))
		if block == nil {
			http.Error(w, "no public key", http.StatusBadRequest)
			return
		}
		pub, err := x509.ParsePKIXPublicKey(block.Bytes)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		leaf, err := ca.GenerateLeafCert(subject, attest.GitHubIssuer, time.Now().Add(-time.Minute), publicKeyOnly{pub}, inter, interKey)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		var chain []string
		for _, c := range []*x509.Certificate{leaf, inter, rootCert} {
			chain = append(chain, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})))
		}
		mu.Lock()
		leafPEM = chain[0]
		mu.Unlock()
		json.NewEncoder(w).Encode(map[string]any{"signedCertificateEmbeddedSct": map[string]any{"chain": map[string]any{"certificates": chain}}})
	}))
	t.Cleanup(fulcio.Close)
	var logged string
	rekor := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		record("rekor " + r.Method + " " + r.URL.Path)
		mu.Lock()
		logged = string(body)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, `{"code":400,"message":"stand-in Rekor: logs nothing"}`)
	}))
	t.Cleanup(rekor.Close)

	host := testenv.StartRegistry(t)
	bk := testenv.StartBuildkitd(t, testenv.WithInsecureRegistries(host))
	files := map[string]string{"main.sovos.hcl": keylessConfig}
	for k, v := range builderKernel {
		files[k] = v
	}
	c := builderCLI(t, files, "BUILDKIT_HOST="+bk.Addr, "SOVOS_VAR_registry="+host+"/keyless",
		"SOVOS_VAR_fulcio="+fulcio.URL, "SOVOS_VAR_rekor="+rekor.URL,
		"SIGSTORE_ID_TOKEN=", "ACTIONS_ID_TOKEN_REQUEST_URL=", "ACTIONS_ID_TOKEN_REQUEST_TOKEN=")

	// No identity token: the kernel is built but not recorded unsigned, and the apply
	// says what to give the job.
	out, errOut, code := c.Run("apply", "-auto-approve", "-progress=quiet")
	if code != 1 || !strings.Contains(out+errOut, "id-token: write") || strings.Contains(out+errOut, "goroutine") {
		t.Errorf("keyless apply without a token: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	if list := c.OK("state", "list"); strings.Contains(list, "kernel.k") {
		t.Errorf("an unsigned kernel was recorded:\n%s", list)
	}
	mu.Lock()
	if len(calls) != 0 {
		t.Errorf("without a token: %v", calls)
	}
	mu.Unlock()

	// In a GitHub Actions job with id-token: write (the kernel the first apply pushed is
	// adopted, and signed before it is recorded).
	out, errOut, code = c.With("ACTIONS_ID_TOKEN_REQUEST_URL="+oidc.URL+"/token?api-version=2.0", "ACTIONS_ID_TOKEN_REQUEST_TOKEN=request-token").
		Run("apply", "-auto-approve", "-progress=quiet")
	t.Logf("keyless apply against a Rekor that logs nothing: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	if code != 1 || !strings.Contains(out+errOut, "kernel.k: failed: signing") || !strings.Contains(out+errOut, "stand-in Rekor: logs nothing") || strings.Contains(out+errOut, "goroutine") {
		t.Errorf("keyless apply: exit %d", code)
	}
	mu.Lock()
	defer mu.Unlock()
	want := []string{"oidc Bearer request-token audience=sigstore", "fulcio /api/v2/signingCert Bearer " + token, "rekor POST /api/v1/log/entries"}
	if len(calls) < len(want) || strings.Join(calls[:len(want)], "\n") != strings.Join(want, "\n") {
		t.Errorf("calls:\n%s\nwant first:\n%s", strings.Join(calls, "\n"), strings.Join(want, "\n"))
	}
	// What Rekor was asked to log carries the certificate Fulcio issued.
	block, _ := pem.Decode([]byte(leafPEM))
	if block == nil || !strings.Contains(logged, base64.StdEncoding.EncodeToString([]byte(leafPEM))) && !strings.Contains(logged, base64.StdEncoding.EncodeToString(block.Bytes)) {
		t.Errorf("Rekor was not given Fulcio's certificate:\n%s", logged)
	}
}
