package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"

	"github.com/mattn/go-isatty"
	"github.com/urfave/cli/v2"
	"github.com/zclconf/go-cty/cty"

	"github.com/urmanac/sovos/config"
	"github.com/urmanac/sovos/executor"
	"github.com/urmanac/sovos/executor/buildkit"
	"github.com/urmanac/sovos/internal/oci"
	"github.com/urmanac/sovos/planner"
	"github.com/urmanac/sovos/planner/planfile"
	"github.com/urmanac/sovos/state"
	"github.com/urmanac/sovos/views"
)

func applyCommand() *cli.Command {
	flags := append(planFlags(),
		&cli.BoolFlag{Name: "auto-approve", Usage: "apply without asking for confirmation"},
		&cli.IntFlag{Name: "parallelism", Value: 4, Usage: "build at most `N` resources at once"},
		&cli.StringFlag{Name: "progress", Value: "auto", Usage: "progress display: auto, tty, plain, rawjson or quiet"},
	)
	return &cli.Command{
		Name:      "apply",
		Usage:     "build what the plan says, push it and record it in the state",
		ArgsUsage: "[PLANFILE]",
		Flags:     flags,
		Action:    applyAction,
	}
}

func applyAction(c *cli.Context) (err error) {
	if c.NArg() > 1 {
		return fmt.Errorf("apply takes at most one plan file, got %d arguments", c.NArg())
	}
	switch c.String("progress") {
	case "auto", "tty", "plain", "rawjson", "quiet":
	default:
		return fmt.Errorf("-progress=%s: use auto, tty, plain, rawjson or quiet", c.String("progress"))
	}
	if c.Int("parallelism") < 1 {
		return fmt.Errorf("-parallelism=%d: give at least 1", c.Int("parallelism"))
	}
	// Ctrl-C cancels the builds; the state is still written before exit. A second Ctrl-C
	// ends the process at once: the default handling is restored after the first.
	ctx, cancel := context.WithCancel(c.Context)
	defer cancel()
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	go func() {
		select {
		case <-sigs:
			signal.Stop(sigs)
			fmt.Fprintln(c.App.ErrWriter, "\nInterrupt received: cancelling the running builds and saving the state. Press Ctrl-C again to quit at once (the state may then miss what finished).")
			cancel()
		case <-ctx.Done():
		}
	}()

	var (
		p       *planner.Plan
		cfg     *config.Config
		backend state.Backend
		planned string // the state digest the plan was made against
		file    *planfile.File
	)
	if c.NArg() == 1 {
		for _, f := range []string{"promote", "target", "replace", "refresh"} {
			if c.IsSet(f) {
				return fmt.Errorf("-%s is part of a saved plan: make the plan again with `sovos plan -%s ... -out=FILE`, or apply without a plan file", f, f)
			}
		}
		if file, err = planfile.Read(c.Args().First()); err != nil {
			return err
		}
		// The plan's non-sensitive variables come from the file; sensitive ones are
		// given again (-var, SOVOS_VAR_), as nothing of them is saved.
		if cfg, backend, err = loadHashed(c, file.Values()); err != nil {
			return err
		}
		planned = file.Plan.State.Digest
	} else {
		res, err := makePlan(c)
		if err != nil {
			return err
		}
		p, cfg, backend, planned = res.Plan, res.Config, res.Backend, res.PriorDigest
		if err := views.PlanHuman(c.App.Writer, p, stdoutColor(c)); err != nil {
			return err
		}
		if p.HasChanges() && !c.Bool("auto-approve") {
			ok, err := approve(c)
			if err != nil {
				return err
			}
			if !ok {
				return cli.Exit("Apply cancelled.", 1)
			}
		}
	}

	held, release, err := lockState(c, backend, "apply")
	if err != nil {
		return err
	}
	defer func() {
		if rerr := release(); err == nil {
			err = rerr
		}
	}()
	// Read again under the lock: the plan must still describe the stored state.
	current, digest, err := backend.Read(ctx)
	if err != nil {
		return stateReadError(backend, err)
	}
	if file != nil {
		if err := file.Check(cfg, digest); err != nil {
			return err
		}
		if p, err = file.Bind(cfg, current); err != nil {
			return err
		}
	} else if digest != planned {
		return fmt.Errorf("the state in %s changed while planning (someone else applied); run `sovos apply` again", backend)
	}
	// The writer gets its own copy: the plan keeps pointing at the state it was made from.
	working, _, err := backend.Read(ctx)
	if err != nil {
		return stateReadError(backend, err)
	}
	if working == nil {
		working = state.New(p.Workspace, Version)
	}
	working.SovosVersion = Version

	reg, err := registryClient(cfg.Settings)
	if err != nil {
		return err
	}
	connect, closeDrivers := drivers(cfg, reg)
	defer closeDrivers()
	sum, applyErr := executor.Apply(ctx, p, executor.Options{
		Parallelism:  c.Int("parallelism"),
		Promote:      c.Bool("promote") && file == nil,
		Drivers:      connect,
		Writer:       state.NewWriter(backend, working, held),
		Dir:          cfg.Dir,
		CacheDir:     filepath.Join(cfg.Dir, ".sovos", "cache"),
		Progress:     os.Stderr,
		ProgressMode: c.String("progress"),
		Logger:       logger(c),
		Registry:     reg,
	})
	if sum != nil {
		fmt.Fprintln(c.App.Writer)
		views.ApplySummary(c.App.Writer, sum)
	}
	if applyErr == nil {
		if len(working.Outputs) > 0 {
			fmt.Fprintln(c.App.Writer, "\nOutputs:")
			if err := views.Outputs(c.App.Writer, working.Outputs); err != nil {
				return err
			}
		}
		return nil
	}
	return applyErr
}

// approve asks for "yes" on a terminal; elsewhere apply needs -auto-approve.
func approve(c *cli.Context) (bool, error) {
	if !isatty.IsTerminal(os.Stdin.Fd()) {
		return false, errors.New("apply needs -auto-approve when standard input is not a terminal (or save a plan with `sovos plan -out=FILE`, review it, and run `sovos apply FILE`)")
	}
	fmt.Fprint(c.App.Writer, "\nDo you want to perform these actions?\n  Only 'yes' will be accepted to approve.\n\n  Enter a value: ")
	answer, err := bufio.NewReader(os.Stdin).ReadString('\n')
	if err != nil {
		return false, nil
	}
	return strings.TrimSpace(answer) == "yes", nil
}

// loadHashed evaluates the configuration with the hasher and a saved plan's variable
// values, as plan did, so the saved plan can be checked against it, and opens the state
// backend.
func loadHashed(c *cli.Context, saved map[string]cty.Value) (*config.Config, state.Backend, error) {
	cfg, backend, _, _, err := loadWithState(c, true, saved)
	return cfg, backend, err
}

// drivers connects to the builders of the configuration on first use (a configuration
// without builder blocks has one "default" builder at $BUILDKIT_HOST), and closes every
// connection it made. BuildKit pushes over plain HTTP to the registries reg does.
func drivers(cfg *config.Config, reg *oci.Client) (func(ctx context.Context, name string) (*buildkit.Driver, error), func()) {
	var mu sync.Mutex
	var opened []*buildkit.Driver
	connect := func(ctx context.Context, name string) (*buildkit.Driver, error) {
		opts := []buildkit.Option{buildkit.WithInsecureRegistries(reg.InsecureHosts()...)}
		addr := ""
		if b := cfg.Builders[name]; b != nil {
			addr = b.Address
			if t := b.TLS; t != nil {
				opts = append(opts, buildkit.WithTLS(t.CACert, t.Cert, t.Key, t.ServerName))
			}
		} else if name != "default" && name != "" {
			return nil, fmt.Errorf("no builder %q in the configuration", name)
		}
		d, err := buildkit.New(ctx, addr, opts...)
		if err != nil {
			return nil, fmt.Errorf("builder.%s: %w", name, err)
		}
		mu.Lock()
		opened = append(opened, d)
		mu.Unlock()
		return d, nil
	}
	return connect, func() {
		mu.Lock()
		defer mu.Unlock()
		for _, d := range opened {
			d.Close()
		}
	}
}
