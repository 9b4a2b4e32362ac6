package verify

import (
	"archive/tar"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// maxCertificateSize bounds what CertificateFromImage reads; certificates are a few KiB.
const maxCertificateSize = 1 << 20

// CertificateFromImage reads the module-signing certificate at path (PEM or DER, e.g.
// the kernel build's certs/signing_key.x509) from the final filesystem of img, such as a
// kernel's build stage image. The error names the path when it is missing or unusable.
func CertificateFromImage(ctx context.Context, img v1.Image, path string) (*x509.Certificate, error) {
	data, err := ReadImageFile(ctx, img, path, maxCertificateSize)
	if err != nil {
		return nil, err
	}
	cert, err := ParseCertificate(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", cleanPath(path), err)
	}
	return cert, nil
}

// ReadImageFile returns the content of the regular file at path in the final filesystem
// of img (layers flattened, whiteouts applied), reading at most limit bytes. The image is
// streamed until the file is found.
func ReadImageFile(ctx context.Context, img v1.Image, path string, limit int64) ([]byte, error) {
	want := cleanPath(path)
	var data []byte
	found := errors.New("found")
	err := walkImage(ctx, img, func(p string, hdr *tar.Header, r io.Reader) error {
		if p != want {
			return nil
		}
		switch hdr.Typeflag {
		case tar.TypeReg:
		case tar.TypeSymlink:
			return fmt.Errorf("%s is a symbolic link to %s; name the file itself", want, hdr.Linkname)
		default:
			return fmt.Errorf("%s is not a regular file in the image", want)
		}
		if hdr.Size > limit {
			return fmt.Errorf("%s is %d bytes, more than the %d expected", want, hdr.Size, limit)
		}
		var err error
		if data, err = io.ReadAll(r); err != nil {
			return fmt.Errorf("reading %s: %w", want, err)
		}
		return found
	})
	switch {
	case err == found:
		return data, nil
	case err != nil:
		return nil, err
	}
	return nil, fmt.Errorf("%s: no such file in the image", want)
}
