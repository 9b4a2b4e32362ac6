package main

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/urfave/cli/v2"

	"github.com/urmanac/sovos/config"
	"github.com/urmanac/sovos/operation"
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

// locationFlags say where the state is (overriding the configuration's sovos.state
// block) and which workspace: the flags of a command that reads the state.
func locationFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "state-registry", Usage: "store the state in the OCI repository `REPO` (overrides sovos.state)"},
		&cli.StringFlag{Name: "state-path", Usage: "store the state in the local OCI layout `DIR` (overrides sovos.state)"},
		&cli.StringFlag{Name: "workspace", Usage: "the workspace `NAME` (default: $SOVOS_WORKSPACE, else sovos.state.workspace, else \"default\")"},
	}
}

// stateFlags are the flags of a command that writes the state (or plans for an apply
// that will): locationFlags, and how to lock it. A command that only reads takes no
// lock and has locationFlags alone.
func stateFlags() []cli.Flag {
	return append(locationFlags(),
		&cli.BoolFlag{Name: "lock", Value: true, Usage: "lock the state while writing it"},
		&cli.DurationFlag{Name: "lock-timeout", Usage: "wait up to `DURATION` for a lock held by someone else"},
	)
}

// inputs gathers what every operation reads from a command's flags and the
// environment; diagnostics go to stderr, once, with snippets.
func inputs(c *cli.Context) operation.Inputs {
	in := operation.Inputs{
		Dir:     configDir(c),
		DirName: rootString(c, chdirGiven),
		Environ: os.Environ(),
		Logger:  logger(c),
		Diagnostics: func(files map[string]*hcl.File, diags hcl.Diagnostics) {
			writeDiags(c, files, diags)
		},
	}
	for _, f := range c.Command.Flags {
		if g, ok := f.(*cli.GenericFlag); ok {
			if va, ok := g.Value.(*varArgs); ok && va.list != nil {
				in.Vars = *va.list
				break
			}
		}
	}
	if hasFlag(c, "workspace") {
		in.Workspace = c.String("workspace")
	}
	if hasFlag(c, "state-registry") {
		in.StateRegistry, in.StatePath = c.String("state-registry"), c.String("state-path")
	}
	return in
}

// lockOptions are -lock and -lock-timeout; waiting for the lock is told on stderr.
func lockOptions(c *cli.Context) operation.LockOptions {
	return operation.LockOptions{Skip: c.IsSet("lock") && !c.Bool("lock"), Timeout: c.Duration("lock-timeout"),
		Logf: func(format string, args ...any) { fmt.Fprintf(c.App.ErrWriter, format+"\n", args...) }}
}

// exitCodes wraps every command's action: a configuration whose diagnostics were
// already written exits 1 without repeating them.
func exitCodes(cmds []*cli.Command) {
	for _, cmd := range cmds {
		if action := cmd.Action; action != nil {
			cmd.Action = func(c *cli.Context) error {
				err := action(c)
				if de := (*operation.DiagnosticsError)(nil); errors.As(err, &de) {
					return cli.Exit("", 1)
				}
				return err
			}
		}
		exitCodes(cmd.Subcommands)
	}
}

// rootString finds a global flag's value from any command context.
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

// stdoutColor says whether standard output may carry ANSI colour.
func stdoutColor(c *cli.Context) bool {
	if rootBool(c, "no-color") || c.App.Writer != os.Stdout {
		return false
	}
	fi, err := os.Stdout.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
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
	if err := config.WriteDiagnostics(c.App.ErrWriter, files, diags, useColor(c)); err != nil {
		fmt.Fprintf(os.Stderr, "Error: %s\n", err)
	}
}
