package bkdriver

import (
	"context"
	"errors"
	"fmt"
	"strings"

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

// SolveOption asks for what only some solves need.
type SolveOption func(*solveOptions)

type solveOptions struct {
	privileged bool
	secrets    map[string]Secret
}

// EntitlementInsecure is the entitlement a step marked llb.Security(llb.SecurityModeInsecure)
// needs: all capabilities and every device allowed.
const EntitlementInsecure = "security.insecure"

// Privileged asks for the security.insecure entitlement in this solve only (a profile's
// imager step). A daemon started without --allow-insecure-entitlement security.insecure
// refuses the whole solve with an *EntitlementError, so no other solve asks for it.
func Privileged() SolveOption {
	return func(o *solveOptions) { o.privileged = true }
}

// WithSecrets serves secrets to the solve's steps (llb.AddSecret with llb.SecretID(id)).
// Their values travel only through the session; they are never logged or put in the
// definition.
func WithSecrets(secrets map[string]Secret) SolveOption {
	return func(o *solveOptions) { o.secrets = secrets }
}

// EntitlementError is a daemon's refusal of an entitlement it was not started to allow.
type EntitlementError struct {
	Addr        string // the daemon's address
	Entitlement string
	Err         error
}

func (e *EntitlementError) Error() string {
	return fmt.Sprintf("the BuildKit daemon at %s does not allow the %s entitlement (start it with --allow-insecure-entitlement %s): %v", e.Addr, e.Entitlement, e.Entitlement, e.Err)
}

func (e *EntitlementError) Unwrap() error { return e.Err }

// Solve runs an LLB definition (e.g. an imager run over a profile file) and
// exports its result as export says. It returns the pushed manifest digest, or
// "" when nothing was pushed. Progress goes to status as in Build: the caller
// owns the channel and Solve never closes it.
func (d *Driver) Solve(ctx context.Context, def *llb.Definition, export Export, status chan *client.SolveStatus, opts ...SolveOption) (string, error) {
	var so solveOptions
	for _, o := range opts {
		o(&so)
	}
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
	if so.privileged {
		opt.AllowedEntitlements = []string{EntitlementInsecure}
	}
	if len(so.secrets) > 0 {
		sp, err := secretProvider(so.secrets)
		if err != nil {
			return fail(err)
		}
		opt.Session = append(opt.Session, sp)
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
		if so.privileged && strings.Contains(err.Error(), "entitlement "+EntitlementInsecure+" is not allowed") {
			return fail(&EntitlementError{Addr: d.addr, Entitlement: EntitlementInsecure, Err: simplifyGRPCError(err)})
		}
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
