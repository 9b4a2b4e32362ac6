package e2e

import (
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

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

// TestCLIKeylessWiring: `signing { keyless = true }` as the apply workflow uses it,
// against stand-ins for GitHub's OIDC endpoint, Fulcio and Rekor (no network here). The
// job's identity token is asked for with the request token GitHub Actions gives a job
// with `id-token: write`, Fulcio at fulcio_url certifies the ephemeral key for that
// token, and the signature goes to the Rekor at rekor_url with that certificate;
// without a token the apply says what the job lacks and asks Fulcio nothing.
func TestCLIKeylessWiring(t *testing.T) {
	const subject = "https://github.com/urmanac/factory/.github/workflows/sovos-apply.yml@refs/heads/main"
	token := testenv.IdentityToken(attest.GitHubIssuer, subject)

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

	fulcio := testenv.StartFulcio(t)
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
	if len(calls) != 0 || len(fulcio.Tokens()) != 0 {
		t.Errorf("without a token: %v, Fulcio given %q", calls, fulcio.Tokens())
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
	want := []string{"oidc Bearer request-token audience=sigstore", "rekor POST /api/v1/log/entries"}
	if len(calls) < len(want) || strings.Join(calls[:len(want)], "\n") != strings.Join(want, "\n") {
		t.Errorf("calls:\n%s\nwant first:\n%s", strings.Join(calls, "\n"), strings.Join(want, "\n"))
	}
	issued := fulcio.Issued()
	if got := fulcio.Tokens(); len(got) != 1 || got[0] != token || len(issued) != 1 {
		t.Fatalf("Fulcio was given tokens %q and issued %d certificates; want the job's token, once", got, len(issued))
	}
	// What Rekor was asked to log carries the certificate Fulcio issued.
	leafPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: issued[0].Raw})
	if !strings.Contains(logged, base64.StdEncoding.EncodeToString(leafPEM)) && !strings.Contains(logged, base64.StdEncoding.EncodeToString(issued[0].Raw)) {
		t.Errorf("Rekor was not given Fulcio's certificate:\n%s", logged)
	}
}
