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
)

// Module checking reads hostile input, so what one module may cost is bounded: these
// caps are far above any real module (a few MiB, compressed with a 1 MiB dictionary) and
// a module over one of them is a verdict naming it, never an allocation.
const (
	// MaxModuleSize caps a module's size, decompressed, and the size of its file.
	MaxModuleSize = 512 << 20
	// MaxDictionarySize caps the dictionary an xz block (or the window a zstd frame) asks
	// the decompressor to allocate.
	MaxDictionarySize = 256 << 20
	// spoolSize is how much of a module is held to be hashed with whatever digest its
	// signature names. A larger one is streamed: only its end is held, the rest goes
	// through the digests its kernel signs with as it is read (see moduleStream).
	spoolSize = 8 << 20
)

// limits are the caps a check runs under; tests and fuzzing lower them.
type limits struct {
	module int64 // MaxModuleSize
	dict   int64 // MaxDictionarySize
	spool  int   // spoolSize
}

func defaultLimits() limits {
	return limits{module: MaxModuleSize, dict: MaxDictionarySize, spool: spoolSize}
}

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

// tooLargeError says a module decompresses to more than the cap.
type tooLargeError struct{ limit int64 }

func (e *tooLargeError) Error() string {
	return fmt.Sprintf("the module is larger than %s decompressed, the most sovos reads (a real module is a few MiB): a decompression bomb or not a module", byteSize(e.limit))
}

// dictionaryError says a compressed module asks for a dictionary over the cap.
type dictionaryError struct {
	what  string // "xz block 1 asks for a 4 GiB dictionary"
	limit int64
}

func (e *dictionaryError) Error() string {
	return fmt.Sprintf("%s, more than the %s sovos allows (kernel modules use 1 MiB)", e.what, byteSize(e.limit))
}

// compression is the compression a module file's name implies: ".xz", ".zst", ".gz" or
// "" for none.
func compression(name string) string {
	for _, c := range []string{".xz", ".zst", ".gz"} {
		if strings.HasSuffix(name, c) {
			return c
		}
	}
	return ""
}

// decompressor returns a reader of the module in r, decompressed according to name's
// suffix (.xz, .zst, .gz; anything else is read as is), and a function releasing it.
func decompressor(name string, r io.Reader, lim limits) (io.Reader, func(), error) {
	switch compression(name) {
	case ".xz":
		xr, err := newXZReader(r, lim.dict)
		if err != nil {
			return nil, nil, err
		}
		return xr, func() {}, nil
	case ".zst":
		// Low-memory mode allocates the window plus 1 MiB, not twice the window.
		zr, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true),
			zstd.WithDecoderMaxWindow(uint64(lim.dict)), zstd.WithDecoderMaxMemory(uint64(lim.module)))
		if err != nil {
			return nil, nil, fmt.Errorf("zstd: %w", err)
		}
		return zstdErrors{d: zr, lim: lim}, zr.Close, nil
	case ".gz":
		gr, err := gzip.NewReader(r)
		if err != nil {
			return nil, nil, fmt.Errorf("gzip: %w", err)
		}
		// kmod reads one gzip member; so do we, and trailing bytes are ignored like gzip -d.
		gr.Multistream(false)
		return gr, func() {}, nil
	}
	return r, func() {}, nil
}

// zstdErrors turns the zstd decoder's limit errors into the package's own. It hides the
// decoder's WriteTo, which would bypass that.
type zstdErrors struct {
	d   *zstd.Decoder
	lim limits
}

func (z zstdErrors) Read(p []byte) (int, error) {
	n, err := z.d.Read(p)
	switch {
	case errors.Is(err, zstd.ErrWindowSizeExceeded):
		err = &dictionaryError{what: "the zstd frame asks for a larger window", limit: z.lim.dict}
	case errors.Is(err, zstd.ErrDecoderSizeExceeded):
		err = &tooLargeError{limit: z.lim.module}
	case err != nil && err != io.EOF:
		err = fmt.Errorf("zstd: %w", err)
	}
	return n, err
}

// CheckModuleFile is CheckModule for a module file as found on disk or in an image:
// name's suffix says whether and how to decompress it first. A module that does not
// decompress, or is larger than MaxModuleSize decompressed, is invalid.
func CheckModuleFile(name string, data []byte, cert *x509.Certificate) Verdict {
	if compression(name) == "" && len(data) <= MaxModuleSize {
		return CheckModule(data, cert) // already in memory
	}
	return CheckModuleReader(name, bytes.NewReader(data), cert)
}

// CheckModuleReader is CheckModuleFile for a module read from r. Memory stays bounded
// whatever r holds: a module up to a few MiB is checked in memory, a larger one is
// streamed through its digests with only its signature held back, and one over
// MaxModuleSize (decompressed) or asking for a dictionary over MaxDictionarySize is
// invalid.
func CheckModuleReader(name string, r io.Reader, cert *x509.Certificate) Verdict {
	return newModuleChecker(cert, defaultLimits()).check(name, r)
}

// moduleChecker checks modules one after another under the same limits.
type moduleChecker struct {
	cert *x509.Certificate
	lim  limits
	copy []byte // io.CopyBuffer's buffer, shared by the checks
}

func newModuleChecker(cert *x509.Certificate, lim limits) *moduleChecker {
	return &moduleChecker{cert: cert, lim: lim, copy: make([]byte, 64<<10)}
}

// check checks the module named name in r.
func (c *moduleChecker) check(name string, r io.Reader) Verdict {
	dr, release, err := decompressor(name, r, c.lim)
	if err != nil {
		return invalid(err)
	}
	defer release()
	s := newModuleStream(c.cert, c.lim)
	plain := compression(name) == ""
	if _, err := io.CopyBuffer(s, dr, c.copy); err != nil {
		var big *tooLargeError
		var dict *dictionaryError
		if errors.As(err, &big) || errors.As(err, &dict) {
			return invalid(err)
		}
		if plain {
			return Verdict{Kind: Invalid, Detail: "reading: " + err.Error()}
		}
		return Verdict{Kind: Invalid, Detail: "decompressing: " + err.Error()}
	}
	return s.verdict()
}

func invalid(err error) Verdict {
	return Verdict{Kind: Invalid, Detail: err.Error()}
}

// byteSize renders a size for a message: "4 GiB", "256 MiB", "12345 bytes".
func byteSize(n int64) string {
	switch {
	case n >= 1<<30 && (n+1)%(1<<30) <= 1:
		return fmt.Sprintf("%d GiB", (n+1)>>30)
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}
