package verify_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"hash/crc32"
	"runtime"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"

	"github.com/urmanac/sovos/executor/verify"
	"github.com/urmanac/sovos/internal/modsigntest"
)

// allocated returns how many bytes of heap fn allocated in all: an upper bound of the
// heap it needed at any moment, whatever the garbage collector did meanwhile.
func allocated(fn func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// gzipBomb is about 1 MiB of gzip that expands to 1 GiB of zeros. It is built rather
// than compressed (that takes seconds): after a sync flush, each further MiB of zeros
// compresses to the same bytes, so they are repeated, then a final empty block and the
// trailer are added.
func gzipBomb(t testing.TB) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		t.Fatal(err)
	}
	zeros := make([]byte, 1<<20)
	w.Write(zeros)
	w.Flush()
	a := buf.Len()
	w.Write(zeros)
	w.Flush()
	unit := bytes.Clone(buf.Bytes()[a:])
	out := bytes.Clone(buf.Bytes())
	crc := crc32.Update(crc32.Update(0, crc32.IEEETable, zeros), crc32.IEEETable, zeros)
	for range 1<<10 - 2 {
		out = append(out, unit...)
		crc = crc32.Update(crc, crc32.IEEETable, zeros)
	}
	out = append(out, 0x01, 0x00, 0x00, 0xff, 0xff) // final stored block, empty
	out = binary.LittleEndian.AppendUint32(out, crc)
	return binary.LittleEndian.AppendUint32(out, 1<<30) // ISIZE
}

// zstdWindowBomb is a zstd frame of a few bytes whose header asks for a 1 GiB window.
func zstdWindowBomb() []byte {
	frame := []byte{0x28, 0xb5, 0x2f, 0xfd, // magic
		0x00,       // frame header: no content size, not single-segment, no checksum, no dictionary
		20 << 3,    // window descriptor: 2^(10+20) = 1 GiB
		0x21, 0, 0, // last raw block of 4 bytes
		'o', 'o', 'p', 's'}
	return frame
}

// TestCheckImageBombs puts the decompression bombs of issue 12 in one extension image
// next to a good module and checks it under sovos's real caps: each bomb is a verdict
// naming it, the good module still passes, and the whole check allocates a few MiB
// where it used to allocate gigabytes.
func TestCheckImageBombs(t *testing.T) {
	key, cert := modsigntest.NewKey(t)
	const dir = "rootfs/usr/lib/modules/6.18.1/extras/"
	good := modsigntest.SignModule(t, modsigntest.Module("hailo1x_pci"), key, cert)
	img, err := mutate.AppendLayers(empty.Image, layer(t,
		entry{name: dir + "bomb.ko.gz", body: gzipBomb(t)},
		entry{name: dir + "dict.ko.xz", body: xzWithDict(t, []byte("tiny"), 40)},
		entry{name: dir + "window.ko.zst", body: zstdWindowBomb()},
		entry{name: dir + "hailo1x_pci.ko", body: good},
	))
	if err != nil {
		t.Fatal(err)
	}
	var rep *verify.Report
	n := allocated(func() { rep, err = verify.CheckImage(context.Background(), img, cert) })
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{
		"bomb.ko.gz":     {"invalid", "larger than 512 MiB decompressed"},
		"dict.ko.xz":     {"invalid", "asks for a 4 GiB dictionary, more than the 256 MiB sovos allows"},
		"window.ko.zst":  {"invalid", "zstd frame asks for a larger window", "256 MiB"},
		"hailo1x_pci.ko": {"ok"},
	}
	if len(rep.Modules) != len(want) {
		t.Fatalf("modules: %+v", rep.Modules)
	}
	for _, m := range rep.Modules {
		w := want[strings.TrimPrefix(m.Path, "/"+dir)]
		if w == nil || string(m.Verdict) != w[0] {
			t.Errorf("%s: %s (%s), want %v", m.Path, m.Verdict, m.Detail, w)
			continue
		}
		for _, s := range w[1:] {
			if !strings.Contains(m.Detail, s) {
				t.Errorf("%s: detail %q lacks %q", m.Path, m.Detail, s)
			}
		}
	}
	if rep.OK {
		t.Error("an image with bombs passed")
	}
	// 8 MiB held of the gzip bomb before it streams, plus the decompressors' state;
	// before the caps this check allocated 2.6 GB for the gzip bomb and 4 GiB for the xz one.
	if n > 32<<20 {
		t.Errorf("checking the bombs allocated %d MiB, want at most 32", n>>20)
	}
	t.Logf("checking the image allocated %.1f MiB", float64(n)/(1<<20))
}

// TestModuleCaps checks each cap under small limits, so each bomb is cheap: the module
// over the cap is invalid, at the cap it passes.
func TestModuleCaps(t *testing.T) {
	key, cert := modsigntest.NewKey(t)
	lim := verify.Limits{Module: 1 << 20, Dict: 1 << 20, Spool: 64 << 10}
	fits := modsigntest.SignModule(t, bytes.Repeat([]byte{0}, 1<<20-2000), key, cert)
	over := append(bytes.Repeat([]byte{0}, 2000), fits...)
	if len(fits) > 1<<20 || len(over) <= 1<<20 {
		t.Fatalf("test modules of %d and %d bytes", len(fits), len(over))
	}
	for _, suffix := range []string{".ko", ".ko.gz", ".ko.xz", ".ko.zst"} {
		if v := verify.CheckModuleReaderWith("m"+suffix, bytes.NewReader(compressAs(t, suffix, fits)), cert, lim); !v.OK() {
			t.Errorf("%s at the cap: %s", suffix, v)
		}
		v := verify.CheckModuleReaderWith("m"+suffix, bytes.NewReader(compressAs(t, suffix, over)), cert, lim)
		if v.Kind != verify.Invalid || !strings.Contains(v.Detail, "larger than 1 MiB decompressed") {
			t.Errorf("%s over the cap: %s", suffix, v)
		}
	}
	// A dictionary of 2 MiB against a 1 MiB cap; 1 MiB (what kbuild uses) passes.
	if v := verify.CheckModuleReaderWith("m.ko.xz", bytes.NewReader(xzWithDict(t, fits, 18)), cert, lim); v.Kind != verify.Invalid || !strings.Contains(v.Detail, "2 MiB dictionary, more than the 1 MiB") {
		t.Errorf("xz dictionary over the cap: %s", v)
	}
	if v := verify.CheckModuleReaderWith("m.ko.xz", bytes.NewReader(xzWithDict(t, fits, 16)), cert, lim); !v.OK() {
		t.Errorf("xz dictionary at the cap: %s", v)
	}

	// A module file larger than the cap is refused from its tar header, unread.
	img, err := mutate.AppendLayers(empty.Image, layer(t, entry{name: "big.ko", body: over}))
	if err != nil {
		t.Fatal(err)
	}
	rep, err := verify.CheckImageWith(context.Background(), img, cert, lim)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Modules) != 1 || rep.Modules[0].Verdict != verify.Invalid || !strings.Contains(rep.Modules[0].Detail, "more than the 1 MiB sovos reads") {
		t.Errorf("a module file over the cap: %+v", rep.Modules)
	}
}
