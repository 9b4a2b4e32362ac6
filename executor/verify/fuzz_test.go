package verify_test

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/urmanac/sovos/executor/verify"
	"github.com/urmanac/sovos/internal/modsigntest"
	"github.com/urmanac/sovos/internal/testenv"
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

// fuzzLimits keep each fuzzed check small: what the caps guard is tested in caps_test.go.
var fuzzLimits = verify.Limits{Module: 256 << 10, Dict: 1 << 20, Spool: 16 << 10}

// FuzzCheckImage feeds the image walk two layers of arbitrary tar bytes: whiteouts and
// opaque directories across the layers, links of every kind, hostile headers, broken and
// bombing compressed modules. The seeds in testdata/fuzz/FuzzCheckImage are made by
// imageSeeds (go test -run TestImageSeeds -update rewrites them). Whatever the input, the
// walk gives a report or an error, promptly, and the report is consistent.
//
//	go test ./executor/verify -run '^$' -fuzz FuzzCheckImage -fuzztime 30s
func FuzzCheckImage(f *testing.F) {
	key, cert := modsigntest.NewKey(f)
	good := modsigntest.SignModule(f, modsigntest.Module("good"), key, cert)
	f.Add(tarOf(f, tarEntry{name: "rootfs/m/good.ko", body: good},
		tarEntry{name: "rootfs/m/link.ko", typeflag: tar.TypeSymlink, linkname: "good.ko"},
		tarEntry{name: "rootfs/m/blob", body: good},
		tarEntry{name: "rootfs/m/blob.ko.gz", typeflag: tar.TypeSymlink, linkname: "blob"}),
		tarOf(f, tarEntry{name: "rootfs/m/.wh.blob"}))
	f.Fuzz(func(t *testing.T, lower, upper []byte) {
		img, err := mutate.AppendLayers(empty.Image, rawLayer(t, lower), rawLayer(t, upper))
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		rep, err := verify.CheckImageWith(context.Background(), img, cert, fuzzLimits)
		if d := time.Since(start); d > 10*time.Second {
			t.Fatalf("checking %d+%d bytes of layers took %v", len(lower), len(upper), d)
		}
		if err != nil {
			if err.Error() == "" {
				t.Fatal("an empty error")
			}
			return
		}
		seen := map[string]bool{}
		for i, m := range rep.Modules {
			if i > 0 && rep.Modules[i-1].Path >= m.Path {
				t.Fatalf("modules not sorted or repeated: %q then %q", rep.Modules[i-1].Path, m.Path)
			}
			if seen[m.Path] || m.Path != path.Clean(m.Path) || !strings.HasPrefix(m.Path, "/") || !verify.IsModule(m.Path) {
				t.Fatalf("bad module path %q", m.Path)
			}
			seen[m.Path] = true
			switch m.Verdict {
			case verify.OK, verify.Unsigned, verify.ForeignKey, verify.Invalid:
			default:
				t.Fatalf("%s: unknown verdict %q", m.Path, m.Verdict)
			}
			if m.Verdict != verify.OK && m.Detail == "" {
				t.Fatalf("%s: verdict %s without detail", m.Path, m.Verdict)
			}
		}
		if rep.OK != (len(rep.Problems()) == 0) || rep.NoModules != (len(rep.Modules) == 0) {
			t.Fatalf("OK = %v with %d problems, NoModules = %v with %d modules", rep.OK, len(rep.Problems()), rep.NoModules, len(rep.Modules))
		}
	})
}

// rawLayer is a layer whose uncompressed content is data, tar or not.
func rawLayer(t testing.TB, data []byte) v1.Layer {
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil })
	if err != nil {
		t.Fatal(err)
	}
	return l
}

type tarEntry struct {
	name     string
	body     []byte
	typeflag byte
	linkname string
	size     int64 // the header's size when not len(body)
}

func tarOf(t testing.TB, entries ...tarEntry) []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		hdr := &tar.Header{Name: e.name, Mode: 0o644, Typeflag: e.typeflag, Linkname: e.linkname, Size: int64(len(e.body)), Format: tar.FormatPAX}
		if hdr.Typeflag == 0 {
			hdr.Typeflag = tar.TypeReg
		}
		if hdr.Typeflag != tar.TypeReg {
			hdr.Size = 0
		}
		if e.size != 0 {
			hdr.Size = e.size
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		tw.Write(e.body)
		if e.size != 0 {
			return buf.Bytes() // a truncated archive
		}
	}
	tw.Close()
	return buf.Bytes()
}

// imageSeeds are the hostile images the fuzzing starts from, by name: two layers each.
func imageSeeds(t testing.TB) map[string][2][]byte {
	sym := func(name, target string) tarEntry {
		return tarEntry{name: name, typeflag: tar.TypeSymlink, linkname: target}
	}
	hard := func(name, target string) tarEntry {
		return tarEntry{name: name, typeflag: tar.TypeLink, linkname: target}
	}
	unsigned := []byte("\x7fELF an unsigned module")
	gz := compressAs(t, ".ko.gz", unsigned)
	xzm := compressAs(t, ".ko.xz", unsigned)
	const d = "rootfs/usr/lib/modules/6.18.1/extras/"
	return map[string][2][]byte{
		"empty": {nil, nil},
		"symlinked-unsigned": {tarOf(t,
			tarEntry{name: "rootfs/lib/firmware/unsigned.bin", body: unsigned},
			sym(d+"evil.ko", "../../../../../lib/firmware/unsigned.bin"),
			sym(d+"abs.ko", "/rootfs/lib/firmware/unsigned.bin"),
			hard(d+"hard.ko", "rootfs/lib/firmware/unsigned.bin")), tarOf(t)},
		"whiteouts": {tarOf(t,
			tarEntry{name: "manifest.yaml", body: []byte("version: v1alpha1\nmetadata:\n  name: x\n  compatibility:\n    talos:\n      version: '>= v1.13.0'\n")},
			tarEntry{name: d + "a.ko", body: unsigned},
			tarEntry{name: d + "b.ko", body: unsigned},
			tarEntry{name: d + "sub/c.ko", body: unsigned},
			tarEntry{name: "rootfs/other/d.ko", body: unsigned},
			tarEntry{name: "rootfs/file-then-dir", body: unsigned},
			tarEntry{name: "rootfs/dir-then-file/e.ko", body: unsigned},
			sym(d+"to-a.ko", "a.ko")),
			tarOf(t,
				tarEntry{name: d + ".wh.a.ko"},
				tarEntry{name: d + "sub/.wh..wh..opq"},
				tarEntry{name: d + "sub/new.ko", body: unsigned},
				tarEntry{name: "rootfs/.wh.other"},
				tarEntry{name: "rootfs/file-then-dir/x.ko", body: unsigned},
				tarEntry{name: "rootfs/dir-then-file", body: unsigned})},
		"loops": {tarOf(t,
			sym(d+"self.ko", "self.ko"),
			sym(d+"ping.ko", "pong.ko"),
			sym(d+"pong.ko", "ping.ko"),
			sym("rootfs/dirloop", "dirloop/x"),
			sym(d+"via.ko", "/rootfs/dirloop/y.ko"),
			hard(d+"hardself.ko", d+"hardself.ko"),
			sym(d+"dangling.ko", "nowhere.ko"),
			sym(d+"empty.ko", ""),
			sym(d+"dir.ko", "/rootfs")), nil},
		"escaping": {tarOf(t,
			tarEntry{name: "etc/unsigned.bin", body: unsigned},
			sym(d+"up.ko", "../../../../../../../../../../etc/unsigned.bin"),
			sym(d+"host.ko", "/etc/hostname"),
			hard(d+"hardup.ko", "../../etc/unsigned.bin"),
			tarEntry{name: "../../outside.ko", body: unsigned},
			tarEntry{name: "/absolute.ko", body: unsigned},
			tarEntry{name: "./a/../../b.ko", body: unsigned}), nil},
		"hostile-headers": {tarOf(t,
			tarEntry{name: strings.Repeat("deep/", 2000) + "long.ko", body: unsigned},
			sym(d+"longlink.ko", strings.Repeat("x/", 3000)),
			tarEntry{name: d + "\xff\xfe.ko", body: unsigned},
			tarEntry{name: d + "fifo.ko", typeflag: tar.TypeFifo},
			tarEntry{name: d + "char.ko", typeflag: tar.TypeChar},
			tarEntry{name: d + "dir.ko/", typeflag: tar.TypeDir}), nil},
		"truncated": {tarOf(t, tarEntry{name: d + "truncated.ko", body: unsigned[:10], size: 1 << 20}),
			[]byte("not a tar archive at all")},
		"compressed": {tarOf(t,
			tarEntry{name: d + "m.ko.gz", body: gz},
			tarEntry{name: d + "m.ko.xz", body: xzm},
			tarEntry{name: d + "m.ko.zst", body: compressAs(t, ".ko.zst", unsigned)},
			tarEntry{name: d + "cut.ko.gz", body: gz[:len(gz)/2]},
			tarEntry{name: d + "cut.ko.xz", body: xzm[:len(xzm)-7]},
			tarEntry{name: d + "dict.ko.xz", body: xzWithDict(t, []byte("tiny"), 40)},
			tarEntry{name: d + "window.ko.zst", body: zstdWindowBomb()},
			tarEntry{name: "rootfs/blob", body: xzm},
			sym(d+"blob.ko.xz", "/rootfs/blob"),
			sym(d+"blob.ko", "/rootfs/blob")), nil},
	}
}

// TestImageSeeds keeps testdata/fuzz/FuzzCheckImage in step with imageSeeds; -update
// rewrites it. The seeds are also run by every `go test` as FuzzCheckImage's corpus.
func TestImageSeeds(t *testing.T) {
	for name, layers := range imageSeeds(t) {
		testenv.Golden(t, filepath.Join("testdata", "fuzz", "FuzzCheckImage", name),
			fmt.Appendf(nil, "go test fuzz v1\n[]byte(%q)\n[]byte(%q)\n", layers[0], layers[1]))
	}
}
