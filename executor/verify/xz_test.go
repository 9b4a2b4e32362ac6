package verify_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ulikunitz/xz"

	"github.com/urmanac/sovos/executor/verify"
)

// xzPlain is what the files in testdata/xz hold, made by xz 5.4 from it:
//
//	kernel.xz        xz --check=crc32 --lzma2=dict=1MiB (what kbuild compresses modules with)
//	blocks.xz        xz --check=sha256 --block-size=50000 (five blocks)
//	nocheck.xz       xz --check=none -e
//	concatenated.xz  kernel.xz, 8 bytes of stream padding, blocks.xz
//	bcj.xz           xz --x86 --lzma2=dict=1MiB (a BCJ filter, which modules never use)
func xzPlain() []byte {
	var b strings.Builder
	for i := range 4000 {
		fmt.Fprintf(&b, "module text line %d of a stand-in for a kernel module\n", i)
	}
	return []byte(b.String())
}

func TestXZ(t *testing.T) {
	plain := xzPlain()
	lim := verify.DefaultLimits()
	for file, want := range map[string][]byte{
		"kernel.xz": plain, "blocks.xz": plain, "nocheck.xz": plain,
		"concatenated.xz": append(append([]byte{}, plain...), plain...),
	} {
		data, err := os.ReadFile(filepath.Join("testdata", "xz", file))
		if err != nil {
			t.Fatal(err)
		}
		got, err := verify.Decompress("m.ko.xz", data, lim)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s: %d bytes, %v; want %d bytes", file, len(got), err, len(want))
		}
		// Every truncation and every flipped byte is an error, never a panic or a hang.
		for _, n := range []int{0, 5, 12, 13, len(data) / 2, len(data) - 13, len(data) - 1} {
			if _, err := verify.Decompress("m.ko.xz", data[:n], lim); err == nil {
				t.Errorf("%s cut to %d bytes: no error", file, n)
			}
		}
		// Every byte of the headers, then a sample: each try allocates a dictionary.
		for i := 0; i < len(data); i += max(1, min(i/8, 127)) {
			bad := bytes.Clone(data)
			bad[i] ^= 0x21
			if got, err := verify.Decompress("m.ko.xz", bad, lim); err == nil && !bytes.Equal(got, want) {
				t.Errorf("%s with byte %d flipped: wrong data and no error", file, i)
			}
		}
	}

	// ulikunitz/xz's writer, with each check type.
	for _, check := range []byte{xz.None, xz.CRC32, xz.CRC64, xz.SHA256} {
		var buf bytes.Buffer
		w, err := xz.WriterConfig{CheckSum: check, NoCheckSum: check == xz.None, BlockSize: 100000}.NewWriter(&buf)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(plain)
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if got, err := verify.Decompress("m.ko.xz", buf.Bytes(), lim); err != nil || !bytes.Equal(got, plain) {
			t.Errorf("check %#x: %d bytes, %v", check, len(got), err)
		}
	}

	bcj, err := os.ReadFile(filepath.Join("testdata", "xz", "bcj.xz"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := verify.Decompress("m.ko.xz", bcj, lim); err == nil || !strings.Contains(err.Error(), "filter 0x4 is not supported") {
		t.Errorf("a BCJ filter: %v", err)
	}
	if _, err := verify.Decompress("m.ko.xz", []byte("not xz at all"), lim); err == nil || !strings.Contains(err.Error(), "not an xz file") {
		t.Errorf("not xz: %v", err)
	}
}

// xzWithDict returns data compressed by xz with its first block header patched to ask
// for the dictionary size byte b (40 is 4 GiB): a valid file, whatever the reader's cap.
func xzWithDict(t testing.TB, data []byte, b byte) []byte {
	t.Helper()
	out := compressAs(t, ".ko.xz", data)
	hlen := (int(out[12]) + 1) * 4
	h := out[12 : 12+hlen]
	i := bytes.Index(h, []byte{0x21, 0x01}) // LZMA2, one byte of properties
	if i < 0 {
		t.Fatal("no LZMA2 filter in the block header")
	}
	h[i+2] = b
	binary.LittleEndian.PutUint32(h[hlen-4:], crc32.ChecksumIEEE(h[:hlen-4]))
	return out
}

func TestXZDictionaryCap(t *testing.T) {
	lim := verify.DefaultLimits()
	for b, want := range map[byte]string{40: "4 GiB dictionary", 39: "3 GiB dictionary", 34: "512 MiB dictionary"} {
		_, err := verify.Decompress("m.ko.xz", xzWithDict(t, []byte("tiny"), b), lim)
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "256 MiB") {
			t.Errorf("dictionary byte %d: %v, want an error naming the %s and the cap", b, err, want)
		}
	}
	// Under the cap it decodes (18 is 2 MiB: the patch alone does not break the file).
	if got, err := verify.Decompress("m.ko.xz", xzWithDict(t, []byte("tiny"), 18), lim); err != nil || string(got) != "tiny" {
		t.Errorf("a 2 MiB dictionary: %q, %v", got, err)
	}
}
