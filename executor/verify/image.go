package verify

import (
	"archive/tar"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"path"
	"sort"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/urmanac/sovos/internal/oci"
	"github.com/urmanac/sovos/state"
)

// ManifestPath is where a Talos system extension keeps its manifest.
const ManifestPath = "/manifest.yaml"

// maxManifestSize bounds the manifest read; real ones are a few hundred bytes.
const maxManifestSize = 1 << 20

// Report is the outcome of checking every module of an image.
type Report struct {
	// Digest is the checked image's manifest digest when CheckRef fetched it; CheckImage
	// leaves it empty rather than compute the digest of a local image.
	Digest string `json:"digest,omitempty"`
	// Modules holds one result per module file, sorted by path.
	Modules []ModuleResult `json:"modules"`
	// OK is true when every module is OK; an image without modules is OK.
	OK bool `json:"ok"`
	// NoModules says the image holds no kernel module at all, which fails an extension
	// unless it declares modules = false (see MissingModules).
	NoModules bool `json:"no_modules,omitempty"`
	// Manifest is the extension's /manifest.yaml, nil if there is none.
	Manifest *Manifest `json:"manifest,omitempty"`
	// TalosCompatibility is the manifest's compatibility.talos.version, e.g. ">= v1.13.0".
	TalosCompatibility string `json:"talos_compatibility,omitempty"`
}

// ModuleResult is the verdict on one module file of an image.
type ModuleResult struct {
	// Path is the file's absolute path in the image, e.g. /rootfs/usr/lib/modules/6.18.1/extras/hailo.ko.
	Path    string `json:"path"`
	Verdict Kind   `json:"verdict"`
	Detail  string `json:"detail,omitempty"`
	// Signer is who signed the module (the signer whose key is the kernel's, else the
	// first one named), HashAlgorithm the digest its signature uses; absent for an
	// unsigned module or an unparsable signature.
	Signer        *SignerID `json:"signer,omitempty"`
	HashAlgorithm string    `json:"hash_algorithm,omitempty"`
}

// set records v in the result.
func (m *ModuleResult) set(v Verdict) {
	m.Verdict, m.Detail, m.HashAlgorithm = v.Kind, v.Detail, v.Hash
	m.Signer = nil
	if v.Signer != nil {
		m.Signer = v.Signer.ID()
	}
}

// SignerID names a module's signer as the attestation records it: issuer and serial
// number (sign-file's default), or subject key identifier (sign-file -k).
type SignerID struct {
	Issuer       string `json:"issuer,omitempty"`
	Serial       string `json:"serial,omitempty"`
	SubjectKeyID string `json:"subject_key_id,omitempty"`
}

// Problems returns the modules that are not OK.
func (r *Report) Problems() []ModuleResult {
	var out []ModuleResult
	for _, m := range r.Modules {
		if m.Verdict != OK {
			out = append(out, m)
		}
	}
	return out
}

// NoModulesProblem says why an extension image without any kernel module fails.
const NoModulesProblem = "no kernel module in the image: an extension that carries none must say modules = false in its block"

// MissingModules reports whether the image fails for want of a module: it holds none,
// and its extension does not declare modules = false (declaredNone). An extension built
// to carry drivers whose modules went missing must not pass as "nothing to check".
func (r *Report) MissingModules(declaredNone bool) bool {
	return r.NoModules && !declaredNone
}

// StateVerdicts returns the results in the state's form (state.Verification.Modules).
func (r *Report) StateVerdicts() []state.ModuleVerdict {
	out := make([]state.ModuleVerdict, 0, len(r.Modules))
	for _, m := range r.Modules {
		out = append(out, state.ModuleVerdict{Path: m.Path, Verdict: string(m.Verdict), Detail: m.Detail})
	}
	return out
}

// CheckRef fetches the image ref names with reg and checks it with CheckImage; for an
// index (a multi-platform image, or one carrying BuildKit's attestations), the
// manifest of platform ("linux/arm64"; "" for go-containerregistry's default,
// linux/amd64). ctx bounds the registry calls. Its errors do not repeat ref: the
// caller's message names it.
func CheckRef(ctx context.Context, reg *oci.Client, ref, platform string, cert *x509.Certificate) (*Report, error) {
	r, err := reg.ParseReference(ref)
	if err != nil {
		return nil, err
	}
	img, err := reg.Image(ctx, r, platform)
	if err != nil {
		return nil, err
	}
	digest, err := img.Digest()
	if err != nil {
		return nil, oci.Explain(err)
	}
	rep, err := CheckImage(ctx, img, cert)
	if err != nil {
		return nil, oci.Explain(err)
	}
	rep.Digest = digest.String()
	return rep, nil
}

// CheckImage checks every kernel module in the final filesystem of img (layers flattened,
// whiteouts applied) against cert, and reads the extension manifest if there is one. The
// filesystem is streamed and memory stays bounded whatever the image holds (see
// CheckModuleReader). A symbolic or hard link named like a module is followed inside
// the image and what it leads to is checked under the link's name; a dangling link, a
// loop or a link to something other than a file is invalid. When a link leads to a file
// not itself named like a module, the image is read a second time to check it. An error
// means the image could not be read; a bad module is a verdict in the report.
func CheckImage(ctx context.Context, img v1.Image, cert *x509.Certificate) (*Report, error) {
	return checkImage(ctx, img, cert, defaultLimits())
}

func checkImage(ctx context.Context, img v1.Image, cert *x509.Certificate, lim limits) (*Report, error) {
	if cert == nil {
		return nil, errors.New("no certificate to check modules against")
	}
	c := newModuleChecker(cert, lim)
	rep := &Report{}
	// checked holds the verdict on each module file, by its path and the compression
	// its name implies (a link may name the same file with another suffix).
	checked := map[fileCheck]ModuleResult{}
	links := newLinkTable()
	// Links named like modules, resolved once every entry has been seen: Extract walks
	// the layers from the top down, so a link may come before what it leads to.
	var linked []ModuleResult
	err := walkImage(ctx, img, func(p string, hdr *tar.Header, r io.Reader) error {
		switch {
		case p == ManifestPath && hdr.Typeflag == tar.TypeReg:
			data, err := io.ReadAll(io.LimitReader(r, maxManifestSize))
			if err != nil {
				return fmt.Errorf("reading %s: %w", ManifestPath, err)
			}
			m, err := ParseManifest(data)
			if err != nil {
				return err
			}
			rep.Manifest = m
			rep.TalosCompatibility = m.Metadata.Compatibility.Talos.Version
		case hdr.Typeflag == tar.TypeSymlink || hdr.Typeflag == tar.TypeLink:
			if err := links.add(p, hdr); err != nil {
				return err
			}
			if IsModule(p) {
				linked = append(linked, ModuleResult{Path: p})
			}
		case !IsModule(p) || !isRegular(hdr.Typeflag):
			// Directories, devices and FIFOs named like modules are not modules.
		default:
			res := ModuleResult{Path: p}
			res.set(c.checkEntry(p, hdr, r))
			if err := readErr(r); err != nil {
				return err
			}
			checked[fileCheck{p, compression(p)}] = res
			rep.Modules = append(rep.Modules, res)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}

	// Resolve the links; what a link leads to and was not checked under the link's
	// compression is checked in another pass over the image.
	type pending struct {
		i      int // index in linked
		target string
	}
	var todo []pending
	for i := range linked {
		l := &linked[i]
		target, desc, err := links.resolve(l.Path)
		if err != nil {
			l.Verdict, l.Detail = Invalid, err.Error()
			continue
		}
		if res, ok := checked[fileCheck{target, compression(l.Path)}]; ok {
			l.followed(res, desc)
			continue
		}
		l.Detail = desc
		todo = append(todo, pending{i, target})
	}
	for len(todo) > 0 {
		// Each pass reads each target once, under one compression: links reading one
		// file with different compressions need another pass (at most one per kind).
		type want struct {
			compression string
			link        int // a link reading the target with that compression
		}
		byTarget := map[string]*want{}
		for _, t := range todo {
			comp := compression(linked[t.i].Path)
			if w := byTarget[t.target]; w == nil {
				byTarget[t.target] = &want{comp, t.i}
			}
		}
		err := walkImage(ctx, img, func(p string, hdr *tar.Header, r io.Reader) error {
			// A directory need not have an entry of its own: one under it says it is.
			for d := path.Dir(p); d != "/"; d = path.Dir(d) {
				if w, ok := byTarget[d]; ok {
					delete(byTarget, d)
					checked[fileCheck{d, w.compression}] = ModuleResult{Path: d, Verdict: Invalid, Detail: "not a file (a directory)"}
				}
			}
			w, ok := byTarget[p]
			if !ok {
				return nil
			}
			delete(byTarget, p)
			res := ModuleResult{Path: p}
			if isRegular(hdr.Typeflag) {
				// Read under the link's name: that is the name the module loader opens.
				res.set(c.checkEntry(linked[w.link].Path, hdr, r))
				if err := readErr(r); err != nil {
					return err
				}
			} else {
				res.Verdict, res.Detail = Invalid, fmt.Sprintf("not a file (tar entry type %q)", hdr.Typeflag)
			}
			checked[fileCheck{p, w.compression}] = res
			return nil
		})
		if err != nil {
			return nil, err
		}
		for p, w := range byTarget {
			checked[fileCheck{p, w.compression}] = ModuleResult{Path: p, Verdict: Invalid, Detail: "no such file in the image (a dangling link)"}
		}
		var later []pending
		for _, t := range todo {
			if res, ok := checked[fileCheck{t.target, compression(linked[t.i].Path)}]; ok {
				l := &linked[t.i]
				l.followed(res, l.Detail)
			} else {
				later = append(later, t)
			}
		}
		todo = later
	}
	rep.Modules = append(rep.Modules, linked...)

	sort.Slice(rep.Modules, func(i, j int) bool { return rep.Modules[i].Path < rep.Modules[j].Path })
	rep.NoModules = len(rep.Modules) == 0
	rep.OK = len(rep.Problems()) == 0
	return rep, nil
}

// fileCheck keys a verdict: a file's path and the compression it was read with.
type fileCheck struct{ path, compression string }

// checkEntry checks the module file of a tar entry, reading it under name's compression.
func (c *moduleChecker) checkEntry(name string, hdr *tar.Header, r io.Reader) Verdict {
	if hdr.Size > c.lim.module {
		return Verdict{Kind: Invalid, Detail: fmt.Sprintf("the module file is %d bytes, more than the %s sovos reads", hdr.Size, byteSize(c.lim.module))}
	}
	return c.check(name, r)
}

// followed gives a link the verdict on what it leads to, described by desc.
func (m *ModuleResult) followed(target ModuleResult, desc string) {
	m.Verdict, m.Detail = target.Verdict, joinDetail(desc, target.Detail)
	m.Signer, m.HashAlgorithm = target.Signer, target.HashAlgorithm
}

// joinDetail prefixes a link's description to the detail of what it leads to.
func joinDetail(link, detail string) string {
	if detail == "" {
		return link
	}
	return link + ": " + detail
}

// isRegular reports whether a tar entry type is a file with content.
func isRegular(t byte) bool {
	return t == tar.TypeReg || t == tar.TypeRegA || t == tar.TypeCont || t == tar.TypeGNUSparse
}

// entryReader reads a tar entry and remembers a read error, which is the image's fault
// (a broken layer, a cancelled download), not the content's.
type entryReader struct {
	r   io.Reader
	err error
}

func (e *entryReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil && err != io.EOF {
		e.err = err
	}
	return n, err
}

// readErr returns the error reading r met, if r is an entryReader that met one.
func readErr(r io.Reader) error {
	if e, ok := r.(*entryReader); ok && e.err != nil {
		return fmt.Errorf("reading the image filesystem: %w", e.err)
	}
	return nil
}

// cleanPath turns a tar entry name ("./rootfs/x.ko", "rootfs/x.ko") into an absolute
// path ("/rootfs/x.ko").
func cleanPath(p string) string {
	return path.Clean("/" + strings.TrimPrefix(p, "./"))
}
