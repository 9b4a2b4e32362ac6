package attest_test

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/urmanac/sovos/attest"
	"github.com/urmanac/sovos/internal/oci"
	"github.com/urmanac/sovos/internal/testenv"
)

// What sovos attaches is what cosign v3 checks, offline, with the public key: the image
// signature (`cosign verify`) and the module-signature attestation (`cosign
// verify-attestation --type`), found through the sha256-<hex> tag fallback of a
// registry without the referrers API (the CNCF registry here). Another key's public
// half verifies neither.
func TestCosignVerifies(t *testing.T) {
	host := testenv.StartRegistry(t)
	dir := t.TempDir()
	keyPath, pubPath := testenv.CosignKeyPair(t, dir, "pw")
	_, otherPub := testenv.CosignKeyPair(t, t.TempDir(), "pw")
	keyPEM, err := os.ReadFile(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	signer, _, err := attest.KeySigner(keyPEM, []byte("pw"), "cosign.key")
	if err != nil {
		t.Fatal(err)
	}
	reg := oci.New(oci.WithInsecure(host))
	p := &attest.Publisher{Registry: reg, Signer: signer}
	ctx := context.Background()
	image, digest := pushIndex(t, host, "ext")
	if _, err := p.SignImage(ctx, image, digest); err != nil {
		t.Fatal(err)
	}
	pred := predicate("sha256:"+strings.Repeat("a", 64), strings.Repeat("f", 64), "ok")
	if _, err := p.Attest(ctx, image, digest, attest.ModuleSignaturesType, pred); err != nil {
		t.Fatal(err)
	}

	ref := image + ":t" // by tag, as a person would: cosign resolves it to the index
	common := []string{"--insecure-ignore-tlog=true", "--allow-http-registry=true", "--allow-insecure-registry=true"}
	out, code := testenv.CosignRun(t, append([]string{"verify", "--key", pubPath}, append(common, ref)...)...)
	if code != 0 || !strings.Contains(out, "The signatures were verified against the specified public key") {
		t.Fatalf("cosign verify: exit %d\n%s", code, out)
	}
	if !strings.Contains(out, strings.TrimPrefix(digest, "sha256:")) {
		t.Errorf("cosign verify does not name the index digest %s:\n%s", digest, out)
	}
	out, code = testenv.CosignRun(t, append([]string{"verify-attestation", "--key", pubPath, "--type", attest.ModuleSignaturesType}, append(common, ref)...)...)
	if code != 0 || !strings.Contains(out, "Verification for "+ref) {
		t.Fatalf("cosign verify-attestation: exit %d\n%s", code, out)
	}
	for _, args := range [][]string{
		{"verify", "--key", otherPub},
		{"verify-attestation", "--key", otherPub, "--type", attest.ModuleSignaturesType},
	} {
		if out, code := testenv.CosignRun(t, append(args, append(common, ref)...)...); code == 0 {
			t.Errorf("cosign %s with another key passed:\n%s", args[0], out)
		}
	}
}
