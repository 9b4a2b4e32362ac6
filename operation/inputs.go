package operation

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"

	"github.com/urmanac/sovos/config"
	"github.com/urmanac/sovos/executor/bkdriver"
	"github.com/urmanac/sovos/hashing"
	"github.com/urmanac/sovos/internal/oci"
	"github.com/urmanac/sovos/state"
)

// Inputs are what every operation reads: the configuration, the values it is evaluated
// with, and where its state is.
type Inputs struct {
	// Dir is the configuration directory (-chdir; "" is ".").
	Dir string
	// DirName is how the user named Dir, when the process has switched to it already
	// (the CLI's -chdir): messages about the directory say this; "" is Dir.
	DirName string
	// Vars are the -var and -var-file options in command-line order: a later one wins.
	Vars []config.VarArg
	// Environ is the environment the configuration sees (SOVOS_VAR_name,
	// SOVOS_WORKSPACE); usually os.Environ().
	Environ []string
	// Workspace is -workspace: it wins over SOVOS_WORKSPACE and sovos.state.workspace
	// (config.ResolveWorkspace).
	Workspace string
	// StateRegistry and StatePath (-state-registry, -state-path) override where the
	// configuration's sovos.state block says the state is. A relative StatePath is
	// relative to Dir.
	StateRegistry, StatePath string
	// Diagnostics receives the configuration's diagnostics, warnings included, once per
	// operation and as soon as they are known (before an apply asks for approval). nil
	// drops them; errors are also returned as a *DiagnosticsError.
	Diagnostics func(files map[string]*hcl.File, diags hcl.Diagnostics)
	// Logger receives debug logs; nil logs nothing.
	Logger hclog.Logger
}

func (in Inputs) dir() string {
	if in.Dir == "" {
		return "."
	}
	return in.Dir
}

func (in Inputs) logger() hclog.Logger {
	if in.Logger == nil {
		return hclog.NewNullLogger()
	}
	return in.Logger
}

func (in Inputs) evalOptions(hooks config.Hooks) config.EvalOptions {
	return config.EvalOptions{DirName: in.DirName, Args: in.Vars, Environ: in.Environ, Workspace: in.Workspace, Hooks: hooks,
		CheckBuilderAddress: bkdriver.CheckAddress}
}

// report hands diagnostics to in.Diagnostics, and turns errors among them into a
// *DiagnosticsError.
func (in Inputs) report(files map[string]*hcl.File, diags hcl.Diagnostics) error {
	if len(diags) > 0 && in.Diagnostics != nil {
		in.Diagnostics(files, diags)
	}
	if diags.HasErrors() {
		return &DiagnosticsError{Files: files, Diags: diags}
	}
	return nil
}

// DiagnosticsError is a configuration that did not load or evaluate. Its diagnostics
// have already been given to Inputs.Diagnostics, when it is set.
type DiagnosticsError struct {
	Files map[string]*hcl.File
	Diags hcl.Diagnostics
}

func (e *DiagnosticsError) Error() string { return e.Diags.Error() }

// readOptions are the evaluation options of a command that reads but does not plan:
// SPEC §11 makes only plan and apply need values for required variables (the weekly
// `pin -check` job has no secrets), so one without a value is unknown, as `validate`
// has it. What such a command truly needs from one is an error naming the variable
// (config.Settings.Needs, config.Resource.Needs; openBackend, registryClient).
func (in Inputs) readOptions() config.EvalOptions {
	opts := in.evalOptions(nil)
	opts.Validate = true
	opts.ReadOnly = true // nor the files only a build reads (secret and TLS files)
	return opts
}

// loadConfig evaluates the configuration without hashing: its settings, variables and
// resources, but no content hash (what state commands, verify and graph need). With
// readOnly, required variables may lack a value (readOptions).
func loadConfig(ctx context.Context, in Inputs, readOnly bool) (*config.Config, error) {
	opts := in.evalOptions(nil)
	if readOnly {
		opts = in.readOptions()
	}
	cfg, diags := config.Load(ctx, in.dir(), opts)
	if err := in.report(cfg.Files, diags); err != nil {
		return nil, err
	}
	return cfg, nil
}

// loaded is a configuration evaluated with the hasher, and its state.
type loaded struct {
	cfg     *config.Config
	backend state.Backend
	prior   *state.State
	digest  string
	reg     *oci.Client
	lock    *heldLock // nil when no lock was asked for
}

// loadOptions say how loadHashed reads the state.
type loadOptions struct {
	refresh bool
	// saved are a saved plan's variable values (config.EvalOptions.Saved).
	saved map[string]cty.Value
	// lock, when not nil, is taken before the state is read, so that an apply plans
	// from the state it writes; operation names it.
	lock      *LockOptions
	operation string
}

// loadHashed evaluates the configuration and reads its state. The state's location is
// part of the configuration (the sovos block), and hashing needs the state (recorded
// image digests under -refresh=false), so the settings are evaluated first (the sovos
// block and the variables only), then the state is read, then the whole configuration
// is evaluated once, with the hasher. When o.lock is set, the lock is held on return
// (the caller releases it) and released on error.
func loadHashed(ctx context.Context, in Inputs, o loadOptions) (_ *loaded, err error) {
	m, diags := config.LoadDirNamed(in.dir(), in.DirName)
	if diags.HasErrors() {
		var files map[string]*hcl.File
		if m != nil {
			files = m.Files()
		}
		return nil, in.report(files, diags)
	}
	opts := in.evalOptions(nil)
	opts.Saved = o.saved
	first, ds := m.Settings(ctx, opts)
	if ds.HasErrors() {
		return nil, in.report(first.Files, append(diags, ds...))
	}
	// A mistake in the configuration explains more than a state that cannot be read:
	// when reading fails, the configuration's errors (if any) are what is reported.
	configFirst := func(err error) error {
		if cfg, ds := m.Evaluate(ctx, opts); ds.HasErrors() {
			return in.report(cfg.Files, append(diags, ds...))
		}
		return err
	}
	l := &loaded{}
	if l.reg, err = registryClient(first.Settings); err != nil {
		return nil, configFirst(err)
	}
	if l.backend, err = openBackend(in, first.Settings, func() (*oci.Client, error) { return l.reg, nil }); err != nil {
		return nil, configFirst(err)
	}
	if o.lock != nil {
		if l.lock, err = takeLock(ctx, l.backend, *o.lock, o.operation); err != nil {
			return nil, configFirst(err)
		}
		defer func() {
			if err != nil {
				err = errors.Join(err, l.lock.release(ctx))
			}
		}()
		l.backend = l.lock.backend // read and write through the lock: fenced
	}
	if l.prior, l.digest, err = l.backend.Read(ctx); err != nil {
		return nil, configFirst(stateReadError(l.backend, err))
	}
	known := map[string]string{}
	if l.prior != nil {
		for _, r := range l.prior.Resources {
			if r.Type == config.TypeImage && r.Digest != "" {
				known[r.Address] = r.Digest
			}
		}
	}
	opts.Hooks = hashing.NewHasher(hashing.HasherOptions{
		CacheDir:     filepath.Join(first.Dir, ".sovos", "cache"),
		Refresh:      o.refresh,
		Registry:     l.reg,
		KnownDigests: known,
	})
	cfg, ds := m.Evaluate(ctx, opts)
	if err := in.report(cfg.Files, append(diags, ds...)); err != nil {
		return nil, err
	}
	l.cfg = cfg
	return l, nil
}

// openBackend opens the state backend named by -state-registry or -state-path, else
// by the configuration's sovos.state block (whose path config has made absolute; the
// default is .sovos/state in the configuration directory), for the workspace
// config.ResolveWorkspace chose. A registry is reached with the client reg returns,
// asked for only then. A location or workspace that derives from a required variable
// without a value (a read-only command's evaluation) is an error naming it.
func openBackend(in Inputs, settings config.Settings, reg func() (*oci.Client, error)) (state.Backend, error) {
	repo, path := settings.State.Registry, settings.State.Path
	switch {
	case in.StateRegistry != "" && in.StatePath != "":
		return nil, fmt.Errorf("-state-registry and -state-path both name where the state is; pass one of them")
	case in.StateRegistry != "":
		repo, path = in.StateRegistry, ""
	case in.StatePath != "":
		repo, path = "", in.StatePath
		if !filepath.IsAbs(path) {
			path = filepath.Join(in.dir(), path)
		}
	default:
		for _, s := range []string{"sovos.state.registry", "sovos.state.path"} {
			if err := settings.Needs(s); err != nil {
				err.(*config.UnsetError).Hint = "or name the state with -state-registry or -state-path"
				return nil, err
			}
		}
	}
	if err := settings.Needs("sovos.state.workspace"); err != nil {
		err.(*config.UnsetError).Hint = "or choose the workspace with -workspace or SOVOS_WORKSPACE"
		return nil, err
	}
	ws := settings.State.Workspace
	if repo == "" {
		if path == "" {
			path = filepath.Join(in.dir(), filepath.FromSlash(config.DefaultStatePath))
		}
		return state.NewLayout(path, ws)
	}
	client, err := reg()
	if err != nil {
		return nil, err
	}
	settle, err := state.LockSettleFromEnv()
	if err != nil {
		return nil, err
	}
	return state.NewRegistry(repo, ws, state.WithClient(client), state.WithLockSettle(settle))
}

// registryClient returns the client of an operation's registry calls: plain HTTP to the
// configuration's insecure_registries only, the request deadline of
// SOVOS_REGISTRY_TIMEOUT, sovos's User-Agent. insecure_registries that wait for a
// variable without a value are an error naming it (a client without them would refuse
// or misjudge those registries).
func registryClient(settings config.Settings) (*oci.Client, error) {
	if err := settings.Needs("sovos.insecure_registries"); err != nil {
		return nil, err
	}
	timeout, err := oci.TimeoutFromEnv()
	if err != nil {
		return nil, err
	}
	return oci.New(
		oci.WithInsecure(settings.InsecureRegistries...),
		oci.WithTimeout(timeout),
		oci.WithUserAgent("sovos/"+config.SovosVersion),
	), nil
}

// stateReadError is how every operation reports a state it cannot read: it names the
// backend once (the state package's errors often start with it already) and says what
// to do about a damaged or foreign state.
func stateReadError(b state.Backend, err error) error {
	msg := strings.TrimPrefix(err.Error(), b.String()+": ")
	switch {
	case errors.Is(err, state.ErrCorrupt):
		msg += "; restore a good copy (a `sovos state pull` backup, or the errored state a failed apply saved) with `sovos state push -force FILE`"
	case errors.Is(err, state.ErrNotState):
		msg += "; check that the state location (-state-path, -state-registry or the sovos.state block) is the right one"
	}
	return &wrappedError{msg: fmt.Sprintf("reading the state from %s: %s", b, msg), err: err}
}

// wrappedError has its own message but still matches what it wraps (errors.Is/As).
type wrappedError struct {
	msg string
	err error
}

func (e *wrappedError) Error() string { return e.msg }
func (e *wrappedError) Unwrap() error { return e.err }
