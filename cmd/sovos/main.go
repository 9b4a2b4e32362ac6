// Command sovos is the CLI: it only wires flags to the config, planner, executor and
// state packages.
package main

import (
	"fmt"
	"os"

	"github.com/urfave/cli/v2"
)

// Version is sovos's version, printed by `sovos version` and recorded in states and plans.
var Version = "0.1.0"

func main() {
	os.Exit(run(os.Args))
}

func newApp() *cli.App {
	return &cli.App{
		Name:  "sovos",
		Usage: "plan and apply OS supply chains built with BuildKit",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "chdir", Usage: "switch to `DIR` before doing anything"},
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
			versionCommand(),
		},
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
	if err := app.Run(interspersedArgs(app, args)); err != nil {
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

// notBuilt is the action of a command whose feature has not landed yet.
func notBuilt(name string) cli.ActionFunc {
	return func(*cli.Context) error {
		return cli.Exit(fmt.Sprintf("Error: `sovos %s` is not built yet.", name), 1)
	}
}
