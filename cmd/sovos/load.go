package main

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/urfave/cli/v2"
	"github.com/urmanac/sovos/config"
	"github.com/urmanac/sovos/executor/buildkit"
)

// varArgs records -var and -var-file options in command-line order: both flags share
// one list, so a later option overrides an earlier one whatever its kind. It is a
// cli.Generic, not a StringSlice, because urfave/cli splits slice values on commas and
// `-var 'x=a,b'` must keep its comma.
type varArgs struct {
	list *[]config.VarArg
	file bool
}

func (v *varArgs) Set(s string) error {
	*v.list = append(*v.list, config.VarArg{File: v.file, Value: s})
	return nil
}

func (v *varArgs) String() string {
	if v == nil || v.list == nil {
		return ""
	}
	var out []string
	for _, a := range *v.list {
		if a.File == v.file {
			out = append(out, a.Value)
		}
	}
	return strings.Join(out, " ")
}

// varFlags returns the -var and -var-file flags of a command that evaluates the
// configuration. Call it once per command definition.
func varFlags() []cli.Flag {
	list := &[]config.VarArg{}
	return []cli.Flag{
		&cli.GenericFlag{Name: "var", Usage: "set a variable: `NAME=VALUE` (repeatable)", Value: &varArgs{list: list}},
		&cli.GenericFlag{Name: "var-file", Usage: "load variables from `FILE` (*.sovosvars, *.sovosvars.json; repeatable)", Value: &varArgs{list: list, file: true}},
	}
}

// rootFlag finds a global flag's value from any command context.
func rootString(c *cli.Context, name string) string {
	for _, cc := range c.Lineage() {
		if cc.IsSet(name) {
			return cc.String(name)
		}
	}
	return c.String(name)
}

func rootBool(c *cli.Context, name string) bool {
	for _, cc := range c.Lineage() {
		if cc.IsSet(name) {
			return cc.Bool(name)
		}
	}
	return c.Bool(name)
}

// configDir is the -chdir directory, default ".".
func configDir(c *cli.Context) string {
	if d := rootString(c, "chdir"); d != "" {
		return d
	}
	return "."
}

// useColor says whether diagnostics on stderr may use ANSI colour.
func useColor(c *cli.Context) bool {
	if rootBool(c, "no-color") {
		return false
	}
	fi, err := os.Stderr.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// evalOptions gathers the evaluation inputs from a command's flags and the environment.
func evalOptions(c *cli.Context, hooks config.Hooks) config.EvalOptions {
	opts := config.EvalOptions{Environ: os.Environ(), Hooks: hooks, CheckBuilderAddress: buildkit.CheckAddress}
	for _, f := range c.Command.Flags {
		g, ok := f.(*cli.GenericFlag)
		if !ok {
			continue
		}
		if va, ok := g.Value.(*varArgs); ok && va.list != nil {
			opts.Args = *va.list
			break
		}
	}
	for _, a := range opts.Args {
		if a.File {
			opts.VarFiles = append(opts.VarFiles, a.Value)
		} else {
			opts.Vars = append(opts.Vars, a.Value)
		}
	}
	if hasFlag(c, "workspace") {
		opts.Workspace = c.String("workspace")
	}
	return opts
}

func hasFlag(c *cli.Context, name string) bool {
	if c.Command == nil {
		return false
	}
	for _, f := range c.Command.Flags {
		for _, n := range f.Names() {
			if n == name {
				return true
			}
		}
	}
	return false
}

// writeDiags renders diagnostics to stderr once, with snippets.
func writeDiags(c *cli.Context, files map[string]*hcl.File, diags hcl.Diagnostics) {
	writeDiagsTo(c.App.ErrWriter, c, files, diags)
}

func writeDiagsTo(w io.Writer, c *cli.Context, files map[string]*hcl.File, diags hcl.Diagnostics) {
	if err := config.WriteDiagnostics(w, files, diags, useColor(c)); err != nil {
		fmt.Fprintf(os.Stderr, "Error: %s\n", err)
	}
}

// loadConfig loads and evaluates the configuration of -chdir with the command's -var
// and -var-file flags. Diagnostics (warnings included) are written to stderr once; on
// error the returned error is a cli.Exit with code 1 and an empty message, so nothing
// is printed twice.
func loadConfig(c *cli.Context, hooks config.Hooks) (*config.Config, error) {
	cfg, diags := config.Load(c.Context, configDir(c), evalOptions(c, hooks))
	writeDiags(c, cfg.Files, diags)
	if diags.HasErrors() {
		return nil, cli.Exit("", 1)
	}
	return cfg, nil
}
