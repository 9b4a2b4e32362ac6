package verify_test

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/pem"
	"io"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/urmanac/sovos/executor/verify"
	"github.com/urmanac/sovos/internal/modsigntest"
	"github.com/urmanac/sovos/internal/oci"
	"github.com/urmanac/sovos/internal/testenv"
	"github.com/urmanac/sovos/state"
)

type entry struct {
	name     string
	body     []byte
	typeflag byte
	linkname string
}

func layer(t testing.TB, entries ...entry) v1.Layer {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		hdr := &tar.Header{Name: e.name, Mode: 0o644, Size: int64(len(e.body)), Typeflag: e.typeflag, Linkname: e.linkname}
		switch e.typeflag {
		case 0:
			hdr.Typeflag = tar.TypeReg
		case tar.TypeDir:
			hdr.Mode = 0o755
		}
		if hdr.Typeflag != tar.TypeReg {
			hdr.Size = 0
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if hdr.Typeflag == tar.TypeReg {
			if _, err := tw.Write(e.body); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	data := buf.Bytes()
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil })
	if err != nil {
		t.Fatal(err)
	}
	return l
}

const manifestYAML = `version: v1alpha1
metadata:
  name: hailort
  version: 4.23.0
  author: sovos test
  description: Hailo runtime
  compatibility:
    talos:
      version: ">= v1.13.0"
`

func TestCheckRef(t *testing.T) {
	key, cert := modsigntest.NewKey(t)
	otherKey, otherCert := modsigntest.NewKey(t)
	const dir = "rootfs/usr/lib/modules/6.18.1/extras/"
	good := modsigntest.SignModule(t, modsigntest.Module("hailo1x_pci"), key, cert)
	foreign := modsigntest.SignModule(t, modsigntest.Module("hailo_foreign"), otherKey, otherCert)

	base := layer(t,
		entry{name: "manifest.yaml", body: []byte(manifestYAML)},
		entry{name: "rootfs/", typeflag: tar.TypeDir},
		entry{name: dir + "hailo1x_pci.ko", body: good},
		entry{name: dir + "hailo_foreign.ko", body: foreign},
		entry{name: dir + "stale.ko", body: foreign}, // whited out by the next layer
		entry{name: dir + "unsigned.ko.xz", body: []byte("not xz")},
		entry{name: dir + "link.ko", typeflag: tar.TypeSymlink, linkname: "hailo_foreign.ko"},
		entry{name: dir + "modules.dep", body: []byte("hailo1x_pci.ko:\n")},
	)
	top := layer(t,
		entry{name: dir + ".wh.stale.ko"},
		entry{name: dir + "hard.ko", typeflag: tar.TypeLink, linkname: dir + "hailo1x_pci.ko"},
	)
	img, err := mutate.AppendLayers(empty.Image, base, top)
	if err != nil {
		t.Fatal(err)
	}

	host := testenv.MemRegistry(t)
	ref := host + "/extensions/hailort:test"
	r, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(r, img); err != nil {
		t.Fatal(err)
	}

	reg := oci.New(oci.WithInsecure(host))
	rep, err := verify.CheckRef(context.Background(), reg, ref, "", cert)
	if err != nil {
		t.Fatal(err)
	}
	got := make([]state.ModuleVerdict, 0, len(rep.Modules))
	for _, m := range rep.StateVerdicts() {
		got = append(got, state.ModuleVerdict{Path: m.Path, Verdict: m.Verdict}) // details are checked below
	}
	want := []state.ModuleVerdict{
		{Path: "/" + dir + "hailo1x_pci.ko", Verdict: "ok"},
		{Path: "/" + dir + "hailo_foreign.ko", Verdict: "foreign_key"},
		{Path: "/" + dir + "hard.ko", Verdict: "ok"},
		{Path: "/" + dir + "link.ko", Verdict: "foreign_key"}, // followed to hailo_foreign.ko
		{Path: "/" + dir + "unsigned.ko.xz", Verdict: "invalid"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("verdicts (-want +got):\n%s", diff)
	}
	if d, _ := img.Digest(); rep.Digest != d.String() {
		t.Errorf("Digest = %q, want %q", rep.Digest, d)
	}
	if rep.OK || rep.NoModules {
		t.Errorf("OK = %v, NoModules = %v; want false, false", rep.OK, rep.NoModules)
	}
	if len(rep.Problems()) != 3 {
		t.Errorf("Problems() = %v, want the foreign module, the link to it and the broken module", rep.Problems())
	}
	if d := rep.Modules[1].Detail; !strings.Contains(d, "serial 0x"+otherCert.SerialNumber.Text(16)) {
		t.Errorf("foreign module detail %q does not name the other key", d)
	}
	if rep.TalosCompatibility != ">= v1.13.0" || rep.Manifest == nil || rep.Manifest.Metadata.Name != "hailort" {
		t.Errorf("manifest = %+v, compatibility %q", rep.Manifest, rep.TalosCompatibility)
	}

	// Only good modules: OK.
	clean, err := mutate.AppendLayers(empty.Image, layer(t, entry{name: dir + "hailo1x_pci.ko", body: good}))
	if err != nil {
		t.Fatal(err)
	}
	rep, err = verify.CheckImage(context.Background(), clean, cert)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK || rep.NoModules || len(rep.Modules) != 1 || rep.Manifest != nil {
		t.Errorf("clean image: %+v", rep)
	}

	// No modules at all: OK, but said.
	rep, err = verify.CheckImage(context.Background(), empty.Image, cert)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK || !rep.NoModules {
		t.Errorf("empty image: OK = %v, NoModules = %v; want true, true", rep.OK, rep.NoModules)
	}

	// A reference that does not exist is an error, not a report.
	if _, err := verify.CheckRef(context.Background(), reg, host+"/extensions/missing:test", "", cert); err == nil {
		t.Error("CheckRef of a missing image: no error")
	}
}

func TestCheckImageCanceled(t *testing.T) {
	_, cert := modsigntest.NewKey(t)
	img, err := mutate.AppendLayers(empty.Image, layer(t, entry{name: "a.ko", body: []byte("x")}))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := verify.CheckImage(ctx, img, cert); err == nil {
		t.Error("CheckImage with a canceled context: no error")
	}
}

func TestCertificateFromImage(t *testing.T) {
	_, cert := modsigntest.NewKey(t)
	pemCert := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})
	img, err := mutate.AppendLayers(empty.Image,
		layer(t,
			entry{name: "src/certs/", typeflag: tar.TypeDir},
			entry{name: "src/certs/signing_key.x509", body: cert.Raw},
			entry{name: "src/certs/signing_key.pem", body: pemCert},
			entry{name: "src/certs/old.x509", body: cert.Raw},
			entry{name: "src/certs/link.x509", typeflag: tar.TypeSymlink, linkname: "signing_key.x509"},
			entry{name: "src/certs/garbage", body: []byte("nope")},
		),
		layer(t, entry{name: "src/certs/.wh.old.x509"}))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/src/certs/signing_key.x509", "src/certs/signing_key.pem", "./src/certs/signing_key.x509"} {
		got, err := verify.CertificateFromImage(context.Background(), img, p)
		if err != nil {
			t.Errorf("%s: %v", p, err)
		} else if !got.Equal(cert) {
			t.Errorf("%s: another certificate", p)
		}
	}
	for p, want := range map[string]string{
		"/src/certs/old.x509":  "no such file",
		"/src/certs/missing":   "no such file",
		"/src/certs/link.x509": "symbolic link",
		"/src/certs":           "not a regular file",
		"/src/certs/garbage":   "/src/certs/garbage: certificate:",
	} {
		_, err := verify.CertificateFromImage(context.Background(), img, p)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want one saying %q", p, err, want)
		}
	}
}
