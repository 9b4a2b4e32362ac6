package main

import (
	"bytes"
	"debug/elf"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/urmanac/sovos/executor/verify"
	"github.com/urmanac/sovos/internal/modsigntest"
	"github.com/urmanac/sovos/internal/testenv"
)

func TestGenkeyAndSign(t *testing.T) {
	for _, tt := range []struct {
		name     string
		genArgs  []string
		signArgs []string
	}{
		{"rsa", []string{"-bits", "2048"}, nil},
		{"rsa key id sha256", []string{"-bits", "2048"}, []string{"-keyid", "-hash", "sha256"}},
		{"ecdsa", []string{"-ecdsa"}, []string{"-hash", "sha384"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			keys := filepath.Join(dir, "certs")
			if err := run(append(append([]string{"genkey"}, tt.genArgs...), keys), io.Discard); err != nil {
				t.Fatal(err)
			}
			mod := filepath.Join(dir, "hailo.ko")
			content := modsigntest.Module("hailo")
			if err := os.WriteFile(mod, content, 0o640); err != nil {
				t.Fatal(err)
			}
			args := append(append([]string{"sign"}, tt.signArgs...),
				filepath.Join(keys, "signing_key.pem"), filepath.Join(keys, "signing_key.x509"), mod)
			if err := run(args, io.Discard); err != nil {
				t.Fatal(err)
			}

			signed, err := os.ReadFile(mod)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.HasPrefix(signed, content) {
				t.Fatal("the signed module does not start with the original")
			}
			if fi, _ := os.Stat(mod); fi.Mode().Perm() != 0o640 {
				t.Errorf("mode = %v, want 0640 kept", fi.Mode().Perm())
			}
			for _, f := range []string{"signing_key.pem", "signing_key.x509"} {
				data, err := os.ReadFile(filepath.Join(keys, f))
				if err != nil {
					t.Fatal(err)
				}
				cert, err := verify.ParseCertificate(data)
				if err != nil {
					t.Fatalf("%s: %v", f, err)
				}
				if v := verify.CheckModule(signed, cert); !v.OK() {
					t.Errorf("against %s: %s", f, v)
				}
			}
		})
	}
}

func TestErrors(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{
		nil,
		{"frobnicate"},
		{"genkey"},
		{"sign", "a", "b"},
		{"sign", "-hash", "md5", "a", "b", "c"},
		{"sign", filepath.Join(dir, "missing.pem"), "b", "c"},
	} {
		if err := run(args, io.Discard); err == nil {
			t.Errorf("run(%q): no error", args)
		}
	}
}

func TestMain(m *testing.M) { testenv.Main(m) }

// TestStaticBuild runs modsign as the end-to-end tests and the demo build it, with cgo
// off: the binary must be static to run in a FROM scratch build stage.
func TestStaticBuild(t *testing.T) {
	bin := testenv.Modsign(t)
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Fatal("modsign is dynamically linked")
		}
	}
	keys := filepath.Join(t.TempDir(), "k")
	if out, err := exec.Command(bin, "genkey", "-ecdsa", keys).CombinedOutput(); err != nil {
		t.Fatalf("modsign genkey: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "nope").CombinedOutput()
	if err == nil || !bytes.Contains(out, []byte("usage:")) {
		t.Errorf("modsign nope: %v, %s", err, out)
	}
}
