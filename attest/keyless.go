package attest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/sigstore/sigstore-go/pkg/fulcio/certificate"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/sign"
	"github.com/sigstore/sigstore-go/pkg/verify"
)

// Sigstore's public-good instances and GitHub Actions' OIDC issuer: the defaults of
// keyless signing.
const (
	DefaultFulcioURL = "https://fulcio.sigstore.dev"
	DefaultRekorURL  = "https://rekor.sigstore.dev"
	GitHubIssuer     = "https://token.actions.githubusercontent.com"
)

// KeylessOptions configure keyless signing: a fresh key per signature, certified by
// Fulcio for the identity of an OIDC token, and logged in Rekor.
type KeylessOptions struct {
	FulcioURL string // default DefaultFulcioURL
	RekorURL  string // default DefaultRekorURL
	// Token returns an OIDC identity token for audience "sigstore" (see IdentityToken);
	// it is asked for each signature, since CI tokens are short-lived.
	Token func(ctx context.Context) (string, error)
	// Transport carries the calls to Fulcio (nil: Go's default).
	Transport http.RoundTripper
	// TransparencyLogs replaces the Rekor log (tests).
	TransparencyLogs []sign.Transparency
}

// KeylessSigner returns a Signer that signs keyless.
func KeylessSigner(o KeylessOptions) *Signer {
	if o.FulcioURL == "" {
		o.FulcioURL = DefaultFulcioURL
	}
	if o.RekorURL == "" {
		o.RekorURL = DefaultRekorURL
	}
	fulcio := sign.NewFulcio(&sign.FulcioOptions{BaseURL: strings.TrimSuffix(o.FulcioURL, "/"), Timeout: 30 * time.Second, Retries: 1, Transport: o.Transport})
	logs := o.TransparencyLogs
	if logs == nil {
		logs = []sign.Transparency{sign.NewRekor(&sign.RekorOptions{BaseURL: strings.TrimSuffix(o.RekorURL, "/"), Timeout: 90 * time.Second, Retries: 1})}
	}
	return &Signer{
		keypair: func() (sign.Keypair, error) {
			kp, err := sign.NewEphemeralKeypair(nil)
			if err != nil {
				return nil, fmt.Errorf("keyless signing: %w", err)
			}
			return kp, nil
		},
		options: func(ctx context.Context) (sign.BundleOptions, error) {
			if o.Token == nil {
				return sign.BundleOptions{}, errors.New("keyless signing: no OIDC identity token source")
			}
			tok, err := o.Token(ctx)
			if err != nil {
				return sign.BundleOptions{}, err
			}
			return sign.BundleOptions{
				CertificateProvider:        fulcio,
				CertificateProviderOptions: &sign.CertificateProviderOptions{IDToken: tok},
				TransparencyLogs:           logs,
			}, nil
		},
		What: fmt.Sprintf("keyless signing (Fulcio %s, Rekor %s)", o.FulcioURL, o.RekorURL),
	}
}

// IdentityToken returns the OIDC identity token keyless signing presents to Fulcio:
// $SIGSTORE_ID_TOKEN when set (as cosign reads it), else a token for audience "sigstore"
// from GitHub Actions (a job with `permissions: id-token: write` has
// ACTIONS_ID_TOKEN_REQUEST_URL and ACTIONS_ID_TOKEN_REQUEST_TOKEN). getenv reads the
// environment; client makes the request (nil: Go's default).
func IdentityToken(ctx context.Context, getenv func(string) string, client *http.Client) (string, error) {
	if t := strings.TrimSpace(getenv("SIGSTORE_ID_TOKEN")); t != "" {
		return t, nil
	}
	reqURL, reqToken := getenv("ACTIONS_ID_TOKEN_REQUEST_URL"), getenv("ACTIONS_ID_TOKEN_REQUEST_TOKEN")
	if reqURL == "" || reqToken == "" {
		return "", errors.New("keyless signing needs an OIDC identity token: in GitHub Actions give the job `permissions: id-token: write` (it then has ACTIONS_ID_TOKEN_REQUEST_URL and ACTIONS_ID_TOKEN_REQUEST_TOKEN); elsewhere set SIGSTORE_ID_TOKEN")
	}
	u, err := url.Parse(reqURL)
	if err != nil {
		return "", fmt.Errorf("ACTIONS_ID_TOKEN_REQUEST_URL: %w", err)
	}
	q := u.Query()
	q.Set("audience", "sigstore")
	u.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("Authorization", "Bearer "+reqToken)
	req.Header.Set("Accept", "application/json")
	if client == nil {
		client = &http.Client{Timeout: 30 * time.Second}
	}
	resp, err := client.Do(req)
	if err != nil {
		return "", fmt.Errorf("asking GitHub Actions for an OIDC token: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", fmt.Errorf("asking GitHub Actions for an OIDC token: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("asking GitHub Actions for an OIDC token: %s (does the job have `permissions: id-token: write`?)", resp.Status)
	}
	var v struct {
		Value string `json:"value"`
	}
	if err := json.Unmarshal(body, &v); err != nil || v.Value == "" {
		return "", errors.New("asking GitHub Actions for an OIDC token: the answer holds no token")
	}
	return v.Value, nil
}

// KeylessVerifier checks keyless bundles: a certificate from a Fulcio in material for
// the identity (a regular expression over the certificate's subject alternative name,
// e.g. the workflow's URL; empty accepts any) issued by issuer, with its SCT, and the
// signature logged in a Rekor of material, as cosign does by default. material is
// called once, on first use (fetching Sigstore's trusted root costs a network round
// trip).
func KeylessVerifier(material func() (root.TrustedMaterial, error), identity, issuer string) (*Verifier, error) {
	return keylessVerifier(material, identity, issuer, []verify.VerifierOption{
		verify.WithSignedCertificateTimestamps(1),
		verify.WithTransparencyLog(1),
		verify.WithIntegratedTimestamps(1),
	})
}

func keylessVerifier(material func() (root.TrustedMaterial, error), identity, issuer string, vopts []verify.VerifierOption) (*Verifier, error) {
	if issuer == "" {
		issuer = GitHubIssuer
	}
	if identity == "" {
		identity = ".*"
	}
	san, err := verify.NewSANMatcher("", identity)
	if err != nil {
		return nil, fmt.Errorf("signing identity %q: %w", identity, err)
	}
	iss, err := verify.NewIssuerMatcher(issuer, "")
	if err != nil {
		return nil, fmt.Errorf("signing issuer %q: %w", issuer, err)
	}
	id, err := verify.NewCertificateIdentity(san, iss, certificate.Extensions{})
	if err != nil {
		return nil, err
	}
	var once sync.Once
	var m root.TrustedMaterial
	var merr error
	return &Verifier{
		material: func() (root.TrustedMaterial, error) {
			once.Do(func() { m, merr = material() })
			return m, merr
		},
		vopts: vopts,
		popts: []verify.PolicyOption{verify.WithCertificateIdentity(id)},
		What:  fmt.Sprintf("a Sigstore certificate for %s from %s", identity, issuer),
	}, nil
}

// PublicGoodRoot fetches Sigstore's public-good trusted root through TUF (cached under
// the user's home), or reads one from path when it is set.
func PublicGoodRoot(path string) func() (root.TrustedMaterial, error) {
	return func() (root.TrustedMaterial, error) {
		if path != "" {
			tr, err := root.NewTrustedRootFromPath(path)
			if err != nil {
				return nil, fmt.Errorf("trusted root %s: %w", path, err)
			}
			return tr, nil
		}
		tr, err := root.FetchTrustedRoot()
		if err != nil {
			return nil, fmt.Errorf("fetching Sigstore's trusted root: %w", err)
		}
		return tr, nil
	}
}
