package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/urmanac/sovos/attest"
	"github.com/urmanac/sovos/internal/modsigntest"
	"github.com/urmanac/sovos/internal/oci"
	"github.com/urmanac/sovos/internal/testenv"
)

// enableSigning adds `signing { key = "cosign.key", public_key = "cosign.pub" }` to the
// factory's configuration, with a fresh cosign key pair in its directory (password "pw"
// in COSIGN_PASSWORD).
func enableSigning(t *testing.T, c *testenv.CLI) {
	t.Helper()
	testenv.CosignKeyPair(t, c.Dir, "pw")
	path := filepath.Join(c.Dir, "main.sovos.hcl")
	hcl, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	const block = "sovos {\n  insecure_registries = [split(\"/\", var.registry)[0]]\n"
	if !strings.Contains(string(hcl), block) {
		t.Fatalf("main.sovos.hcl has no %q", block)
	}
	edited := strings.Replace(string(hcl), block, block+"  signing {\n    key        = \"cosign.key\"\n    public_key = \"cosign.pub\"\n  }\n", 1)
	if err := os.WriteFile(path, []byte(edited), 0o644); err != nil {
		t.Fatal(err)
	}
	c.Env = append(c.Env, "COSIGN_PASSWORD=pw")
}

// cosign runs the cosign v3 CLI offline against the test registry (plain HTTP).
func cosign(t *testing.T, args ...string) (string, int) {
	t.Helper()
	ref := args[len(args)-1]
	args = append(args[:len(args)-1:len(args)-1], "--insecure-ignore-tlog=true", "--allow-http-registry=true", "--allow-insecure-registry=true", ref)
	return testenv.CosignRun(t, args...)
}

// TestCLISignedAttestations applies the factory, turns signing on with a cosign key pair
// (the next apply, with nothing to build, signs what was built) and checks what it
// pushed with verifiers that are not sovos: the cosign v3 CLI (`cosign verify` on
// every image, boot media included; `cosign verify-attestation` on the extension's
// module-signature attestation) and sigstore-go. Another key verifies nothing. An
// extension without an attestation (as an earlier release left it) is verified again
// and attested before it is promoted; a kernel rebuilt under the same hash makes the
// old extension's attestation not count, and the extension follows.
func TestCLISignedAttestations(t *testing.T) {
	host := testenv.StartRegistry(t)
	bk := testenv.StartBuildkitd(t, testenv.WithInsecureRegistries(host))
	c := factoryCLI(t, host, host, bk.Addr)
	ctx := context.Background()
	reg := oci.New(oci.WithInsecure(host))
	_, otherPub := testenv.CosignKeyPair(t, t.TempDir(), "pw")

	// Built without signing: an unsigned attestation on the extension, no signature.
	c.OK("apply", "-auto-approve", "-progress=quiet")
	s := readState(t, c)
	k, e := s.Resource("kernel.k"), s.Resource("extension.e")
	kernel := attest.Kernel{Digest: k.Digest, CertificateSHA256: fingerprint(k.SigningCert)}
	if f, err := attest.Passing(ctx, reg, e.Image, e.Digest, kernel, nil); err != nil || f.Signed || e.Attestations[attest.ModuleSignaturesType] != f.Digest {
		t.Fatalf("unsigned apply: attestation %+v, %v; state %v", f, err, e.Attestations)
	}
	if len(k.Attestations) != 0 {
		t.Errorf("unsigned apply recorded signatures: %v", k.Attestations)
	}

	// Signing turned on: with a wrong password the apply stops before doing anything;
	// with the right one, an apply with nothing to build signs what was built, and the
	// extension gets a signed attestation.
	enableSigning(t, c)
	pubPEM, err := os.ReadFile(filepath.Join(c.Dir, "cosign.pub"))
	if err != nil {
		t.Fatal(err)
	}
	if out := c.OK("plan", "-detailed-exitcode"); !strings.Contains(out, "No changes.") {
		t.Errorf("signing is not hashed, yet the plan has changes:\n%s", out)
	}
	if _, errOut, code := c.With("COSIGN_PASSWORD=wrong").Run("apply", "-auto-approve", "-progress=quiet"); code != 1 || !strings.Contains(errOut, "COSIGN_PASSWORD") {
		t.Fatalf("apply with a wrong password: exit %d\n%s", code, errOut)
	}
	c.OK("apply", "-auto-approve", "-progress=quiet")
	s = readState(t, c)
	k, e = s.Resource("kernel.k"), s.Resource("extension.e")
	for _, r := range []string{"kernel.k", "extension.e", "installer.i", "profile.cm5"} {
		if s.Resource(r).Attestations[attest.CosignSignType] == "" {
			t.Errorf("%s: not signed after signing was turned on: %v", r, s.Resource(r).Attestations)
		}
	}
	pubKey, err := attest.PublicKey(pubPEM, "cosign.pub")
	if err != nil {
		t.Fatal(err)
	}
	keyVerifier, err := attest.KeyVerifier(pubKey, "cosign.pub")
	if err != nil {
		t.Fatal(err)
	}
	f, err := attest.Passing(ctx, reg, e.Image, e.Digest, kernel, keyVerifier)
	if err != nil || !f.Signed || e.Attestations[attest.ModuleSignaturesType] != f.Digest {
		t.Fatalf("after signing was turned on: attestation %+v, %v; state %v", f, err, e.Attestations)
	}
	modsig := f.Digest

	// An extension an earlier release built has no attestation: remove what this apply
	// attached (the sha256-<hex> index of its referrers on this registry) and what the
	// state says of it, and -promote verifies it again and attaches one before moving
	// its tag.
	extRepo, err := name.NewRepository(e.Image, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	fallback := extRepo.Tag(strings.Replace(e.Digest, ":", "-", 1))
	idx, err := remote.Head(fallback)
	if err != nil {
		t.Fatalf("the referrers of the extension are not in the tag fallback: %v", err)
	}
	if err := remote.Delete(extRepo.Digest(idx.Digest.String())); err != nil {
		t.Fatal(err)
	}
	pulled := c.OK("state", "pull")
	var doc map[string]any
	if err := json.Unmarshal([]byte(pulled), &doc); err != nil {
		t.Fatal(err)
	}
	for _, r := range doc["resources"].([]any) {
		delete(r.(map[string]any), "attestations")
	}
	stripped, _ := json.Marshal(doc)
	if err := os.WriteFile(filepath.Join(c.Dir, "first-release.json"), stripped, 0o644); err != nil {
		t.Fatal(err)
	}
	c.OK("state", "push", "first-release.json")
	if _, err := attest.Passing(ctx, reg, e.Image, e.Digest, kernel, nil); !attest.IsNotFound(err) {
		t.Fatalf("after removing the referrers: %v", err)
	}
	out := c.OK("apply", "-auto-approve", "-promote", "-progress=quiet")
	if !strings.Contains(out, "/factory/ext:stable") {
		t.Errorf("apply -promote did not promote the re-attested extension:\n%s", out)
	}
	s = readState(t, c)
	k, e = s.Resource("kernel.k"), s.Resource("extension.e")
	if e.Attestations[attest.ModuleSignaturesType] == "" || e.Attestations[attest.ModuleSignaturesType] == modsig || e.Tags["stable"] != e.Digest {
		t.Errorf("re-attested extension: attestations %v (old %s), tags %v", e.Attestations, modsig, e.Tags)
	}

	// sovos verify checks the attestation and its signature.
	out = c.OK("verify")
	if !strings.Contains(out, "extension.e: OK") || !strings.Contains(out, "attestation: "+e.Attestations[attest.ModuleSignaturesType]+" (module signatures, signed)") {
		t.Errorf("sovos verify:\n%s", out)
	}

	// cosign verifies every image sovos built, boot media included, with the public key
	// only, and none with another key.
	refs := map[string]string{
		"kernel.k": k.Image + "@" + k.Digest, "kernel.k stage modules": k.Stages["modules"].Image + "@" + k.Stages["modules"].Digest,
		"extension.e": e.Image + "@" + e.Digest,
	}
	i, cm5 := s.Resource("installer.i"), s.Resource("profile.cm5")
	refs["installer.i"] = i.Image + "@" + i.Digest
	refs["installer.i stage imager"] = i.Stages["imager"].Image + "@" + i.Stages["imager"].Digest
	refs["profile.cm5 boot media"] = cm5.Image + "@" + cm5.Digest
	for what, ref := range refs {
		if out, code := cosign(t, "verify", "--key", filepath.Join(c.Dir, "cosign.pub"), ref); code != 0 || !strings.Contains(out, "The signatures were verified against the specified public key") {
			t.Errorf("cosign verify %s (%s): exit %d\n%s", what, ref, code, out)
		}
		if out, code := cosign(t, "verify", "--key", otherPub, ref); code == 0 {
			t.Errorf("cosign verify %s with another key passed:\n%s", what, out)
		}
	}

	// cosign verify-attestation: the module-signature predicate names the kernel, its
	// certificate's fingerprint and every module, checked in the extension's image.
	extTag := e.Image + ":" + e.Tag
	out, code := cosign(t, "verify-attestation", "--key", filepath.Join(c.Dir, "cosign.pub"), "--type", attest.ModuleSignaturesType, extTag)
	if code != 0 {
		t.Fatalf("cosign verify-attestation: exit %d\n%s", code, out)
	}
	pred := cosignPredicate(t, out)
	pushed := testenv.ReadPushed(t, extTag)
	if pred.Kernel.Address != "kernel.k" || pred.Kernel.Digest != k.Digest || pred.Kernel.CertificateSHA256 != fingerprint(k.SigningCert) ||
		pred.Extension.Address != "extension.e" || pred.Checked.Digest != pushed.Image || pred.Checked.Platform != "linux/amd64" || pred.Result != "passed" {
		t.Errorf("predicate %+v\nwant kernel.k %s, certificate %s, checked %s", pred, k.Digest, fingerprint(k.SigningCert), pushed.Image)
	}
	if len(pred.Modules) != 1 || pred.Modules[0].Path != "/rootfs/usr/lib/modules/extras/hello.ko" || pred.Modules[0].Result != "ok" ||
		pred.Modules[0].Signer == nil || pred.Modules[0].Signer.Serial == "" || pred.Modules[0].HashAlgorithm == "" {
		t.Errorf("predicate modules %+v", pred.Modules)
	}
	if out, code := cosign(t, "verify-attestation", "--key", otherPub, "--type", attest.ModuleSignaturesType, extTag); code == 0 {
		t.Errorf("cosign verify-attestation with another key passed:\n%s", out)
	}

	// sigstore-go, on its own: the extension's bundles verify with the key and not with
	// another.
	got, errs := testenv.SigstoreVerify(t, extTag, pubPEM, attest.ModuleSignaturesType)
	if len(got) != 1 || len(errs) != 0 {
		t.Errorf("sigstore-go: %d module-signature statements verified, errors %v", len(got), errs)
	}
	otherPEM, _ := os.ReadFile(otherPub)
	if got, errs := testenv.SigstoreVerify(t, extTag, otherPEM, attest.ModuleSignaturesType); len(got) != 0 || len(errs) == 0 {
		t.Errorf("sigstore-go with another key: %d verified, errors %v", len(got), errs)
	}

	// The kernel rebuilt under the same hash: a new key. The old extension's attestation
	// no longer counts (sovos verify fails, naming why), and a full apply -promote
	// rebuilds and attests the extension for the new kernel before promoting it.
	oldExt := e
	c.OK("apply", "-auto-approve", "-promote", "-replace=kernel.k", "-target=kernel.k", "-progress=quiet")
	s = readState(t, c)
	k2 := s.Resource("kernel.k")
	if k2.Digest == k.Digest || string(k2.SigningCert) == string(k.SigningCert) {
		t.Fatal("-replace=kernel.k did not make a new kernel with a new key")
	}
	out, _, code = c.Run("verify", "extension.e")
	if code != 1 || !strings.Contains(out, "attestation: FAILED") || !strings.Contains(out, "names kernel image") {
		t.Errorf("verify after the kernel was replaced: exit %d\n%s", code, out)
	}
	newKernel := attest.Kernel{Digest: k2.Digest, CertificateSHA256: fingerprint(k2.SigningCert)}
	if _, err := attest.Passing(ctx, reg, oldExt.Image, oldExt.Digest, newKernel, nil); !attest.IsNotFound(err) {
		t.Errorf("the old extension's attestation counts for the new kernel: %v", err)
	}
	out = c.OK("apply", "-auto-approve", "-promote", "-progress=quiet")
	s = readState(t, c)
	e2 := s.Resource("extension.e")
	if e2.Digest == oldExt.Digest || e2.Tags["stable"] != e2.Digest {
		t.Errorf("after the kernel's replacement the extension was not rebuilt and promoted: %+v\n%s", e2, out)
	}
	if _, err := attest.Passing(ctx, reg, e2.Image, e2.Digest, newKernel, nil); err != nil {
		t.Errorf("the rebuilt extension: %v", err)
	}
}

func fingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:])
}

// cosignPredicate decodes the module-signature predicate from cosign
// verify-attestation's output: one JSON DSSE envelope per line.
func cosignPredicate(t *testing.T, out string) *attest.ModuleSignatures {
	t.Helper()
	for _, line := range strings.Split(out, "\n") {
		var env struct{ Payload string }
		if json.Unmarshal([]byte(line), &env) != nil || env.Payload == "" {
			continue
		}
		stmt, err := base64.StdEncoding.DecodeString(env.Payload)
		if err != nil {
			t.Fatal(err)
		}
		var st struct {
			PredicateType string                  `json:"predicateType"`
			Predicate     attest.ModuleSignatures `json:"predicate"`
		}
		if err := json.Unmarshal(stmt, &st); err != nil {
			t.Fatal(err)
		}
		if st.PredicateType == attest.ModuleSignaturesType {
			return &st.Predicate
		}
	}
	t.Fatalf("no module-signature statement in cosign's output:\n%s", out)
	return nil
}

// arm64Config is a kernel and an extension for linux/arm64 built on this (amd64)
// machine: FROM scratch and COPY only, so no emulation. The kernel's "key" is made by
// the test (the certificate is in its build context), the extension's module signed
// with it.
const arm64Config = `variable "registry" { type = string }

sovos {
  insecure_registries = [split("/", var.registry)[0]]
}

source "k" { path = "./k" }
source "e" { path = "./e" }

kernel "k" {
  source   = source.k
  target   = "kernel"
  platform = "linux/arm64"
  image    = "${var.registry}/kernel"
  signing_cert {
    target = "kernel-build"
    path   = "/src/certs/signing_key.x509"
  }
}

extension "e" {
  source   = source.e
  kernel   = kernel.k
  platform = "linux/arm64"
  image    = "${var.registry}/ext"
  args     = { KERNEL = kernel.k.ref }
  tags     = ["stable"]
}
`

// TestCLIArm64Extension builds for a platform that is not go-containerregistry's default
// (linux/amd64): apply verifies and attests the extension by its index digest, the
// attestation names the linux/arm64 manifest it checked, adoption after a lost state
// reads dev.sovos.hash from the index and verifies again, and `sovos verify` checks
// the right image of each index.
func TestCLIArm64Extension(t *testing.T) {
	host := testenv.StartRegistry(t)
	bk := testenv.StartBuildkitd(t, testenv.WithInsecureRegistries(host))
	key, cert := modsigntest.NewKey(t)
	module := modsigntest.SignModule(t, modsigntest.Module("hello"), key, cert)
	files := map[string]string{
		"main.sovos.hcl":     arm64Config,
		"k/Dockerfile":       "FROM scratch AS kernel-build\nCOPY signing_key.x509 /src/certs/signing_key.x509\n\nFROM scratch AS kernel\nCOPY vmlinuz /boot/vmlinuz\n",
		"k/vmlinuz":          "not really a kernel\n",
		"k/signing_key.x509": string(cert.Raw),
		"e/Dockerfile":       "FROM scratch\nARG KERNEL\nCOPY hello.ko /rootfs/usr/lib/modules/extras/hello.ko\n",
		"e/hello.ko":         string(module),
	}
	c := builderCLI(t, files, "BUILDKIT_HOST="+bk.Addr, "SOVOS_VAR_registry="+host+"/arm")
	c.OK("apply", "-auto-approve", "-promote", "-progress=quiet")
	s := readState(t, c)
	k, e := s.Resource("kernel.k"), s.Resource("extension.e")
	pushed := testenv.ReadPushed(t, e.Image+":"+e.Tag)
	if pushed.Index != e.Digest || pushed.Platform != "linux/arm64" || pushed.Provenance == nil {
		t.Fatalf("extension pushed as %+v, the state records %s", pushed, e.Digest)
	}
	reg := oci.New(oci.WithInsecure(host))
	f, err := attest.Passing(context.Background(), reg, e.Image, e.Digest, attest.Kernel{Digest: k.Digest, CertificateSHA256: attest.Fingerprint(cert)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if f.Predicate.Checked.Platform != "linux/arm64" || f.Predicate.Checked.Digest != pushed.Image || len(f.Predicate.Modules) != 1 {
		t.Errorf("the attestation checked %+v, want linux/arm64 %s", f.Predicate.Checked, pushed.Image)
	}
	if got := registryTag(t, e.Image+":stable"); got != e.Digest {
		t.Errorf("ext:stable is %s, want the index %s", got, e.Digest)
	}
	if out := c.OK("verify"); !strings.Contains(out, "extension.e: OK") || !strings.Contains(out, "ok           /rootfs/usr/lib/modules/extras/hello.ko") {
		t.Errorf("verify:\n%s", out)
	}

	// A lost state: both are adopted by the hash on their index, the extension after
	// verifying it again against the adopted kernel's certificate (stored next to it).
	if err := os.RemoveAll(filepath.Join(c.Dir, ".sovos", "state")); err != nil {
		t.Fatal(err)
	}
	out := c.OK("apply", "-auto-approve", "-progress=quiet")
	if !strings.Contains(out, "kernel.k: adopted") || !strings.Contains(out, "extension.e: adopted") {
		t.Errorf("apply without a state:\n%s", out)
	}
	if e2 := readState(t, c).Resource("extension.e"); e2.Digest != e.Digest || e2.Verified == nil || !e2.Verified.OK {
		t.Errorf("adopted extension: %+v", e2)
	}
}

func registryTag(t *testing.T, ref string) string {
	t.Helper()
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	d, err := remote.Head(r)
	if err != nil {
		t.Fatal(err)
	}
	return d.Digest.String()
}
