package verify_test

import (
	"testing"

	"github.com/urmanac/sovos/executor/verify"
	"github.com/urmanac/sovos/internal/modsigntest"
)

// The fuzz targets start from real signatures of both signer forms and broken ones, and
// check the one promise that matters on hostile input: a verdict, never a panic.
//
//	go test ./executor/verify -run '^$' -fuzz FuzzCheckModule -fuzztime 30s
//	go test ./executor/verify -run '^$' -fuzz FuzzParse -fuzztime 30s

func FuzzCheckModule(f *testing.F) {
	key, cert := modsigntest.NewKey(f)
	mod := []byte("\x7fELF tiny module")
	for _, s := range [][]byte{
		modsigntest.SignModule(f, mod, key, cert),
		modsigntest.SignModuleWith(f, mod, key, cert, modsigntest.SignOptions{KeyID: true}),
		mod,
		[]byte(verify.Magic),
		append([]byte{0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 4}, verify.Magic...),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		v := verify.CheckModule(data, cert)
		switch v.Kind {
		case verify.OK, verify.Unsigned, verify.ForeignKey, verify.Invalid:
		default:
			t.Fatalf("unknown verdict %q", v.Kind)
		}
		if v.Kind != verify.OK && v.Detail == "" {
			t.Fatalf("verdict %s without detail", v.Kind)
		}
		for _, name := range []string{"m.ko.xz", "m.ko.zst", "m.ko.gz"} {
			verify.CheckModuleFile(name, data, cert)
		}
	})
}

// FuzzParse feeds both the trailer parser and the PKCS#7 parser: seeds are bare DER
// blobs and whole signed modules.
func FuzzParse(f *testing.F) {
	key, cert := modsigntest.NewKey(f)
	ekey, ecert := modsigntest.NewECKey(f)
	for _, opts := range []modsigntest.SignOptions{{}, {KeyID: true}} {
		der, err := modsigntest.SignPKCS7([]byte("content"), key, cert, opts)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(der)
		f.Add(modsigntest.SignModuleWith(f, []byte("content"), key, cert, opts))
		der, err = modsigntest.SignPKCS7([]byte("content"), ekey, ecert, opts)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(der)
	}
	f.Fuzz(func(t *testing.T, der []byte) {
		if sig, err := verify.Parse(der); err == nil {
			if len(sig.Content)+len(sig.PKCS7) >= len(der) || len(sig.Signers) == 0 {
				t.Fatalf("Parse split %d bytes into %d + %d with %d signers", len(der), len(sig.Content), len(sig.PKCS7), len(sig.Signers))
			}
		}
		signers, err := verify.ParsePKCS7(der)
		if err != nil {
			return
		}
		if len(signers) == 0 {
			t.Fatal("ParsePKCS7 returned no signer and no error")
		}
		for _, s := range signers {
			_ = s.Signer.String()
			_ = s.Signer.Matches(cert)
		}
	})
}
