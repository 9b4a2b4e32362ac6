package verify_test

import (
	"archive/tar"
	"context"
	"crypto"
	"encoding/hex"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"

	"github.com/urmanac/sovos/executor/verify"
	"github.com/urmanac/sovos/internal/modsigntest"
)

// Each module's result names its signer as sign-file named it (issuer and serial, or
// subject key identifier with -k) and the digest its signature uses: what the
// module-signature attestation records. A link carries what it leads to; an unsigned
// module has neither.
func TestModuleSigner(t *testing.T) {
	key, cert := modsigntest.NewKey(t)
	otherKey, otherCert := modsigntest.NewKey(t)
	const dir = "lib/modules/extras/"
	img, err := mutate.AppendLayers(empty.Image, layer(t,
		entry{name: dir + "a.ko", body: modsigntest.SignModule(t, modsigntest.Module("a"), key, cert)},
		entry{name: dir + "b.ko", body: modsigntest.SignModuleWith(t, modsigntest.Module("b"), key, cert, modsigntest.SignOptions{KeyID: true, Hash: crypto.SHA256})},
		entry{name: dir + "c.ko", body: modsigntest.SignModule(t, modsigntest.Module("c"), otherKey, otherCert)},
		entry{name: dir + "d.ko", body: modsigntest.Module("d")},
		entry{name: dir + "e.ko", typeflag: tar.TypeSymlink, linkname: "b.ko"},
	))
	if err != nil {
		t.Fatal(err)
	}
	rep, err := verify.CheckImage(context.Background(), img, cert)
	if err != nil {
		t.Fatal(err)
	}
	type got struct {
		Path    string
		Verdict verify.Kind
		Signer  *verify.SignerID
		Hash    string
	}
	var results []got
	for _, m := range rep.Modules {
		results = append(results, got{m.Path, m.Verdict, m.Signer, m.HashAlgorithm})
	}
	issuerSerial := &verify.SignerID{Issuer: cert.Issuer.String(), Serial: "0x" + cert.SerialNumber.Text(16)}
	skid := &verify.SignerID{SubjectKeyID: hex.EncodeToString(cert.SubjectKeyId)}
	want := []got{
		{"/" + dir + "a.ko", verify.OK, issuerSerial, "sha512"},
		{"/" + dir + "b.ko", verify.OK, skid, "sha256"},
		{"/" + dir + "c.ko", verify.ForeignKey, &verify.SignerID{Issuer: otherCert.Issuer.String(), Serial: "0x" + otherCert.SerialNumber.Text(16)}, "sha512"},
		{"/" + dir + "d.ko", verify.Unsigned, nil, ""},
		{"/" + dir + "e.ko", verify.OK, skid, "sha256"},
	}
	if diff := cmp.Diff(want, results); diff != "" {
		t.Errorf("module results (-want +got):\n%s", diff)
	}
}
