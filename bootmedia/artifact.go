// Package bootmedia publishes what a profile's imager writes (disk images, ISOs, UKIs)
// as one OCI artifact that `oras pull` understands, and fetches it back by digest
// (SPEC §2 "Boot media"); for output kind installer, it pushes the installer image the
// imager wrote as an archive. Files stream from disk both ways: a raw disk image is more
// than a gigabyte, and memory stays bounded whatever its size.
package bootmedia

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/urmanac/sovos/config"
	"github.com/urmanac/sovos/internal/oci"
)

// Names of the artifact (SPEC §2).
const (
	// ArtifactType is the manifest's artifactType.
	ArtifactType = "application/vnd.sovos.boot-media.v1"
	// AnnotationTitle names a layer's file (the OCI annotation oras uses).
	AnnotationTitle = "org.opencontainers.image.title"
	// AnnotationAddress is the profile's address, on the manifest.
	AnnotationAddress = "dev.sovos.address"
)

// MediaType is a file's layer media type, by its suffix.
func MediaType(name string) types.MediaType {
	switch {
	case strings.HasSuffix(name, ".xz"):
		return "application/x-xz"
	case strings.HasSuffix(name, ".gz"):
		return "application/gzip"
	case strings.HasSuffix(name, ".zst"):
		return "application/zstd"
	}
	return "application/octet-stream"
}

// emptyJSON is the OCI empty descriptor's content: the artifact's config.
var emptyJSON = []byte("{}")

// Publish pushes every file in dir (the imager's /out) as one boot-media artifact at
// ref (repository:tag), each file a layer titled by its name, the manifest annotated
// with annotations (dev.sovos.hash, dev.sovos.address). It returns the manifest's
// digest. Each file is read twice, to hash it and to upload it, and never held in
// memory.
func Publish(ctx context.Context, reg *oci.Client, ref, dir string, annotations map[string]string) (string, error) {
	tag, err := reg.NewTag(ref)
	if err != nil {
		return "", fmt.Errorf("publishing to %q: %w", ref, err)
	}
	files, err := outputFiles(dir)
	if err != nil {
		return "", err
	}
	art := &artifact{config: static.NewLayer(emptyJSON, types.OCIEmptyJSON), layers: map[v1.Hash]*fileLayer{}}
	cfgDesc, err := partial.Descriptor(art.config)
	if err != nil {
		return "", err
	}
	m := v1.Manifest{
		SchemaVersion: 2,
		MediaType:     types.OCIManifestSchema1,
		ArtifactType:  ArtifactType,
		Config:        *cfgDesc,
		Layers:        []v1.Descriptor{},
		Annotations:   annotations,
	}
	for _, name := range files {
		l, err := newFileLayer(filepath.Join(dir, name))
		if err != nil {
			return "", err
		}
		art.layers[l.digest] = l
		m.Layers = append(m.Layers, v1.Descriptor{
			MediaType:   l.mediaType,
			Digest:      l.digest,
			Size:        l.size,
			Annotations: map[string]string{AnnotationTitle: name},
		})
	}
	if art.manifest, err = json.Marshal(m); err != nil {
		return "", err
	}
	img, err := partial.CompressedToImage(art)
	if err != nil {
		return "", err
	}
	if err := reg.Write(ctx, tag, img); err != nil {
		return "", fmt.Errorf("publishing %s: %w", ref, err)
	}
	return "sha256:" + hexSHA256(art.manifest), nil
}

// outputFiles lists the files of dir, sorted. The imager writes files only: a directory,
// a link or a device under /out is refused rather than left out without a word.
func outputFiles(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("reading the imager's output: %w", err)
	}
	var names []string
	for _, e := range entries {
		if !e.Type().IsRegular() {
			return nil, fmt.Errorf("the imager wrote %s to /out, which is not a regular file; boot media are files", e.Name())
		}
		names = append(names, e.Name())
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("the imager wrote nothing to /out")
	}
	sort.Strings(names)
	return names, nil
}

// artifact is the boot-media manifest with its blobs: the empty config and one file per
// layer. It implements partial.CompressedImageCore, so remote.Write uploads it.
type artifact struct {
	manifest []byte
	config   v1.Layer
	layers   map[v1.Hash]*fileLayer
}

func (a *artifact) MediaType() (types.MediaType, error) { return types.OCIManifestSchema1, nil }
func (a *artifact) RawManifest() ([]byte, error)        { return a.manifest, nil }
func (a *artifact) RawConfigFile() ([]byte, error)      { return emptyJSON, nil }

func (a *artifact) LayerByDigest(h v1.Hash) (partial.CompressedLayer, error) {
	if l, ok := a.layers[h]; ok {
		return l, nil
	}
	if d, err := a.config.Digest(); err == nil && d == h {
		return a.config, nil
	}
	return nil, fmt.Errorf("blob %s is not part of the artifact", h)
}

// fileLayer is a file uploaded as it is: its bytes are the blob.
type fileLayer struct {
	path      string
	digest    v1.Hash
	size      int64
	mediaType types.MediaType
}

func newFileLayer(path string) (*fileLayer, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("reading the imager's output: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return nil, fmt.Errorf("reading the imager's output %s: %w", filepath.Base(path), err)
	}
	return &fileLayer{
		path:      path,
		digest:    v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(h.Sum(nil))},
		size:      n,
		mediaType: MediaType(filepath.Base(path)),
	}, nil
}

func (l *fileLayer) Digest() (v1.Hash, error)             { return l.digest, nil }
func (l *fileLayer) Size() (int64, error)                 { return l.size, nil }
func (l *fileLayer) MediaType() (types.MediaType, error)  { return l.mediaType, nil }
func (l *fileLayer) Compressed() (io.ReadCloser, error)   { return os.Open(l.path) }
func (l *fileLayer) DiffID() (v1.Hash, error)             { return l.digest, nil }
func (l *fileLayer) Uncompressed() (io.ReadCloser, error) { return os.Open(l.path) }

func hexSHA256(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// Publishes reports whether a profile's output is published as boot media: it runs an
// imager, has an image to publish to, and is not an installer (which is pushed as the
// image it is).
func Publishes(p *config.ProfileSpec) bool {
	return p != nil && p.Imager != "" && p.Image != "" && p.Output.Kind != "installer"
}

// PushesInstaller reports whether a profile pushes the installer image its imager
// writes (output kind "installer", an imager and an image to push to).
func PushesInstaller(p *config.ProfileSpec) bool {
	return p != nil && p.Imager != "" && p.Image != "" && p.Output.Kind == "installer"
}

// ArtifactTypeOf is what the state records as the artifact type of what profile p
// pushes: ArtifactType for boot media, InstallerImage for an installer image, "" when it
// pushes nothing.
func ArtifactTypeOf(p *config.ProfileSpec) string {
	switch {
	case Publishes(p):
		return ArtifactType
	case PushesInstaller(p):
		return InstallerImage
	}
	return ""
}
