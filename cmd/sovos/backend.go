package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v2"
	"github.com/urmanac/sovos/config"
	"github.com/urmanac/sovos/internal/oci"
	"github.com/urmanac/sovos/state"
)

// stateFlags are the flags of every command that reads or writes the state: where it is
// (overriding the configuration's sovos.state block) and how to lock it.
func stateFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "state-registry", Usage: "store the state in the OCI repository `REPO` (overrides sovos.state)"},
		&cli.StringFlag{Name: "state-path", Usage: "store the state in the local OCI layout `DIR` (overrides sovos.state)"},
		&cli.StringFlag{Name: "workspace", Usage: "the workspace `NAME` (default: $SOVOS_WORKSPACE, else sovos.state.workspace, else \"default\")"},
		&cli.BoolFlag{Name: "lock", Value: true, Usage: "lock the state while writing it"},
		&cli.DurationFlag{Name: "lock-timeout", Usage: "wait up to `DURATION` for a lock held by someone else"},
	}
}

// openBackend opens the state backend named by the flags, else by the evaluated
// configuration (cfg may be nil when there is none), else the local default
// .sovos/state in the configuration directory. A registry is reached with
// registryClient.
func openBackend(c *cli.Context, cfg *config.Config) (state.Backend, error) {
	var settings config.Settings
	if cfg != nil {
		settings = cfg.Settings
	}
	repo, path := settings.State.Registry, settings.State.Path
	switch {
	case c.IsSet("state-registry") && c.IsSet("state-path"):
		return nil, fmt.Errorf("-state-registry and -state-path both name where the state is; pass one of them")
	case c.IsSet("state-registry"):
		repo, path = c.String("state-registry"), ""
	case c.IsSet("state-path"):
		repo, path = "", c.String("state-path")
		if !filepath.IsAbs(path) {
			path = filepath.Join(configDir(c), path)
		}
	}
	ws := settings.State.Workspace
	switch {
	case c.IsSet("workspace"):
		ws = c.String("workspace")
	case ws == "" && os.Getenv("SOVOS_WORKSPACE") != "":
		ws = os.Getenv("SOVOS_WORKSPACE")
	case ws == "":
		ws = "default"
	}
	if repo == "" {
		if path == "" {
			path = filepath.Join(configDir(c), ".sovos", "state")
		}
		return state.NewLayout(path, ws)
	}
	client, err := registryClient(settings)
	if err != nil {
		return nil, err
	}
	return state.NewRegistry(repo, ws, state.WithClient(client))
}

// registryClient returns the client of a command's registry calls: plain HTTP to the
// configuration's insecure_registries only, the request deadline of
// SOVOS_REGISTRY_TIMEOUT, sovos's User-Agent.
func registryClient(settings config.Settings) (*oci.Client, error) {
	timeout, err := oci.TimeoutFromEnv()
	if err != nil {
		return nil, err
	}
	return oci.New(
		oci.WithInsecure(settings.InsecureRegistries...),
		oci.WithTimeout(timeout),
		oci.WithUserAgent("sovos/"+Version),
	), nil
}

// lockState takes the state lock for operation unless -lock=false, waiting up to
// -lock-timeout. The returned release function is never nil.
func lockState(c *cli.Context, b state.Backend, operation string) (*state.Held, func() error, error) {
	if c.IsSet("lock") && !c.Bool("lock") {
		return nil, func() error { return nil }, nil
	}
	held, err := state.Hold(c.Context, b, state.NewLockInfo(operation, Version), state.DefaultLockTTL,
		state.WithTimeout(c.Duration("lock-timeout")))
	if err != nil {
		return nil, nil, fmt.Errorf("locking the state in %s: %w", b, err)
	}
	return held, func() error {
		if err := held.Release(c.Context); err != nil {
			return fmt.Errorf("releasing the state lock in %s: %w", b, err)
		}
		return nil
	}, nil
}

// stateReadError is how every command reports a state it cannot read: it names the
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
