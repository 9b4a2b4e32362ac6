package verify

import (
	"bytes"
	"context"
	"crypto/x509"
	"io"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Limits are the caps of a check, lowered by tests and fuzzing to keep them fast.
type Limits struct {
	Module, Dict int64
	Spool        int
}

// DefaultLimits are the caps sovos runs under.
func DefaultLimits() Limits {
	l := defaultLimits()
	return Limits{Module: l.module, Dict: l.dict, Spool: l.spool}
}

func (l Limits) internal() limits { return limits{module: l.Module, dict: l.Dict, spool: l.Spool} }

// CheckModuleReaderWith is CheckModuleReader under lim.
func CheckModuleReaderWith(name string, r io.Reader, cert *x509.Certificate, lim Limits) Verdict {
	return newModuleChecker(cert, lim.internal()).check(name, r)
}

// CheckImageWith is CheckImage under lim.
func CheckImageWith(ctx context.Context, img v1.Image, cert *x509.Certificate, lim Limits) (*Report, error) {
	return checkImage(ctx, img, cert, lim.internal())
}

// Decompress returns the module in data decompressed by name's suffix, under lim.
func Decompress(name string, data []byte, lim Limits) ([]byte, error) {
	r, release, err := decompressor(name, bytes.NewReader(data), lim.internal())
	if err != nil {
		return nil, err
	}
	defer release()
	return io.ReadAll(io.LimitReader(r, lim.Module+1))
}
