package bootmedia

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/urmanac/sovos/config"
	"github.com/urmanac/sovos/internal/oci"
	"github.com/urmanac/sovos/state"
)

// Request is one `sovos fetch`: a profile's boot media from the digest the state
// records.
type Request struct {
	// Address is the profile (profile.cm5, profile.talos["cm5"]).
	Address string
	// State is the workspace's state; the profile's artifact digest comes from it.
	State *state.State
	// Config tells where a profile without an image had its files exported (its dest);
	// nil when there is no configuration at hand.
	Config *config.Config
	// Dir receives the files (created if needed); default ".".
	Dir string
	// Registry makes the registry calls.
	Registry *oci.Client
}

// Result is what Fetch did.
type Result struct {
	// Ref is the artifact fetched, image:tag@digest; empty when the profile publishes
	// nothing (Local).
	Ref string
	// Local: the profile has no image, so apply exported its files and nothing was
	// downloaded.
	Local bool
	// From is, for Local, the directory apply exported the files to, when they were
	// copied from it into Dir (fetch -o DIR).
	From string
	// Dir holds the files.
	Dir   string
	Files []File
}

// File is one file of a profile's boot media.
type File struct {
	Name   string // the layer's title, the file's name
	Path   string // where it is now
	Size   int64
	Digest string // "" for a local export, whose files have no recorded digest
}

// Fetch downloads the boot media of a profile into req.Dir, each file named by its
// layer's title, and checks every blob (and the manifest) against its digest. A file
// appears under its name only once complete and checked.
func Fetch(ctx context.Context, req Request) (*Result, error) {
	addr := req.Address
	if _, err := config.ParseAddress(addr); err != nil {
		return nil, fmt.Errorf("%q is not a resource address: %w", addr, err)
	}
	r := req.State.Resource(addr)
	if r == nil {
		if req.State == nil {
			return nil, fmt.Errorf("%s: there is no state yet; run `sovos apply` first", addr)
		}
		return nil, fmt.Errorf("%s is not in the state; apply it first (`sovos state list` shows what is recorded)", addr)
	}
	if r.Type != config.TypeProfile {
		return nil, fmt.Errorf("%s is %s, not a profile: only profiles have boot media (pull a build's image with crane or docker)", addr, config.A(r.Type))
	}
	if r.Image == "" || r.Digest == "" {
		return localExport(req)
	}
	ref := fmt.Sprintf("%s:%s@%s", r.Image, r.Tag, r.Digest)
	switch r.ArtifactType {
	case ArtifactType:
	case InstallerImage:
		return nil, fmt.Errorf("%s: %s is an installer image (output kind \"installer\"), not boot media: pull it as an image, with `crane pull %s installer.tar` or `docker pull %s`", addr, ref, ref, ref)
	case "":
		return nil, fmt.Errorf("%s: %s is not a boot-media artifact but an image an earlier sovos pushed (a first-release single-tar image, or an installer profile's archive inside an image); `sovos apply` pushes it again in today's form", addr, ref)
	default:
		return nil, fmt.Errorf("%s: %s has artifact type %q, not %s", addr, ref, r.ArtifactType, ArtifactType)
	}
	reg := req.Registry
	if reg == nil {
		reg = oci.New()
	}
	dgst, err := reg.NewDigest(r.Image + "@" + r.Digest)
	if err != nil {
		return nil, fmt.Errorf("%s: recorded artifact %q: %w", addr, ref, err)
	}
	// A fetch by digest checks the manifest's own digest.
	desc, err := reg.Get(ctx, dgst)
	if err != nil {
		return nil, fmt.Errorf("%s: reading %s: %w", addr, ref, err)
	}
	m, err := v1.ParseManifest(bytes.NewReader(desc.Manifest))
	if err != nil {
		return nil, fmt.Errorf("%s: %s: the manifest is unreadable: %w", addr, ref, err)
	}
	if m.ArtifactType != ArtifactType {
		return nil, fmt.Errorf("%s: %s has artifact type %q, not %s", addr, ref, m.ArtifactType, ArtifactType)
	}
	names := map[string]bool{}
	for _, l := range m.Layers {
		title := l.Annotations[AnnotationTitle]
		if err := checkTitle(title); err != nil {
			return nil, fmt.Errorf("%s: %s: layer %s: %w", addr, ref, l.Digest, err)
		}
		if names[title] {
			return nil, fmt.Errorf("%s: %s: two layers are titled %q", addr, ref, title)
		}
		names[title] = true
	}

	dir := req.Dir
	if dir == "" {
		dir = "."
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("%s: %w", addr, err)
	}
	res := &Result{Ref: ref, Dir: dir}
	for _, l := range m.Layers {
		f, err := download(ctx, reg, dgst.Context().Digest(l.Digest.String()), l, dir)
		if err != nil {
			return res, fmt.Errorf("%s: %w", addr, err)
		}
		res.Files = append(res.Files, *f)
	}
	return res, nil
}

// checkTitle accepts a plain file name: a title is written into the caller's directory,
// so a path could escape it.
func checkTitle(title string) error {
	switch {
	case title == "":
		return errors.New("no " + AnnotationTitle + " annotation, so no file name")
	case title == "." || title == ".." || strings.ContainsAny(title, "/\\\x00"):
		return fmt.Errorf("title %q is not a plain file name", title)
	}
	return nil
}

// download writes one blob to dir/title through a temporary file, checking its size and
// digest as it streams.
func download(ctx context.Context, reg *oci.Client, blob name.Digest, l v1.Descriptor, dir string) (*File, error) {
	title := l.Annotations[AnnotationTitle]
	layer, err := reg.Layer(ctx, blob)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", title, err)
	}
	rc, err := layer.Compressed()
	if err != nil {
		return nil, fmt.Errorf("downloading %s: %w", title, oci.Explain(err))
	}
	defer rc.Close()
	tmp, err := os.CreateTemp(dir, "."+title+".*.partial")
	if err != nil {
		return nil, err
	}
	defer os.Remove(tmp.Name())
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(tmp, h), io.LimitReader(rc, l.Size+1))
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("downloading %s: %w", title, oci.Explain(err))
	}
	got := "sha256:" + hex.EncodeToString(h.Sum(nil))
	switch {
	case n != l.Size:
		return nil, fmt.Errorf("%s: got %d bytes, the manifest says %d; nothing was written", title, n, l.Size)
	case got != l.Digest.String():
		return nil, fmt.Errorf("%s: the blob's digest is %s, the manifest says %s; nothing was written", title, got, l.Digest)
	}
	path := filepath.Join(dir, title)
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return nil, err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return nil, err
	}
	return &File{Name: title, Path: path, Size: n, Digest: got}, nil
}

// localExport reports the files apply exported for a profile without an image, and
// copies them into req.Dir when one is given.
func localExport(req Request) (*Result, error) {
	addr := req.Address
	var p *config.Resource
	if req.Config != nil {
		p = req.Config.Resource(addr)
	}
	if p == nil || p.Profile == nil {
		return nil, fmt.Errorf("%s published no artifact (it has no image), and it is not in the configuration to say where apply exported its files", addr)
	}
	if err := p.Needs("dest"); err != nil {
		return nil, err
	}
	dir := filepath.Join(p.Profile.Dest, config.FileSafe(addr))
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%s published no artifact (it has no image), and %s does not exist: only a profile with an imager has files; apply it on this machine to export them", addr, dir)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", addr, err)
	}
	if req.Dir != "" && !sameDir(req.Dir, dir) {
		return copyExport(addr, dir, req.Dir)
	}
	res := &Result{Local: true, Dir: dir}
	for _, e := range entries {
		info, err := e.Info()
		if err != nil || !info.Mode().IsRegular() {
			continue
		}
		res.Files = append(res.Files, File{Name: e.Name(), Path: filepath.Join(dir, e.Name()), Size: info.Size()})
	}
	return res, nil
}

// copyExport copies the files apply exported to from into dir (created if needed),
// each through a temporary file, so a file appears under its name only once complete.
func copyExport(addr, from, dir string) (*Result, error) {
	names, err := outputFiles(from)
	if err != nil {
		return nil, fmt.Errorf("%s: the files apply exported to %s: %w", addr, from, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("%s: %w", addr, err)
	}
	res := &Result{Local: true, From: from, Dir: dir}
	for _, name := range names {
		n, err := copyFile(filepath.Join(from, name), dir, name)
		if err != nil {
			return res, fmt.Errorf("%s: copying %s into %s: %w", addr, name, dir, err)
		}
		res.Files = append(res.Files, File{Name: name, Path: filepath.Join(dir, name), Size: n})
	}
	return res, nil
}

func copyFile(src, dir, name string) (int64, error) {
	in, err := os.Open(src)
	if err != nil {
		return 0, err
	}
	defer in.Close()
	tmp, err := os.CreateTemp(dir, "."+name+".*.partial")
	if err != nil {
		return 0, err
	}
	defer os.Remove(tmp.Name())
	n, err := io.Copy(tmp, in)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return 0, err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return 0, err
	}
	return n, os.Rename(tmp.Name(), filepath.Join(dir, name))
}

// sameDir reports whether a and b are one directory (fetch -o naming the export itself).
func sameDir(a, b string) bool {
	ai, err := os.Stat(a)
	if err != nil {
		return false
	}
	bi, err := os.Stat(b)
	return err == nil && os.SameFile(ai, bi)
}
