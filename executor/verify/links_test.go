package verify_test

import (
	"archive/tar"
	"context"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"

	"github.com/urmanac/sovos/executor/verify"
	"github.com/urmanac/sovos/internal/modsigntest"
)

// TestCheckImageLinks: a link named like a module is followed inside the image, however
// it gets there, and what it leads to is checked under the link's name; one that leads
// nowhere checkable fails, naming the link.
func TestCheckImageLinks(t *testing.T) {
	key, cert := modsigntest.NewKey(t)
	_, otherCert := modsigntest.NewKey(t)
	good := modsigntest.SignModule(t, modsigntest.Module("good"), key, cert)
	unsigned := modsigntest.Module("evil")
	const d = "rootfs/usr/lib/modules/6.18.1/extras/"
	sym := func(name, target string) entry { return entry{name: name, typeflag: tar.TypeSymlink, linkname: target} }

	base := layer(t,
		entry{name: "rootfs/", typeflag: tar.TypeDir},
		entry{name: "rootfs/lib/firmware/unsigned.bin", body: unsigned},
		entry{name: "rootfs/lib/firmware/good.bin", body: good},
		entry{name: "rootfs/lib/firmware/good.xz", body: compressAs(t, ".ko.xz", good)},
		entry{name: "rootfs/lib/firmware/gone.bin", body: good},
		entry{name: "etc/escaped.bin", body: unsigned},
		entry{name: d + "real.ko", body: good},
		sym("rootfs/usr/lib/alias", "modules/6.18.1/extras"), // a directory link on the way
		// The hostile case of issue 12: verification used to skip it and pass.
		sym(d+"evil.ko", "../../../../../lib/firmware/unsigned.bin"),
		sym(d+"absolute.ko", "/rootfs/lib/firmware/good.bin"),
		sym(d+"chain.ko", "hop1"),
		sym(d+"hop1", "hop2"),
		sym(d+"hop2", "/rootfs/usr/lib/alias/real.ko"),
		sym(d+"via-dir.ko", "../../../alias/real.ko"),
		sym(d+"compressed.ko.xz", "/rootfs/lib/firmware/good.xz"),
		sym(d+"plain-of-xz.ko", "/rootfs/lib/firmware/good.xz"),          // the same file, read plain
		sym(d+"escape.ko", "../../../../../../../../../etc/escaped.bin"), // ".." stops at the root
		sym(d+"host.ko", "/etc/hostname"),                                // never the host's
		sym(d+"dangling.ko", "missing.ko"),
		sym(d+"whited-out.ko", "/rootfs/lib/firmware/gone.bin"),
		sym(d+"loop.ko", "loop.ko"),
		sym(d+"ping.ko", "pong.ko"),
		sym(d+"pong.ko", "ping.ko"),
		sym(d+"dir.ko", "/rootfs/lib"),
		sym(d+"empty.ko", ""),
		entry{name: d + "hard-unsigned.ko", typeflag: tar.TypeLink, linkname: "rootfs/lib/firmware/unsigned.bin"},
	)
	top := layer(t, entry{name: "rootfs/lib/firmware/.wh.gone.bin"})
	img, err := mutate.AppendLayers(empty.Image, base, top)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := verify.CheckImage(context.Background(), img, cert)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{
		"real.ko":          {"ok"},
		"evil.ko":          {"unsigned", "symbolic link to /rootfs/lib/firmware/unsigned.bin: no module signature appended"},
		"absolute.ko":      {"ok", "symbolic link to /rootfs/lib/firmware/good.bin"},
		"chain.ko":         {"ok", "symbolic link to /" + d + "real.ko"},
		"via-dir.ko":       {"ok", "symbolic link to /" + d + "real.ko"},
		"compressed.ko.xz": {"ok", "symbolic link to /rootfs/lib/firmware/good.xz"},
		"plain-of-xz.ko":   {"unsigned"},
		"escape.ko":        {"unsigned", "symbolic link to /etc/escaped.bin"},
		"host.ko":          {"invalid", "symbolic link to /etc/hostname: no such file in the image (a dangling link)"},
		"dangling.ko":      {"invalid", "symbolic link to /" + d + "missing.ko: no such file in the image"},
		"whited-out.ko":    {"invalid", "no such file in the image"},
		"loop.ko":          {"invalid", "symbolic link to loop.ko: more than 40 links on the way (a loop?)"},
		"ping.ko":          {"invalid", "a loop"},
		"pong.ko":          {"invalid", "a loop"},
		"dir.ko":           {"invalid", "symbolic link to /rootfs/lib: not a file (a directory)"},
		"empty.ko":         {"invalid", "empty target"},
		"hard-unsigned.ko": {"unsigned", "hard link to /rootfs/lib/firmware/unsigned.bin"},
	}
	got := map[string]verify.ModuleResult{}
	for _, m := range rep.Modules {
		got[strings.TrimPrefix(m.Path, "/"+d)] = m
	}
	for name, w := range want {
		m, ok := got[name]
		if !ok {
			t.Errorf("%s: not in the report", name)
			continue
		}
		if string(m.Verdict) != w[0] {
			t.Errorf("%s: %s (%s), want %s", name, m.Verdict, m.Detail, w[0])
		}
		for _, s := range w[1:] {
			if !strings.Contains(m.Detail, s) {
				t.Errorf("%s: detail %q lacks %q", name, m.Detail, s)
			}
		}
	}
	if len(rep.Modules) != len(want) {
		t.Errorf("%d modules reported, want %d: %+v", len(rep.Modules), len(want), rep.Modules)
	}
	if rep.OK || rep.NoModules {
		t.Errorf("OK = %v, NoModules = %v", rep.OK, rep.NoModules)
	}

	// An image whose only module is a link to an unsigned file fails; it used to pass
	// with "no modules". Against another key, the good target is a foreign module.
	only, err := mutate.AppendLayers(empty.Image, layer(t,
		entry{name: "rootfs/lib/firmware/unsigned.bin", body: unsigned},
		sym(d+"evil.ko", "/rootfs/lib/firmware/unsigned.bin")))
	if err != nil {
		t.Fatal(err)
	}
	rep, err = verify.CheckImage(context.Background(), only, cert)
	if err != nil {
		t.Fatal(err)
	}
	if rep.OK || rep.NoModules || len(rep.Problems()) != 1 || rep.Problems()[0].Path != "/"+d+"evil.ko" {
		t.Errorf("a lone symlinked unsigned module: %+v", rep)
	}
	rep, err = verify.CheckImage(context.Background(), img, otherCert)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range rep.Modules {
		if strings.HasSuffix(m.Path, "/absolute.ko") && m.Verdict != verify.ForeignKey {
			t.Errorf("absolute.ko against another key: %s (%s)", m.Verdict, m.Detail)
		}
	}
}

// TestCheckImageLayers: the layers are flattened as the OCI image spec says: a whiteout
// removes a file from the layers below, an opaque marker empties a directory of them, a
// file replaces a directory; a link to a removed file dangles.
func TestCheckImageLayers(t *testing.T) {
	_, cert := modsigntest.NewKey(t)
	seed := imageSeeds(t)["whiteouts"]
	img, err := mutate.AppendLayers(empty.Image, rawLayer(t, seed[0]), rawLayer(t, seed[1]))
	if err != nil {
		t.Fatal(err)
	}
	rep, err := verify.CheckImage(context.Background(), img, cert)
	if err != nil {
		t.Fatal(err)
	}
	const d = "/rootfs/usr/lib/modules/6.18.1/extras/"
	want := map[string]verify.Kind{
		d + "b.ko":                   verify.Unsigned,
		d + "sub/new.ko":             verify.Unsigned, // sub/c.ko is below an opaque marker
		d + "to-a.ko":                verify.Invalid,  // a.ko is whited out
		"/rootfs/file-then-dir/x.ko": verify.Unsigned,
		// rootfs/other/d.ko: its directory is whited out; rootfs/dir-then-file/e.ko:
		// its directory is replaced by a file.
	}
	got := map[string]verify.Kind{}
	for _, m := range rep.Modules {
		got[m.Path] = m.Verdict
	}
	if len(got) != len(want) {
		t.Errorf("modules %v, want %v", got, want)
	}
	for p, k := range want {
		if got[p] != k {
			t.Errorf("%s: %q, want %q", p, got[p], k)
		}
	}
	if rep.Manifest == nil || rep.TalosCompatibility != ">= v1.13.0" {
		t.Errorf("manifest %+v", rep.Manifest)
	}
}
