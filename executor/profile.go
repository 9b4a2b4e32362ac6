package executor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/containerd/platforms"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/moby/buildkit/client/llb"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/urmanac/sovos/bootmedia"
	"github.com/urmanac/sovos/config"
	"github.com/urmanac/sovos/executor/bkdriver"
	"github.com/urmanac/sovos/internal/imagerinit"
	"github.com/urmanac/sovos/internal/oci"
	"github.com/urmanac/sovos/planner"
	"github.com/urmanac/sovos/state"
)

// imagerInput is where the imager step sees sovos's files (read-only): imager-init and
// the rendered profile.
const imagerInput = "/sovos"

// legacyFileName is the name first-release sovos gave a profile's files, before the
// file-safe rule (SPEC §2): only brackets, quotes, slashes and spaces were replaced.
func legacyFileName(addr string) string {
	return strings.NewReplacer(`["`, "_", `"]`, "", "[", "_", "]", "", `"`, "", "/", "_", `\`, "_", " ", "_").Replace(addr)
}

// profile renders a profile (every apply rewrites it) and, when it is created or
// rebuilt and names an imager, runs the imager on it.
func (a *applier) profile(ctx context.Context, c *planner.ResourceChange) error {
	r := c.Resource
	yaml, err := a.renderProfile(r)
	if err != nil {
		return fmt.Errorf("%s: %w", c.Address, err)
	}
	dest := r.Profile.Dest
	if dest == "" {
		dest = filepath.Join(a.p.Config.Dir, "_out", "profiles")
	}
	if err := os.MkdirAll(dest, 0o755); err != nil {
		return fmt.Errorf("%s: %w", c.Address, err)
	}
	a.renameLegacy(c.Address, dest)
	path := filepath.Join(dest, config.ProfileFileName(c.Address))
	if err := os.WriteFile(path, yaml, 0o644); err != nil {
		return fmt.Errorf("%s: writing its profile: %w", c.Address, err)
	}
	a.log.Debug("profile written", "address", c.Address, "path", path)
	a.mu.Lock()
	a.files[c.Address] = append(a.files[c.Address], relPath(a.p.Config.Dir, path))
	a.mu.Unlock()

	switch c.Action {
	case planner.ActionCreate, planner.ActionRebuild, planner.ActionAdopt:
	default:
		return a.signRecorded(ctx, c)
	}
	art := &artifact{image: r.Profile.Image}
	artifactType := ""
	builtAt := time.Time{}
	if c.Action == planner.ActionAdopt {
		art.digest = c.AdoptDigest
		// The plan adopts only what this sovos pushes for such a profile: boot media, or
		// the installer image itself.
		artifactType = bootmedia.ArtifactTypeOf(r.Profile)
	} else if r.Profile.Imager != "" {
		// -replace runs the imager again rather than reuse BuildKit's cached result.
		out, err := a.runImager(ctx, r, yaml, dest, replaced(c))
		if err != nil {
			return err
		}
		art.digest, artifactType = out.digest, out.artifactType
		builtAt = time.Now()
		if out.exported != "" {
			a.mu.Lock()
			a.files[c.Address] = append(a.files[c.Address], relPath(a.p.Config.Dir, out.exported)+string(filepath.Separator))
			a.mu.Unlock()
		}
	} else if c.Action != planner.ActionAdopt {
		// Only its YAML was written.
		a.mu.Lock()
		a.rendered[c.Address] = true
		a.mu.Unlock()
	}
	if art.digest != "" {
		// Boot media and installer outputs are signed like builds; adopted ones only
		// when no signature by the configured key is attached yet.
		if err := a.signImages(ctx, c.Address, art, c.Action == planner.ActionAdopt); err != nil {
			return err
		}
	}
	if art.digest == "" {
		art.image = ""
	}
	rec := &state.Resource{
		Address: c.Address, Type: r.Addr.Type, Hash: r.Hash, Tag: r.Tag,
		Image: art.image, Digest: art.digest, ArtifactType: artifactType, Inputs: c.Inputs,
		BuiltFrom: a.dependencyDigests(r), Attestations: art.attestations,
	}
	if !builtAt.IsZero() {
		rec.BuiltAt = builtAt.UTC()
	}
	if c.Prior != nil && c.Prior.Tags != nil {
		rec.Tags = c.Prior.Tags
	}
	a.setArtifact(c.Address, art)
	a.update(func(x *state.Index) { x.Put(rec) })
	return nil
}

// renameLegacy moves the YAML (and exported directory) a first-release sovos wrote
// under the old file name to the file-safe one, once, and remembers it for the summary.
func (a *applier) renameLegacy(addr, dest string) {
	old := legacyFileName(addr)
	if old == config.FileSafe(addr) {
		return
	}
	for _, pair := range [][2]string{{old + ".yaml", config.ProfileFileName(addr)}, {old, config.FileSafe(addr)}} {
		from, to := filepath.Join(dest, pair[0]), filepath.Join(dest, pair[1])
		if _, err := os.Lstat(from); err != nil {
			continue
		}
		if _, err := os.Lstat(to); err == nil {
			continue // both exist: the new one wins, the old one is left for its owner
		}
		if err := os.Rename(from, to); err != nil {
			a.log.Warn("renaming a profile file to its file-safe name", "from", from, "to", to, "error", err)
			continue
		}
		a.mu.Lock()
		a.renamed = append(a.renamed, Rename{Address: addr, From: relPath(a.p.Config.Dir, from), To: relPath(a.p.Config.Dir, to)})
		a.mu.Unlock()
	}
}

// imagerResult is what an imager run produced.
type imagerResult struct {
	digest       string // of the pushed installer image or the published boot media; "" when exported only
	artifactType string // bootmedia.ArtifactType for published boot media, bootmedia.InstallerImage for an installer
	exported     string // the directory /out was exported to, for a profile without an image
}

// runImager runs the imager image over the profile through BuildKit, privileged and
// with the host's devices (SPEC §2 Boot media): imager-init mounts a devtmpfs at /dev
// and runs the imager's entrypoint (else `imager`) with `-` and the profile on its
// standard input; Secure Boot keys are secrets under /secureboot. Its /out is then
// exported, then pushed as the installer image it holds (kind installer), published as
// a boot-media artifact (other kinds), or, without an image, exported to DEST/ADDRESS/.
func (a *applier) runImager(ctx context.Context, r *config.Resource, yaml []byte, dest string, noCache bool) (*imagerResult, error) {
	addr := r.Addr.String()
	imager, _, err := a.pin(r.Profile.Imager)
	if err != nil {
		return nil, fmt.Errorf("%s: imager: %w", addr, err)
	}
	reg := a.opts.Registry
	imgRef, err := reg.ParseReference(imager)
	if err != nil {
		return nil, fmt.Errorf("%s: imager %q: %w", addr, imager, err)
	}
	img, err := reg.ImageInItsOwnPlatform(ctx, imgRef, r.Platform)
	if err != nil {
		return nil, fmt.Errorf("%s: reading the imager image %s: %w", addr, imager, err)
	}
	rawCfg, err := img.RawConfigFile()
	if err != nil {
		return nil, fmt.Errorf("%s: reading the imager image %s: %w", addr, imager, oci.Explain(err))
	}
	var imgCfg v1.ConfigFile
	if err := json.Unmarshal(rawCfg, &imgCfg); err != nil {
		return nil, fmt.Errorf("%s: the imager image %s has an unreadable config: %w", addr, imager, err)
	}
	// imager-init runs first, in the imager's own architecture (native or emulated, as
	// the imager itself would be).
	initBin, err := imagerinit.Binary(imgCfg.Architecture)
	if err != nil {
		return nil, fmt.Errorf("%s: imager %s: %w", addr, imager, err)
	}

	input, err := os.MkdirTemp("", "sovos-imager-input-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(input)
	if err := os.WriteFile(filepath.Join(input, "profile.yaml"), yaml, 0o644); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(input, "imager-init"), initBin, 0o755); err != nil {
		return nil, err
	}

	var popts []llb.ConstraintsOpt
	if r.Platform != "" {
		p, err := platforms.Parse(r.Platform)
		if err != nil {
			return nil, fmt.Errorf("%s: platform %q: %w", addr, r.Platform, err)
		}
		popts = append(popts, llb.Platform(p))
	}
	base, err := llb.Image(imager, llb.Platform(platformOf(imgCfg, r.Platform))).WithImageConfig(rawCfg)
	if err != nil {
		return nil, fmt.Errorf("%s: the imager image %s: %w", addr, imager, err)
	}
	cmd := imgCfg.Config.Entrypoint
	if len(cmd) == 0 {
		cmd = []string{"imager"}
	}
	args := append([]string{imagerInput + "/imager-init", imagerInput + "/profile.yaml"}, cmd...)
	args = append(args, "-")
	runOpts := []llb.RunOption{
		llb.Args(args),
		llb.Security(llb.SecurityModeInsecure),
		llb.AddMount(imagerInput, llb.Local("imager-input", llb.SharedKeyHint(addr)), llb.Readonly),
		llb.WithCustomName("imager " + config.ProfileFileName(addr)),
	}
	if noCache {
		runOpts = append(runOpts, llb.IgnoreCache)
	}
	secrets := map[string]bkdriver.Secret{}
	for _, name := range slices.Sorted(maps.Keys(r.Profile.SecurebootKeys)) {
		k := r.Profile.SecurebootKeys[name]
		secrets[name] = bkdriver.Secret{Env: k.Env, File: k.File}
		runOpts = append(runOpts, llb.AddSecret("/secureboot/"+name, llb.SecretID(name)))
	}
	out := base.Run(runOpts...).AddMount("/out", llb.Scratch())
	def, err := out.Marshal(ctx, popts...)
	if err != nil {
		return nil, fmt.Errorf("%s: imager definition: %w", addr, err)
	}

	exp := bkdriver.Export{Address: addr, LocalDirs: map[string]string{"imager-input": input}}
	var outDir string
	switch {
	case r.Profile.Image != "":
		// Boot media, or an installer image in an archive: both are pushed from disk
		// once the imager's /out is exported.
		if outDir, err = os.MkdirTemp("", "sovos-imager-out-"); err != nil {
			return nil, err
		}
		defer os.RemoveAll(outDir)
		exp.Dir = outDir
	default:
		exp.Dir = filepath.Join(dest, config.FileSafe(addr))
		// The directory holds this run's output only.
		if err := os.RemoveAll(exp.Dir); err != nil {
			return nil, fmt.Errorf("%s: %w", addr, err)
		}
	}
	drv, err := a.builder(ctx, r.Builder)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", addr, err)
	}
	opts := []bkdriver.SolveOption{bkdriver.Privileged()}
	if len(secrets) > 0 {
		opts = append(opts, bkdriver.WithSecrets(secrets))
	}
	dgst, err := drv.Solve(ctx, def, exp, a.status, opts...)
	if ee := (*bkdriver.EntitlementError)(nil); errors.As(err, &ee) {
		return nil, fmt.Errorf("%s: the imager runs privileged (BuildKit's security.insecure entitlement, for the loop devices it partitions and formats disk images on), and builder.%s at %s does not allow that: start its buildkitd with --allow-insecure-entitlement security.insecure (builds do not need it; only imager steps ask for it)",
			addr, builderName(r.Builder), ee.Addr)
	}
	if err != nil {
		return nil, err
	}
	if outDir == "" {
		return &imagerResult{exported: exp.Dir}, nil
	}
	ref := r.Profile.Image + ":" + r.Tag
	annotations := map[string]string{
		planner.AnnotationHash:      r.Hash,
		bootmedia.AnnotationAddress: addr,
		// `sovos gc -min-age` reads this time: an artifact has no image config, and an
		// imager may date an installer image's config to its sources (reproducible).
		ocispecs.AnnotationCreated: time.Now().UTC().Format(time.RFC3339),
	}
	if !bootmedia.Publishes(r.Profile) {
		dgst, err := a.pushInstaller(ctx, r, ref, outDir, annotations)
		if err != nil {
			return nil, err
		}
		return &imagerResult{digest: dgst, artifactType: bootmedia.InstallerImage}, nil
	}
	dgst, err = bootmedia.Publish(ctx, reg, ref, outDir, annotations)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", addr, err)
	}
	return &imagerResult{digest: dgst, artifactType: bootmedia.ArtifactType}, nil
}

// pushInstaller pushes the installer image an installer profile's imager wrote to
// /out/installer-<arch>.tar (SPEC §2: kind installer is pushed as the installer image it
// is, not as a file in another image).
func (a *applier) pushInstaller(ctx context.Context, r *config.Resource, ref, outDir string, annotations map[string]string) (string, error) {
	addr := r.Addr.String()
	name := bootmedia.InstallerArchive(r.Profile.Arch)
	path := filepath.Join(outDir, name)
	if info, err := os.Stat(path); err != nil || !info.Mode().IsRegular() {
		var wrote []string
		if entries, err := os.ReadDir(outDir); err == nil {
			for _, e := range entries {
				wrote = append(wrote, e.Name())
			}
		}
		what := "nothing"
		if len(wrote) > 0 {
			what = strings.Join(wrote, ", ")
		}
		return "", fmt.Errorf("%s: output kind \"installer\": the imager wrote %s to /out, not %s (the installer image as an archive, as Talos's imager writes it)", addr, what, name)
	}
	dgst, err := bootmedia.PushInstaller(ctx, a.opts.Registry, ref, path, annotations)
	if err != nil {
		return "", fmt.Errorf("%s: %w", addr, err)
	}
	return dgst, nil
}

// platformOf is the platform the imager image is: its own, as its config says, so the
// step (and imager-init) run in the architecture its binaries are built for.
func platformOf(cfg v1.ConfigFile, fallback string) ocispecs.Platform {
	if cfg.OS != "" && cfg.Architecture != "" {
		return ocispecs.Platform{OS: cfg.OS, Architecture: cfg.Architecture, Variant: cfg.Variant}
	}
	p, _ := platforms.Parse(fallback)
	return p
}

func builderName(b string) string {
	if b == "" {
		return "default"
	}
	return b
}

// renderProfile writes the Talos imager profile of r, every image pinned by digest.
func (a *applier) renderProfile(r *config.Resource) ([]byte, error) {
	p := r.Profile
	var b strings.Builder
	w := func(indent int, format string, args ...any) {
		b.WriteString(strings.Repeat("  ", indent))
		fmt.Fprintf(&b, format, args...)
		b.WriteByte('\n')
	}
	imageRef := func(indent int, ref string, first string) error {
		pinned, _, err := a.pin(ref)
		if err != nil {
			return err
		}
		w(indent, "%simageRef: %s", first, q(pinned))
		if a.opts.Registry.Insecure(pinned) {
			w(indent+len(first)/2, "forceInsecure: true")
		}
		return nil
	}
	w(0, "# Rendered by sovos from %s (hash %s). Do not edit: every apply rewrites it.", r.Addr, r.Hash)
	w(0, "arch: %s", q(p.Arch))
	w(0, "platform: %s", q(p.Platform))
	w(0, "secureboot: %t", p.Secureboot)
	w(0, "version: %s", q(p.Version))
	if len(p.KernelArgs) > 0 {
		w(0, "customization:")
		w(1, "extraKernelArgs:")
		for _, k := range p.KernelArgs {
			w(2, "- %s", q(k))
		}
	}
	// No installer and no extensions: no input key at all (an empty one is YAML null).
	if p.Installer != "" || len(p.Extensions) > 0 {
		w(0, "input:")
	}
	if p.Installer != "" {
		w(1, "baseInstaller:")
		if err := imageRef(2, p.Installer, ""); err != nil {
			return nil, fmt.Errorf("installer: %w", err)
		}
	}
	if len(p.Extensions) > 0 {
		w(1, "systemExtensions:")
		for _, e := range p.Extensions {
			if err := imageRef(2, e, "- "); err != nil {
				return nil, fmt.Errorf("extensions: %w", err)
			}
		}
	}
	if o := p.Overlay; o != nil {
		w(0, "overlay:")
		w(1, "name: %s", q(o.Name))
		if o.Image != "" {
			w(1, "image:")
			if err := imageRef(2, o.Image, ""); err != nil {
				return nil, fmt.Errorf("overlay: %w", err)
			}
		}
		if len(o.Options) > 0 {
			w(1, "options:")
			writeYAMLMap(&b, 2, o.Options)
		}
	}
	w(0, "output:")
	w(1, "kind: %s", q(p.Output.Kind))
	if p.Output.OutFormat != "" {
		w(1, "outFormat: %s", q(p.Output.OutFormat))
	}
	if p.Output.DiskSize != 0 || p.Output.DiskFormat != "" || p.Output.Bootloader != "" {
		w(1, "imageOptions:")
		if p.Output.DiskSize != 0 {
			w(2, "diskSize: %d", p.Output.DiskSize)
		}
		if p.Output.DiskFormat != "" {
			w(2, "diskFormat: %s", q(p.Output.DiskFormat))
		}
		if p.Output.Bootloader != "" {
			w(2, "bootloader: %s", q(p.Output.Bootloader))
		}
	}
	return []byte(b.String()), nil
}

// q quotes a YAML scalar as a JSON string, which YAML reads the same way.
func q(s string) string { return strconv.Quote(s) }

// writeYAMLMap writes overlay options: nested maps and lists of scalars, keys sorted.
func writeYAMLMap(b *strings.Builder, indent int, m map[string]any) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	pad := strings.Repeat("  ", indent)
	for _, k := range keys {
		switch v := m[k].(type) {
		case map[string]any:
			fmt.Fprintf(b, "%s%s:\n", pad, q(k))
			writeYAMLMap(b, indent+1, v)
		case []any:
			fmt.Fprintf(b, "%s%s:\n", pad, q(k))
			for _, e := range v {
				fmt.Fprintf(b, "%s  - %s\n", pad, yamlScalar(e))
			}
		default:
			fmt.Fprintf(b, "%s%s: %s\n", pad, q(k), yamlScalar(v))
		}
	}
}

func yamlScalar(v any) string {
	switch v := v.(type) {
	case string:
		return q(v)
	case nil:
		return "null"
	case bool:
		return strconv.FormatBool(v)
	}
	return fmt.Sprint(v)
}

// relPath shows path relative to the configuration directory when it is inside it.
func relPath(dir, path string) string {
	if dir == "" {
		return path
	}
	if rel, err := filepath.Rel(dir, path); err == nil && !strings.HasPrefix(rel, "..") {
		return rel
	}
	return path
}
