package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/urfave/cli/v2"
	"github.com/zclconf/go-cty/cty"

	"github.com/urmanac/sovos/config"
	"github.com/urmanac/sovos/hashing"
	"github.com/urmanac/sovos/planner"
	"github.com/urmanac/sovos/planner/planfile"
	"github.com/urmanac/sovos/state"
	"github.com/urmanac/sovos/views"
)

// multiString is a repeatable string flag that keeps commas (-target 'profile.x["a,b"]'),
// unlike cli.StringSliceFlag.
type multiString struct{ list []string }

func (m *multiString) Set(s string) error { m.list = append(m.list, s); return nil }
func (m *multiString) String() string {
	if m == nil {
		return ""
	}
	return strings.Join(m.list, " ")
}

func multiValues(c *cli.Context, name string) []string {
	if g, ok := c.Generic(name).(*multiString); ok && g != nil {
		return g.list
	}
	return nil
}

// planFlags are the flags that make a plan, shared by plan and by apply without a plan
// file. Call it once per command definition.
func planFlags() []cli.Flag {
	flags := []cli.Flag{
		&cli.GenericFlag{Name: "target", Usage: "limit the plan to `ADDR` and its dependencies (repeatable)", Value: &multiString{}},
		&cli.GenericFlag{Name: "replace", Usage: "rebuild `ADDR` even if nothing changed (repeatable)", Value: &multiString{}},
		&cli.BoolFlag{Name: "refresh", Value: true, Usage: "check the registry: recorded artifacts still exist, unrecorded ones may be adopted"},
		&cli.BoolFlag{Name: "promote", Usage: "move each resource's stable tags to its digest"},
	}
	flags = append(flags, varFlags()...)
	return append(flags, stateFlags()...)
}

func planCommand() *cli.Command {
	flags := append(planFlags(),
		&cli.StringFlag{Name: "out", Usage: "save the plan to `FILE` for `sovos apply FILE`"},
		&cli.BoolFlag{Name: "detailed-exitcode", Usage: "exit 2 when the plan has changes (0: none, 1: error)"},
		&cli.StringFlag{Name: "format", Value: "human", Usage: "output format: human, json or markdown"},
	)
	return &cli.Command{
		Name:      "plan",
		Usage:     "show what apply would build and why",
		ArgsUsage: " ",
		Flags:     flags,
		Action:    planAction,
	}
}

func planAction(c *cli.Context) error {
	if c.NArg() > 0 {
		return fmt.Errorf("plan takes no arguments (got %q); the configuration directory is given with -chdir", c.Args().First())
	}
	format := c.String("format")
	if err := checkFormat(format); err != nil {
		return err
	}
	res, err := makePlan(c)
	if err != nil {
		return err
	}
	p := res.Plan
	stdout := c.App.Writer
	if c.Bool("refresh") {
		// -refresh=false makes no network call at all, so only a refreshing plan asks.
		for _, w := range planner.CheckGitRefs(c.Context, res.Config, 15*time.Second) {
			fmt.Fprintf(c.App.ErrWriter, "Warning: %s\n", w)
		}
	}
	if err := render(c, stdout, p, format); err != nil {
		return err
	}
	if out := c.String("out"); out != "" {
		if err := planfile.Write(out, p); err != nil {
			return err
		}
		// Only the document goes to stdout for machine formats.
		w := io.Writer(os.Stderr)
		if format == "human" {
			w = stdout
		}
		fmt.Fprintf(w, "\nSaved the plan to: %s\n\nTo perform exactly these actions, run:\n  sovos apply %s\n", out, out)
	}
	if c.Bool("detailed-exitcode") && p.HasChanges() {
		return cli.Exit("", 2)
	}
	return nil
}

func checkFormat(f string) error {
	switch f {
	case "human", "json", "markdown":
		return nil
	}
	return fmt.Errorf("-format=%s: use human, json or markdown", f)
}

func render(c *cli.Context, w io.Writer, p *planner.Plan, format string) error {
	switch format {
	case "json":
		return views.PlanJSON(w, p)
	case "markdown":
		return views.PlanMarkdown(w, p, repoRelativeDir(configDir(c)))
	}
	return views.PlanHuman(w, p, stdoutColor(c))
}

// stdoutColor says whether standard output may carry ANSI colour.
func stdoutColor(c *cli.Context) bool {
	if rootBool(c, "no-color") || c.App.Writer != os.Stdout {
		return false
	}
	fi, err := os.Stdout.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// repoRelativeDir is dir relative to the root of the git repository holding it (the
// directory with .git), so CI can find the comment of one configuration among several;
// "." when not in a repository.
func repoRelativeDir(dir string) string {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "."
	}
	for root := abs; ; {
		if _, err := os.Stat(filepath.Join(root, ".git")); err == nil {
			rel, err := filepath.Rel(root, abs)
			if err != nil {
				return "."
			}
			return filepath.ToSlash(rel)
		}
		parent := filepath.Dir(root)
		if parent == root {
			return "."
		}
		root = parent
	}
}

// planResult is what making a plan gathered; apply reuses it.
type planResult struct {
	Plan        *planner.Plan
	Config      *config.Config
	Backend     state.Backend
	Prior       *state.State
	PriorDigest string
}

// makePlan evaluates the configuration, reads the state and plans. It takes no lock and
// writes nothing to the registry: a pull request from a fork has read access only, and
// a saved plan is guarded by the state digest instead.
func makePlan(c *cli.Context) (*planResult, error) {
	ctx := c.Context
	refresh := c.Bool("refresh")
	cfg, backend, prior, digest, err := loadWithState(c, refresh, nil)
	if err != nil {
		return nil, err
	}
	reg, err := registryClient(cfg.Settings)
	if err != nil {
		return nil, err
	}
	p, err := planner.Build(ctx, cfg, prior, digest, planner.Options{
		SovosVersion: Version,
		Targets:      multiValues(c, "target"),
		Replace:      multiValues(c, "replace"),
		Refresh:      refresh,
		Promote:      c.Bool("promote"),
		Registry:     reg,
	})
	if err != nil {
		return nil, err
	}
	logger(c).Debug("planned", "state", backend.String(), "digest", digest, "create", p.Summary.Create,
		"adopt", p.Summary.Adopt, "rebuild", p.Summary.Rebuild, "promote", p.Summary.Promote, "forget", p.Summary.Forget)
	return &planResult{Plan: p, Config: cfg, Backend: backend, Prior: prior, PriorDigest: digest}, nil
}

// loadWithState evaluates the configuration and reads its state. The state's location
// is part of the configuration (the sovos block), and hashing needs the state (recorded
// image digests under -refresh=false), so the settings are evaluated first (the sovos
// block and the variables only), then the state is read, then the whole configuration
// is evaluated once, with the hasher. saved are a saved plan's variable values
// (config.EvalOptions.Saved), nil when planning.
func loadWithState(c *cli.Context, refresh bool, saved map[string]cty.Value) (*config.Config, state.Backend, *state.State, string, error) {
	ctx := c.Context
	m, diags := config.LoadDir(configDir(c))
	if diags.HasErrors() {
		writeDiags(c, filesOf(m), diags)
		return nil, nil, nil, "", cli.Exit("", 1)
	}
	opts := evalOptions(c, nil)
	opts.Saved = saved
	first, ds := m.Settings(ctx, opts)
	if ds.HasErrors() {
		writeDiags(c, first.Files, append(diags, ds...))
		return nil, nil, nil, "", cli.Exit("", 1)
	}
	// A mistake in the configuration explains more than a state that cannot be read:
	// when reading fails, the configuration's errors (if any) are what is reported.
	configFirst := func(err error) error {
		if cfg, ds := m.Evaluate(ctx, opts); ds.HasErrors() {
			writeDiags(c, cfg.Files, append(diags, ds...))
			return cli.Exit("", 1)
		}
		return err
	}
	backend, err := openBackend(c, first)
	if err != nil {
		return nil, nil, nil, "", configFirst(err)
	}
	prior, digest, err := backend.Read(ctx)
	if err != nil {
		return nil, nil, nil, "", configFirst(stateReadError(backend, err))
	}
	known := map[string]string{}
	if prior != nil {
		for _, r := range prior.Resources {
			if r.Type == config.TypeImage && r.Digest != "" {
				known[r.Address] = r.Digest
			}
		}
	}
	reg, err := registryClient(first.Settings)
	if err != nil {
		return nil, nil, nil, "", err
	}
	hasher := hashing.NewHasher(hashing.HasherOptions{
		CacheDir:     filepath.Join(first.Dir, ".sovos", "cache"),
		Refresh:      refresh,
		Registry:     reg,
		KnownDigests: known,
	})
	opts.Hooks = hasher
	cfg, ds := m.Evaluate(ctx, opts)
	diags = append(diags, ds...)
	writeDiags(c, cfg.Files, diags)
	if diags.HasErrors() {
		return nil, nil, nil, "", cli.Exit("", 1)
	}
	return cfg, backend, prior, digest, nil
}

func filesOf(m *config.Module) map[string]*hcl.File {
	if m == nil {
		return nil
	}
	return m.Files()
}

func showCommand() *cli.Command {
	flags := append([]cli.Flag{
		&cli.StringFlag{Name: "format", Value: "human", Usage: "output format: human, json or markdown"},
	}, varFlags()...)
	return &cli.Command{
		Name:      "show",
		Usage:     "show a saved plan, or the state",
		ArgsUsage: "[PLANFILE]",
		Flags:     append(flags, stateFlags()...),
		Action: func(c *cli.Context) error {
			format := c.String("format")
			if err := checkFormat(format); err != nil {
				return err
			}
			switch c.NArg() {
			case 0:
				return showState(c, format)
			case 1:
				f, err := planfile.Read(c.Args().First())
				if err != nil {
					return err
				}
				return render(c, c.App.Writer, f.Plan, format)
			}
			return fmt.Errorf("show takes at most one plan file, got %d arguments", c.NArg())
		},
	}
}

// readState opens the configured backend (the configuration is evaluated without
// hashing: only its settings are needed) and reads the state.
func readState(c *cli.Context) (*state.State, state.Backend, error) {
	_, s, backend, err := loadState(c)
	return s, backend, err
}

// loadState loads the configuration (unhashed) and reads the state it names.
func loadState(c *cli.Context) (*config.Config, *state.State, state.Backend, error) {
	cfg, err := loadConfig(c, nil)
	if err != nil {
		return nil, nil, nil, err
	}
	backend, err := openBackend(c, cfg)
	if err != nil {
		return nil, nil, nil, err
	}
	s, _, err := backend.Read(c.Context)
	if err != nil {
		return nil, nil, nil, stateReadError(backend, err)
	}
	return cfg, s, backend, nil
}

func showState(c *cli.Context, format string) error {
	s, backend, err := readState(c)
	if err != nil {
		return err
	}
	switch format {
	case "json":
		return views.StateJSON(c.App.Writer, s)
	case "markdown":
		return views.StateMarkdown(c.App.Writer, s, backend.String())
	}
	return views.StateHuman(c.App.Writer, s, backend.String())
}

func outputCommand() *cli.Command {
	flags := append([]cli.Flag{&cli.BoolFlag{Name: "json", Usage: "print as JSON"}}, varFlags()...)
	return &cli.Command{
		Name:      "output",
		Usage:     "print the outputs recorded by the last apply",
		ArgsUsage: "[NAME]",
		Flags:     append(flags, stateFlags()...),
		Action:    outputAction,
	}
}

func outputAction(c *cli.Context) error {
	if c.NArg() > 1 {
		return fmt.Errorf("output takes at most one output name, got %d arguments", c.NArg())
	}
	s, _, err := readState(c)
	if err != nil {
		return err
	}
	var outputs map[string]*state.Output
	if s != nil {
		outputs = s.Outputs
	}
	w := c.App.Writer
	if c.NArg() == 1 {
		name := c.Args().First()
		o, ok := outputs[name]
		if !ok {
			return fmt.Errorf("no output %q in the state; `sovos output` lists them (outputs are recorded by apply)", name)
		}
		return views.Output(w, o, c.Bool("json"))
	}
	if c.Bool("json") {
		return views.OutputsJSON(w, outputs)
	}
	if len(outputs) == 0 && len(views.ProfileArtifactRefs(s)) == 0 {
		fmt.Fprintln(os.Stderr, "No outputs in the state: declare output blocks and run `sovos apply`.")
		return nil
	}
	if err := views.Outputs(w, outputs); err != nil {
		return err
	}
	return views.ProfileArtifacts(w, s, len(outputs) > 0)
}
