package verify

import (
	"bytes"
	"compress/gzip"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
)

// MaxModuleSize bounds a module's size, compressed or decompressed, so that a
// decompression bomb in an image cannot exhaust memory. Real modules are at most a few
// tens of MiB.
const MaxModuleSize = 1 << 30

// moduleSuffixes are the file names the kernel's module loader (kmod) accepts.
var moduleSuffixes = []string{".ko", ".ko.xz", ".ko.zst", ".ko.gz"}

// IsModule reports whether a file name is a kernel module's: *.ko, *.ko.xz, *.ko.zst or
// *.ko.gz.
func IsModule(name string) bool {
	for _, s := range moduleSuffixes {
		if strings.HasSuffix(name, s) && len(name) > len(s) && name[len(name)-len(s)-1] != '/' {
			return true
		}
	}
	return false
}

// Decompress returns a module's bytes, decompressed according to its file name's suffix
// (.xz, .zst, .gz; anything else is returned as is). The result is bounded by
// MaxModuleSize.
func Decompress(name string, data []byte) ([]byte, error) {
	return decompress(name, data, MaxModuleSize)
}

func decompress(name string, data []byte, limit int64) ([]byte, error) {
	var r io.Reader
	switch {
	case strings.HasSuffix(name, ".xz"):
		// ulikunitz/xz allocates the dictionary a block header asks for (up to 4 GiB)
		// without a cap. Go takes such a buffer from fresh, untouched pages, so only what
		// is actually decompressed (bounded by limit) becomes resident; kernels use 1 MiB.
		xr, err := xz.NewReader(bytes.NewReader(data))
		if err != nil {
			return nil, fmt.Errorf("xz: %w", err)
		}
		r = xr
	case strings.HasSuffix(name, ".zst"):
		zr, err := zstd.NewReader(bytes.NewReader(data),
			zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(uint64(limit)))
		if err != nil {
			return nil, fmt.Errorf("zstd: %w", err)
		}
		defer zr.Close()
		r = zr
	case strings.HasSuffix(name, ".gz"):
		gr, err := gzip.NewReader(bytes.NewReader(data))
		if err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
		// kmod reads one gzip member; so do we, and trailing bytes are ignored like gzip -d.
		gr.Multistream(false)
		r = gr
	default:
		if int64(len(data)) > limit {
			return nil, fmt.Errorf("module is larger than %d bytes", limit)
		}
		return data, nil
	}
	out, err := io.ReadAll(io.LimitReader(r, limit+1))
	if int64(len(out)) > limit || errors.Is(err, zstd.ErrDecoderSizeExceeded) {
		return nil, fmt.Errorf("decompressed module is larger than %d bytes", limit)
	}
	if err != nil {
		return nil, fmt.Errorf("decompressing: %w", err)
	}
	return out, nil
}

// CheckModuleFile is CheckModule for a module file as found on disk or in an image:
// name's suffix says whether and how to decompress it first. A module that does not
// decompress is invalid.
func CheckModuleFile(name string, data []byte, cert *x509.Certificate) Verdict {
	plain, err := Decompress(name, data)
	if err != nil {
		return Verdict{Kind: Invalid, Detail: err.Error()}
	}
	return CheckModule(plain, cert)
}
