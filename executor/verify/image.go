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
	"github.com/google/go-containerregistry/pkg/v1/mutate"

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
	// NoModules says the image holds no kernel module at all, which for an extension
	// meant to carry drivers is worth a warning.
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
// filesystem is streamed: only one module at a time is held in memory. An error means
// the image could not be read; a bad module is a verdict in the report, not an error.
func CheckImage(ctx context.Context, img v1.Image, cert *x509.Certificate) (*Report, error) {
	if cert == nil {
		return nil, errors.New("no certificate to check modules against")
	}
	rc := mutate.Extract(img)
	defer rc.Close()
	// Extract keeps reading layers into its pipe until closed; closing it on cancellation
	// ends a long download promptly.
	stop := context.AfterFunc(ctx, func() { rc.Close() })
	defer stop()

	rep := &Report{}
	byPath := map[string]int{}
	// Hard links share their target's content. Extract walks layers from the top down, so
	// a link may come before its target: resolve them once every file has been seen.
	type link struct{ path, target string }
	var links []link
	tr := tar.NewReader(rc)
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, fmt.Errorf("reading the image filesystem: %w", err)
		}
		p := cleanPath(hdr.Name)
		switch {
		case p == ManifestPath && hdr.Typeflag == tar.TypeReg:
			data, err := io.ReadAll(io.LimitReader(tr, maxManifestSize))
			if err != nil {
				return nil, fmt.Errorf("reading %s: %w", ManifestPath, err)
			}
			m, err := ParseManifest(data)
			if err != nil {
				return nil, err
			}
			rep.Manifest = m
			rep.TalosCompatibility = m.Metadata.Compatibility.Talos.Version

		case !IsModule(p):

		case hdr.Typeflag == tar.TypeReg:
			res := ModuleResult{Path: p}
			if hdr.Size > MaxModuleSize {
				res.Verdict, res.Detail = Invalid, fmt.Sprintf("module file is %d bytes, more than the %d sovos reads", hdr.Size, MaxModuleSize)
			} else {
				data, err := io.ReadAll(tr)
				if err != nil {
					if ctx.Err() != nil {
						return nil, ctx.Err()
					}
					return nil, fmt.Errorf("reading %s: %w", p, err)
				}
				v := CheckModuleFile(p, data, cert)
				res.Verdict, res.Detail = v.Kind, v.Detail
			}
			byPath[p] = len(rep.Modules)
			rep.Modules = append(rep.Modules, res)

		case hdr.Typeflag == tar.TypeLink:
			links = append(links, link{path: p, target: cleanPath(hdr.Linkname)})
		}
		// Symbolic links and directories named like modules are not modules: the kernel
		// loads the link's target, which is checked under its own name.
	}

	for _, l := range links {
		res := ModuleResult{Path: l.path}
		if i, ok := byPath[l.target]; ok {
			res.Verdict, res.Detail = rep.Modules[i].Verdict, rep.Modules[i].Detail
		} else {
			res.Verdict, res.Detail = Invalid, fmt.Sprintf("hard link to %s, which is not a module file sovos could check", l.target)
		}
		rep.Modules = append(rep.Modules, res)
	}

	sort.Slice(rep.Modules, func(i, j int) bool { return rep.Modules[i].Path < rep.Modules[j].Path })
	rep.NoModules = len(rep.Modules) == 0
	rep.OK = len(rep.Problems()) == 0
	return rep, nil
}

// cleanPath turns a tar entry name ("./rootfs/x.ko", "rootfs/x.ko") into an absolute
// path ("/rootfs/x.ko").
func cleanPath(p string) string {
	return path.Clean("/" + strings.TrimPrefix(p, "./"))
}
