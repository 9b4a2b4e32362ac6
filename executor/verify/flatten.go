package verify

import (
	"archive/tar"
	"context"
	"fmt"
	"io"
	"path"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// The image's final filesystem is walked here rather than through go-containerregistry's
// mutate.Extract, which silently drops a relative link whose target climbs above the
// root: a module named link to "../../../../x" would vanish from the check, while on a
// node it exists and resolves (".." stops at the root). The rules are otherwise the
// same, and those of the OCI image spec: the layers are read from the top down, each
// path is taken from the topmost layer holding it, a whiteout (.wh.NAME) removes NAME
// and what is under it from the layers below, an opaque marker (.wh..wh..opq) hides
// its directory's content in the layers below, and a file hides what lower layers have
// under its path.

const (
	whiteoutPrefix = ".wh."
	opaqueMarker   = ".wh..wh..opq"
)

// walkImage calls fn for every entry of the final filesystem of img, with its cleaned
// absolute path and a reader of its content wrapped so that readErr can tell a failure
// to read the image from one of the content. It stops at fn's first error, or when ctx
// is done.
func walkImage(ctx context.Context, img v1.Image, fn func(p string, hdr *tar.Header, r io.Reader) error) error {
	layers, err := img.Layers()
	if err != nil {
		return fmt.Errorf("reading the image's layers: %w", err)
	}
	// hidden says whether a path was taken (false for a directory, whose lower content
	// still shows) or removes everything under it from lower layers (true).
	hidden := map[string]bool{}
	opaque := map[string]bool{}
	for i := len(layers) - 1; i >= 0; i-- {
		if err := walkLayer(ctx, layers[i], hidden, opaque, fn); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return err
		}
	}
	return nil
}

func walkLayer(ctx context.Context, layer v1.Layer, hidden, opaque map[string]bool, fn func(string, *tar.Header, io.Reader) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	rc, err := layer.Uncompressed()
	if err != nil {
		return fmt.Errorf("reading the image filesystem: %w", err)
	}
	defer rc.Close()
	// Closing the layer on cancellation ends a long download promptly.
	stop := context.AfterFunc(ctx, func() { rc.Close() })
	defer stop()

	// Opaque markers hide the layers below this one only.
	layerOpaque := map[string]bool{}
	tr := tar.NewReader(rc)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("reading the image filesystem: %w", err)
		}
		p := cleanPath(hdr.Name)
		dir, base := path.Dir(p), path.Base(p)
		if base == opaqueMarker {
			layerOpaque[dir] = true
			continue
		}
		whiteout := strings.HasPrefix(base, whiteoutPrefix)
		if whiteout {
			p = path.Join(dir, strings.TrimPrefix(base, whiteoutPrefix))
		}
		if _, taken := hidden[p]; (taken && !whiteout) || p == "/" || underHidden(hidden, p) || underOpaque(opaque, p) {
			continue
		}
		hidden[p] = whiteout || hdr.Typeflag != tar.TypeDir
		if whiteout {
			continue
		}
		r := &entryReader{r: tr}
		if err := fn(p, hdr, r); err != nil {
			return err
		}
	}
	for d := range layerOpaque {
		opaque[d] = true
	}
	// Read to the end so that a verifying layer reader checks the layer's digest.
	if _, err := io.Copy(io.Discard, rc); err != nil {
		return fmt.Errorf("verifying a layer: %w", err)
	}
	return nil
}

// underHidden reports whether a parent directory of p was removed or replaced by a file
// in a layer above.
func underHidden(hidden map[string]bool, p string) bool {
	for d := path.Dir(p); d != "/"; d = path.Dir(d) {
		if hidden[d] {
			return true
		}
	}
	return false
}

// underOpaque reports whether a parent directory of p is opaque in a layer above.
func underOpaque(opaque map[string]bool, p string) bool {
	for d := path.Dir(p); ; d = path.Dir(d) {
		if opaque[d] {
			return true
		}
		if d == "/" {
			return false
		}
	}
}
