package executor

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/containerd/platforms"
	"github.com/moby/buildkit/client/llb"

	"github.com/urmanac/sovos/config"
	"github.com/urmanac/sovos/executor/buildkit"
	"github.com/urmanac/sovos/planner"
	"github.com/urmanac/sovos/state"
)

// imagerCommand is how the imager image is run on a profile: the Talos imager reads
// the profile on standard input (`imager -`) and writes to /out.
var imagerCommand = []string{"/bin/sh", "-c", "exec imager - < /profile/profile.yaml"}

// ProfileFileName is the file a profile is rendered to inside its dest directory: the
// address with [ " ] made file-safe (profile.talos["cm5"] -> profile.talos_cm5.yaml).
func ProfileFileName(addr string) string {
	return fileSafe(addr) + ".yaml"
}

func fileSafe(addr string) string {
	s := strings.NewReplacer(`["`, "_", `"]`, "", "[", "_", "]", "", `"`, "", "/", "_", `\`, "_", " ", "_").Replace(addr)
	return s
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
	path := filepath.Join(dest, ProfileFileName(c.Address))
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
		return nil
	}
	art := &artifact{image: r.Profile.Image}
	builtAt := time.Time{}
	if c.Action == planner.ActionAdopt {
		art.digest = c.AdoptDigest
	} else if r.Profile.Imager != "" {
		dgst, err := a.runImager(ctx, r, yaml, dest)
		if err != nil {
			return err
		}
		art.digest = dgst
		builtAt = time.Now()
	}
	if art.digest == "" {
		art.image = ""
		if c.Action != planner.ActionAdopt {
			a.mu.Lock()
			a.rendered[c.Address] = true
			a.mu.Unlock()
		}
	}
	rec := &state.Resource{
		Address: c.Address, Type: r.Addr.Type, Hash: r.Hash, Tag: r.Tag,
		Image: art.image, Digest: art.digest, Inputs: c.Inputs,
		BuiltFrom: a.dependencyDigests(r),
	}
	if !builtAt.IsZero() {
		rec.BuiltAt = builtAt.UTC()
	}
	if c.Prior != nil && c.Prior.Tags != nil {
		rec.Tags = c.Prior.Tags
	}
	a.setArtifact(c.Address, art)
	a.opts.Writer.Update(func(s *state.State) { upsert(s, rec) })
	return nil
}

// runImager runs the imager image over the profile through BuildKit: the profile is
// mounted read-only at /profile, the output collected from /out, then pushed to the
// profile's image (kind installer, or any kind with image set) and, for other kinds,
// exported to DEST/ADDRESS/.
func (a *applier) runImager(ctx context.Context, r *config.Resource, yaml []byte, dest string) (string, error) {
	addr := r.Addr.String()
	imager, _, err := a.pin(r.Profile.Imager)
	if err != nil {
		return "", fmt.Errorf("%s: imager: %w", addr, err)
	}
	tmp, err := os.MkdirTemp("", "sovos-profile-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	if err := os.WriteFile(filepath.Join(tmp, "profile.yaml"), yaml, 0o644); err != nil {
		return "", err
	}

	var popts []llb.ConstraintsOpt
	if r.Platform != "" {
		p, err := platforms.Parse(r.Platform)
		if err != nil {
			return "", fmt.Errorf("%s: platform %q: %w", addr, r.Platform, err)
		}
		popts = append(popts, llb.Platform(p))
	}
	imgOpts := []llb.ImageOption{}
	for _, o := range popts {
		imgOpts = append(imgOpts, o)
	}
	run := llb.Image(imager, imgOpts...).Run(
		llb.Args(imagerCommand),
		llb.AddMount("/profile", llb.Local("profile", llb.SharedKeyHint(addr)), llb.Readonly),
		llb.WithCustomName("imager "+ProfileFileName(addr)),
	)
	out := run.AddMount("/out", llb.Scratch())
	def, err := out.Marshal(ctx, popts...)
	if err != nil {
		return "", fmt.Errorf("%s: imager definition: %w", addr, err)
	}
	exp := buildkit.Export{
		Address:     addr,
		Annotations: map[string]string{planner.AnnotationHash: r.Hash},
		LocalDirs:   map[string]string{"profile": tmp},
		Insecure:    a.opts.Registry.Insecure(r.Profile.Image),
	}
	if r.Profile.Image != "" {
		exp.Image = r.Profile.Image + ":" + r.Tag
	}
	if r.Profile.Output.Kind != "installer" || r.Profile.Image == "" {
		exp.Dir = filepath.Join(dest, fileSafe(addr))
	}
	drv, err := a.driver(ctx, r.Builder)
	if err != nil {
		return "", fmt.Errorf("%s: %w", addr, err)
	}
	return drv.Solve(ctx, def, exp, a.status)
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
	w(0, "input:")
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
