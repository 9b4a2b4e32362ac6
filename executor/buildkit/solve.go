package buildkit

import (
	"context"
	"errors"
	"fmt"

	"github.com/moby/buildkit/client"
	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/exporter/containerimage/exptypes"
	"github.com/moby/buildkit/session"
	"github.com/tonistiigi/fsutil"
)

// Export says what Solve does with an LLB result: push it as an image
// (Image), write its filesystem into a local directory (Dir), or both.
type Export struct {
	// Address names the resource (profile.x) in progress lines and errors.
	Address string
	// Image is the reference to push the result to (repo:tag).
	Image string
	// Annotations are added to the pushed manifest.
	Annotations map[string]string
	// Insecure pushes over plain HTTP (also implied by the driver's insecure registries).
	Insecure bool
	// Dir receives the result's files (the local exporter).
	Dir string
	// LocalDirs are the directories the definition names with llb.Local(NAME).
	LocalDirs map[string]string
}

// Solve runs an LLB definition (e.g. an imager run over a profile file) and
// exports its result as export says. It returns the pushed manifest digest, or
// "" when nothing was pushed. Progress goes to status as in Build: the caller
// owns the channel and Solve never closes it.
func (d *Driver) Solve(ctx context.Context, def *llb.Definition, export Export, status chan *client.SolveStatus) (string, error) {
	prefix := export.Address
	if prefix == "" {
		prefix = export.Image
	}
	fail := func(err error) (string, error) {
		if prefix == "" {
			return "", err
		}
		return "", fmt.Errorf("%s: %w", prefix, err)
	}
	if def == nil {
		return fail(errors.New("no LLB definition to solve"))
	}

	opt := client.SolveOpt{
		Session:     []session.Attachable{d.authProvider()},
		LocalMounts: map[string]fsutil.FS{},
	}
	for name, dir := range export.LocalDirs {
		if err := checkDir(dir); err != nil {
			return fail(fmt.Errorf("local directory %q: %w", name, err))
		}
		fs, err := localFS(dir)
		if err != nil {
			return fail(err)
		}
		opt.LocalMounts[name] = fs
	}
	if export.Image != "" {
		insecure := export.Insecure || d.isInsecure(export.Image, nil)
		opt.Exports = append(opt.Exports, imageExport(export.Image, export.Annotations, insecure))
	}
	if export.Dir != "" {
		opt.Exports = append(opt.Exports, client.ExportEntry{Type: client.ExporterLocal, OutputDir: export.Dir})
	}

	prog := newProgress(status, export.Address)
	resp, err := d.c.Solve(ctx, def, opt, prog.channel())
	prog.wait()
	if err != nil {
		return fail(d.explain(ctx, err))
	}
	if export.Image == "" {
		return "", nil
	}
	dgst := resp.ExporterResponse[exptypes.ExporterImageDigestKey]
	if dgst == "" {
		return fail(fmt.Errorf("BuildKit reported no image digest for %s", export.Image))
	}
	return dgst, nil
}
