package testenv

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/urmanac/sovos/attest"
)

// Cosign returns the cosign v3 CLI `make tools` builds from the module proxy
// (github.com/sigstore/cosign/v3/cmd/cosign, the version in the Makefile) into
// .tools/bin: the independent verifier of what sovos signs. Missing, the test skips
// (fails under CI).
func Cosign(t testing.TB) string {
	t.Helper()
	return ToolPath(t, "cosign")
}

// CosignKeyPair writes a cosign key pair (an ECDSA P-256 key, as `cosign
// generate-key-pair` makes) into dir as cosign.key, sealed with password, and
// cosign.pub, and returns their paths.
func CosignKeyPair(t testing.TB, dir, password string) (key, pub string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	priv, public, err := attest.EncryptKey(k, []byte(password))
	if err != nil {
		t.Fatal(err)
	}
	key, pub = filepath.Join(dir, "cosign.key"), filepath.Join(dir, "cosign.pub")
	if err := os.WriteFile(key, priv, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(pub, public, 0o644); err != nil {
		t.Fatal(err)
	}
	return key, pub
}

// CosignRun runs the cosign CLI with args offline (no TUF, no transparency log lookups
// beyond what args ask for) and returns its combined output and exit code.
func CosignRun(t testing.TB, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(Cosign(t), args...)
	home := t.TempDir()
	cmd.Env = append(os.Environ(), "HOME="+home, "TUF_ROOT="+filepath.Join(home, "tuf"), "DOCKER_CONFIG="+filepath.Join(home, "docker"))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("running cosign: %v", err)
	}
	return out.String(), code
}
