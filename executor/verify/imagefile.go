package verify

import (
	"archive/tar"
	"context"
	"crypto/x509"
	"fmt"
	"io"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
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
	rc := mutate.Extract(img)
	defer rc.Close()
	stop := context.AfterFunc(ctx, func() { rc.Close() })
	defer stop()

	tr := tar.NewReader(rc)
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		hdr, err := tr.Next()
		if err == io.EOF {
			return nil, fmt.Errorf("%s: no such file in the image", want)
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, fmt.Errorf("reading the image filesystem: %w", err)
		}
		if cleanPath(hdr.Name) != want {
			continue
		}
		switch hdr.Typeflag {
		case tar.TypeReg:
		case tar.TypeSymlink:
			return nil, fmt.Errorf("%s is a symbolic link to %s; name the file itself", want, hdr.Linkname)
		default:
			return nil, fmt.Errorf("%s is not a regular file in the image", want)
		}
		if hdr.Size > limit {
			return nil, fmt.Errorf("%s is %d bytes, more than the %d expected", want, hdr.Size, limit)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", want, err)
		}
		return data, nil
	}
}
