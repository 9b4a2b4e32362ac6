// Command sovos is the CLI: flags, prompts and the choice of view. Every command runs
// an operation (package operation) and renders its result (package views).
package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/urmanac/sovos/config"
)

// Version is sovos's version, printed by `sovos version` and recorded in states and plans.
var Version = config.SovosVersion

func main() {
	args, err := applyChdir(os.Args)
	if err != nil {
		fmt.Fprintf(os.Stderr, "Error: %s\n", err)
		os.Exit(1)
	}
	os.Exit(run(args))
}

// applyChdir gives -chdir Terraform's meaning: the process switches to DIR before
// anything else, so relative paths on the command line (-out, -var-file, plan files)
// are relative to the configuration directory. It removes the flag from args; run()
// still honours -chdir without changing the process directory, which keeps in-process
// tests independent of each other.
func applyChdir(args []string) ([]string, error) {
	out := []string{args[0]}
	for i := 1; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "-") {
			return append(out, args[i:]...), nil // the command name: global flags are over
		}
		name, value, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if name != "chdir" {
			out = append(out, a)
			continue
		}
		if !hasValue {
			if i+1 >= len(args) {
				return nil, fmt.Errorf("-chdir needs a directory")
			}
			i++
			value = args[i]
		}
		if err := os.Chdir(value); err != nil {
			return nil, chdirError(value, err)
		}
		// The directory is "." from now on; messages name it as the user did.
		out = append(out, "-"+chdirGiven+"="+value)
	}
	return out, nil
}

// chdirGiven is the hidden global flag by which applyChdir tells the app the -chdir the
// user gave, after switching to it (dirName).
const chdirGiven = "chdir-given"

// chdirError says why -chdir=dir failed without repeating the path (os.Chdir's error
// names it again).
func chdirError(dir string, err error) error {
	why := err
	var pe *fs.PathError
	if errors.As(err, &pe) {
		why = pe.Err
	}
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("-chdir=%s: no such directory", dir)
	case errors.Is(why, syscall.ENOTDIR):
		return fmt.Errorf("-chdir=%s: not a directory", dir)
	}
	return fmt.Errorf("-chdir=%s: %w", dir, why)
}

func newApp() *cli.App {
	app := &cli.App{
		Name:  "sovos",
		Usage: "plan and apply OS supply chains built with BuildKit",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "chdir", Usage: "switch to `DIR` before doing anything"},
			&cli.StringFlag{Name: chdirGiven, Hidden: true},
			&cli.BoolFlag{Name: "no-color", Usage: "disable colour in output"},
		},
		HideHelpCommand:      true,
		EnableBashCompletion: false,
		Commands: []*cli.Command{
			validateCommand(),
			fmtCommand(),
			planCommand(),
			applyCommand(),
			showCommand(),
			graphCommand(),
			verifyCommand(),
			outputCommand(),
			stateCommand(),
			forceUnlockCommand(),
			pinCommand(),
			fetchCommand(),
			rollbackCommand(),
			gcCommand(),
			versionCommand(),
		},
	}
	app.OnUsageError = func(_ *cli.Context, err error, _ bool) error {
		return fmt.Errorf("%w; run `sovos -h` for the usage", err)
	}
	setUsageErrors(app.Commands, "sovos")
	exitCodes(app.Commands)
	paceGC(app.Commands)
	return app
}

// setUsageErrors makes a bad flag one error line naming the command's help, instead of
// "Incorrect Usage" and the whole help page on standard output plus the error.
func setUsageErrors(cmds []*cli.Command, parent string) {
	for _, cmd := range cmds {
		full := parent + " " + cmd.Name
		if cmd.OnUsageError == nil {
			cmd.OnUsageError = func(_ *cli.Context, err error, _ bool) error {
				return fmt.Errorf("%w; run `%s -h` for the usage", err, full)
			}
		}
		setUsageErrors(cmd.Subcommands, full)
	}
}

func run(args []string) int {
	app := newApp()
	app.ExitErrHandler = func(*cli.Context, error) {}
	log, closer, err := newLogger(os.Stderr)
	if err != nil {
		fmt.Fprintf(os.Stderr, "Error: %s\n", err)
		return 1
	}
	if closer != nil {
		defer closer.Close()
	}
	app.Metadata = map[string]any{"logger": log}
	app.CommandNotFound = func(c *cli.Context, name string) {
		fmt.Fprintf(c.App.ErrWriter, "Error: %q is not a sovos command; run `sovos -h` for the list.\n", name)
		c.App.Metadata["unknown"] = true
	}
	err = app.Run(interspersedArgs(app, args))
	if app.Metadata["unknown"] == true {
		return 1
	}
	if err != nil {
		if ec, ok := err.(cli.ExitCoder); ok {
			if msg := ec.Error(); msg != "" {
				fmt.Fprintln(os.Stderr, msg)
			}
			return ec.ExitCode()
		}
		fmt.Fprintf(os.Stderr, "Error: %s\n", err)
		return 1
	}
	return 0
}
