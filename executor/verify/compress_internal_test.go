package verify

import (
	"bytes"
	"compress/gzip"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
)

// TestDecompressBound checks that a small compressed file that expands past the limit
// is refused rather than read into memory whole.
func TestDecompressBound(t *testing.T) {
	const limit = 1 << 20
	zeros := make([]byte, 4*limit)
	var gz, xzb bytes.Buffer
	gw := gzip.NewWriter(&gz)
	gw.Write(zeros)
	gw.Close()
	xw, err := xz.NewWriter(&xzb)
	if err != nil {
		t.Fatal(err)
	}
	xw.Write(zeros)
	xw.Close()
	zw, err := zstd.NewWriter(nil)
	if err != nil {
		t.Fatal(err)
	}
	zst := zw.EncodeAll(zeros, nil)
	zw.Close()

	for name, data := range map[string][]byte{"a.ko.gz": gz.Bytes(), "a.ko.xz": xzb.Bytes(), "a.ko.zst": zst, "a.ko": zeros} {
		if len(data) > limit && name != "a.ko" {
			t.Fatalf("%s: test input does not compress (%d bytes)", name, len(data))
		}
		_, err := decompress(name, data, limit)
		if err == nil || !strings.Contains(err.Error(), "larger than") {
			t.Errorf("%s: decompress = %v, want a size error", name, err)
		}
		if out, err := decompress(name, data, 4*limit); err != nil || len(out) != 4*limit {
			t.Errorf("%s: decompress within the limit = %d bytes, %v", name, len(out), err)
		}
	}
}
