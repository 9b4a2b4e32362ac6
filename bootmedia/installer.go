package bootmedia

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path"
	"path/filepath"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/urmanac/sovos/internal/oci"
)

// InstallerImage is what the state records as the artifact type of a profile of output
// kind "installer": its digest is the installer image the imager wrote, pushed as the
// image it is (an image has no artifactType of its own). A record without it is the
// image first-release sovos pushed, which held the archive as a file instead.
const InstallerImage = "application/vnd.sovos.installer-image.v1"

// InstallerArchive is the file Talos's imager writes to /out for output kind
// "installer": the installer image, as an image archive (`docker load` and `crane push`
// read it).
func InstallerArchive(arch string) string { return "installer-" + arch + ".tar" }

// Docker's annotations on an index entry that is an attestation manifest: it describes
// the image manifest whose digest it names.
const (
	dockerReferenceType   = "vnd.docker.reference.type"
	dockerReferenceDigest = "vnd.docker.reference.digest"
)

// PushInstaller pushes the installer image in the archive at path (the imager's
// installer-<arch>.tar) to ref (repository:tag), and returns the digest it pushed. The
// archive is either `docker save`'s format (manifest.json: go-containerregistry's
// tarball) or an OCI image layout in a tar (oci-layout, index.json, blobs/); a layout is
// unpacked next to the archive first. The image manifest is annotated with
// annotations (dev.sovos.hash, dev.sovos.address), and so is an index with each image
// manifest in it. Layers stream from disk; none is held in memory.
func PushInstaller(ctx context.Context, reg *oci.Client, ref, path string, annotations map[string]string) (string, error) {
	tag, err := reg.NewTag(ref)
	if err != nil {
		return "", fmt.Errorf("pushing the installer image to %q: %w", ref, err)
	}
	name := filepath.Base(path)
	format, err := archiveFormat(path)
	if err != nil {
		return "", fmt.Errorf("the imager's %s: %w", name, err)
	}
	var t remote.Taggable
	switch format {
	case ociLayout:
		dir, err := os.MkdirTemp(filepath.Dir(path), ".oci-layout-")
		if err != nil {
			return "", err
		}
		defer os.RemoveAll(dir)
		if err := untar(path, dir); err != nil {
			return "", fmt.Errorf("unpacking the imager's %s: %w", name, err)
		}
		if t, err = fromLayout(dir, annotations); err != nil {
			return "", fmt.Errorf("the imager's %s (an OCI image layout): %w", name, err)
		}
	default:
		img, err := tarball.ImageFromPath(path, nil)
		if err != nil {
			return "", fmt.Errorf("the imager's %s (a `docker save` archive): %w", name, err)
		}
		t = mutate.Annotations(img, annotations).(v1.Image)
	}

	switch x := t.(type) {
	case v1.ImageIndex:
		err = reg.WriteIndex(ctx, tag, x)
	case v1.Image:
		err = reg.Write(ctx, tag, x)
	}
	if err != nil {
		return "", fmt.Errorf("pushing the installer image from the imager's %s to %s: %w", name, ref, err)
	}
	d, err := t.(interface{ Digest() (v1.Hash, error) }).Digest()
	if err != nil {
		return "", err
	}
	return d.String(), nil
}

type archive int

const (
	dockerArchive archive = iota
	ociLayout
)

// archiveFormat tells a `docker save` archive from an OCI layout by the names in it.
// Docker 25 and later write both in one tar; the layout is preferred then, since it
// gives the manifests as they are (go-containerregistry's tarball recompresses
// uncompressed layers).
func archiveFormat(file string) (archive, error) {
	f, err := os.Open(file)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	names := map[string]bool{}
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return 0, fmt.Errorf("not a tar archive: %w", err)
		}
		names[path.Clean(strings.TrimPrefix(h.Name, "./"))] = true
	}
	switch {
	case names["oci-layout"] && names["index.json"]:
		return ociLayout, nil
	case names["manifest.json"]:
		return dockerArchive, nil
	}
	return 0, errors.New("is neither an OCI image layout (oci-layout, index.json) nor a `docker save` archive (manifest.json); the imager writes the installer image as one of these")
}

// untar unpacks the regular files and directories of the tar at src into dir. A name
// that would land outside dir is refused; links and devices are left out (a layout's
// blobs are files).
func untar(src, dir string) error {
	f, err := os.Open(src)
	if err != nil {
		return err
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		name := path.Clean(strings.TrimPrefix(h.Name, "./"))
		if name == "." {
			continue
		}
		if path.IsAbs(name) || name == ".." || strings.HasPrefix(name, "../") {
			return fmt.Errorf("%q would be written outside the layout", h.Name)
		}
		target := filepath.Join(dir, filepath.FromSlash(name))
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(target, 0o755); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
				return err
			}
			out, err := os.OpenFile(target, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
			if err != nil {
				return err
			}
			_, err = io.Copy(out, tr)
			if cerr := out.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
		}
	}
}

// fromLayout returns what an OCI layout holds, annotated: its one image or index, or,
// when index.json lists several manifests, that list as an index.
func fromLayout(dir string, annotations map[string]string) (remote.Taggable, error) {
	idx, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		return nil, err
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, err
	}
	if len(im.Manifests) == 0 {
		return nil, errors.New("its index.json lists no manifest")
	}
	if len(im.Manifests) > 1 {
		return annotateIndex(idx, annotations)
	}
	d := im.Manifests[0]
	switch {
	case d.MediaType.IsImage():
		img, err := idx.Image(d.Digest)
		if err != nil {
			return nil, err
		}
		return mutate.Annotations(img, annotations).(v1.Image), nil
	case d.MediaType.IsIndex():
		child, err := idx.ImageIndex(d.Digest)
		if err != nil {
			return nil, err
		}
		return annotateIndex(child, annotations)
	}
	return nil, fmt.Errorf("its index.json lists a %s, neither an image nor an index", d.MediaType)
}

// annotateIndex rebuilds idx with each image manifest annotated (attestation manifests
// left as they are, pointed at their image's new digest) and the index itself annotated.
func annotateIndex(idx v1.ImageIndex, annotations map[string]string) (v1.ImageIndex, error) {
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, err
	}
	mt, err := idx.MediaType()
	if err != nil {
		return nil, err
	}
	type entry struct {
		desc v1.Descriptor
		add  mutate.Appendable
	}
	entries := make([]entry, 0, len(im.Manifests))
	moved := map[string]string{}
	for _, d := range im.Manifests {
		e := entry{desc: d}
		switch {
		case d.MediaType.IsImage():
			img, err := idx.Image(d.Digest)
			if err != nil {
				return nil, err
			}
			e.add = img
			if d.Annotations[dockerReferenceType] == "" {
				annotated := mutate.Annotations(img, annotations).(v1.Image)
				nd, err := annotated.Digest()
				if err != nil {
					return nil, err
				}
				moved[d.Digest.String()] = nd.String()
				e.add = annotated
			}
		case d.MediaType.IsIndex():
			child, err := idx.ImageIndex(d.Digest)
			if err != nil {
				return nil, err
			}
			e.add = child
		default:
			return nil, fmt.Errorf("the index lists a %s (%s), neither an image nor an index", d.MediaType, d.Digest)
		}
		entries = append(entries, e)
	}
	out := mutate.IndexMediaType(empty.Index, mt)
	for _, e := range entries {
		ann := maps.Clone(e.desc.Annotations)
		if to, ok := moved[ann[dockerReferenceDigest]]; ok {
			ann[dockerReferenceDigest] = to
		}
		out = mutate.AppendManifests(out, mutate.IndexAddendum{Add: e.add, Descriptor: v1.Descriptor{
			MediaType: e.desc.MediaType, Platform: e.desc.Platform, Annotations: ann,
			URLs: e.desc.URLs, ArtifactType: e.desc.ArtifactType,
		}})
	}
	all := maps.Clone(im.Annotations)
	if all == nil {
		all = map[string]string{}
	}
	maps.Copy(all, annotations)
	return mutate.Annotations(out, all).(v1.ImageIndex), nil
}
