package verify_test

import (
	"bytes"
	"compress/gzip"
	"crypto"
	"crypto/x509"
	"fmt"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"

	"github.com/urmanac/sovos/executor/verify"
	"github.com/urmanac/sovos/internal/modsigntest"
)

func compressAs(t testing.TB, suffix string, data []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	switch suffix {
	case ".ko":
		return data
	case ".ko.gz":
		w := gzip.NewWriter(&buf)
		w.Write(data)
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	case ".ko.xz":
		w, err := xz.WriterConfig{DictCap: 1 << 20}.NewWriter(&buf)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(data)
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	case ".ko.zst":
		w, err := zstd.NewWriter(nil)
		if err != nil {
			t.Fatal(err)
		}
		defer w.Close()
		return w.EncodeAll(data, nil)
	default:
		t.Fatalf("no compressor for %s", suffix)
	}
	return buf.Bytes()
}

// TestCheckModuleStreamed checks that a module streamed through its digests gets the
// verdict CheckModule gives it whole, at sizes that put the signature across chunk
// boundaries, compressed or not.
func TestCheckModuleStreamed(t *testing.T) {
	key, cert := modsigntest.NewKey(t)
	ecKey, ecCert := modsigntest.NewECKey(t) // its certificate is signed with SHA-384
	otherKey, otherCert := modsigntest.NewKey(t)
	streamed := verify.DefaultLimits()
	streamed.Spool = 1 << 10
	for _, size := range []int{1, 1000, 40 << 10, 70 << 10, 300 << 10, 1<<20 + 12345} {
		mod := bytes.Repeat([]byte{0x7f, 'E', 'L', 'F', 1, 2, 3}, size/7+1)[:size]
		good := modsigntest.SignModule(t, mod, key, cert)
		tampered := bytes.Clone(good)
		tampered[size/2] ^= 1
		cases := []struct {
			name   string
			module []byte
			cert   *x509.Certificate
			want   verify.Kind
		}{
			{"sha512", good, cert, verify.OK},
			{"sha256", modsigntest.SignModuleWith(t, mod, key, cert, modsigntest.SignOptions{Hash: crypto.SHA256}), cert, verify.OK},
			{"ecdsa sha384, the certificate's digest", modsigntest.SignModuleWith(t, mod, ecKey, ecCert, modsigntest.SignOptions{Hash: crypto.SHA384}), ecCert, verify.OK},
			{"key id", modsigntest.SignModuleWith(t, mod, key, cert, modsigntest.SignOptions{KeyID: true}), cert, verify.OK},
			{"foreign", modsigntest.SignModule(t, mod, otherKey, otherCert), cert, verify.ForeignKey},
			{"unsigned", mod, cert, verify.Unsigned},
			{"tampered", tampered, cert, verify.Invalid},
		}
		for _, tt := range cases {
			whole := verify.CheckModule(tt.module, tt.cert)
			if whole.Kind != tt.want {
				t.Fatalf("%d bytes, %s: CheckModule = %s, want %s", size, tt.name, whole, tt.want)
			}
			for _, suffix := range []string{".ko", ".ko.gz", ".ko.xz", ".ko.zst"} {
				data := compressAs(t, suffix, tt.module)
				for _, lim := range []verify.Limits{verify.DefaultLimits(), streamed} {
					v := verify.CheckModuleReaderWith("m"+suffix, bytes.NewReader(data), tt.cert, lim)
					if v.Kind != whole.Kind || v.Detail != whole.Detail {
						t.Errorf("%d bytes, %s, %s, spool %d: %s; whole: %s", size, tt.name, suffix, lim.Spool, v, whole)
					}
				}
			}
		}

		// A digest that is neither the certificate's nor SHA-256/512 is checked only for
		// a module kept whole; a streamed one says so rather than guess.
		sha3 := modsigntest.SignModuleWith(t, mod, key, cert, modsigntest.SignOptions{Hash: crypto.SHA3_512})
		if v := verify.CheckModuleReaderWith("m.ko", bytes.NewReader(sha3), cert, verify.DefaultLimits()); !v.OK() {
			t.Errorf("%d bytes, sha3-512, whole: %s", size, v)
		}
		v := verify.CheckModuleReaderWith("m.ko", bytes.NewReader(sha3), cert, streamed)
		if int64(len(sha3)) > int64(streamed.Spool) && (v.Kind != verify.Invalid || !strings.Contains(v.Detail, "signed with SHA3-512") || !strings.Contains(v.Detail, "SHA-512, SHA-256")) {
			t.Errorf("%d bytes, sha3-512, streamed: %s", size, v)
		}
	}
}

// TestSignatureSizeCap: a sig_len over MaxSignatureSize is refused, whole or streamed,
// rather than held.
func TestSignatureSizeCap(t *testing.T) {
	_, cert := modsigntest.NewKey(t)
	blob := make([]byte, verify.MaxSignatureSize+1)
	module := trailer(bytes.Repeat([]byte("m"), 1<<20), blob, pkcs7Info(len(blob)))
	streamed := verify.DefaultLimits()
	streamed.Spool = 1 << 10
	for _, lim := range []verify.Limits{verify.DefaultLimits(), streamed} {
		v := verify.CheckModuleReaderWith("m.ko", bytes.NewReader(module), cert, lim)
		if v.Kind != verify.Invalid || !strings.Contains(v.Detail, "sig_len 65537 is more than the 65536 bytes") {
			t.Errorf("spool %d: %s", lim.Spool, v)
		}
	}
}

func BenchmarkCheckModuleReader(b *testing.B) {
	key, cert := modsigntest.NewKey(b)
	for _, size := range []int{4 << 20, 32 << 20} {
		mod := bytes.Repeat([]byte("module text "), size/12)
		signed := modsigntest.SignModule(b, mod, key, cert)
		for _, suffix := range []string{".ko", ".ko.gz"} {
			data := compressAs(b, suffix, signed)
			b.Run(fmt.Sprintf("%dMiB%s", size>>20, suffix), func(b *testing.B) {
				b.SetBytes(int64(len(signed)))
				b.ReportAllocs()
				for b.Loop() {
					if v := verify.CheckModuleReader("m"+suffix, bytes.NewReader(data), cert); !v.OK() {
						b.Fatal(v)
					}
				}
			})
		}
	}
}
