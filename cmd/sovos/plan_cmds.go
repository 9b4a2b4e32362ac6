package main

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/urmanac/sovos/operation"
	"github.com/urmanac/sovos/planner"
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

// planOptions are the plan flags' values.
func planOptions(c *cli.Context) operation.PlanOptions {
	return operation.PlanOptions{
		Targets: multiValues(c, "target"),
		Replace: multiValues(c, "replace"),
		Refresh: c.Bool("refresh"),
		Promote: c.Bool("promote"),
	}
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
	out := c.String("out")
	res, err := operation.Plan(c.Context, operation.PlanRequest{Inputs: inputs(c), PlanOptions: planOptions(c), Out: out})
	if err != nil {
		return err
	}
	for _, w := range res.Warnings {
		fmt.Fprintf(c.App.ErrWriter, "Warning: %s\n", w)
	}
	if err := render(c, c.App.Writer, res.Plan, format); err != nil {
		return err
	}
	if out != "" {
		// Only the document goes to stdout for machine formats.
		w := io.Writer(os.Stderr)
		if format == "human" {
			w = c.App.Writer
		}
		fmt.Fprintf(w, "\nSaved the plan to: %s\n\nTo perform exactly these actions, run:\n  sovos apply %s\n", out, out)
	}
	if c.Bool("detailed-exitcode") && res.Plan.HasChanges() {
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
		return views.PlanMarkdown(w, p, operation.RepoDir(configDir(c)))
	}
	return views.PlanHuman(w, p, stdoutColor(c))
}

func showCommand() *cli.Command {
	flags := append([]cli.Flag{
		&cli.StringFlag{Name: "format", Value: "human", Usage: "output format: human, json or markdown"},
	}, varFlags()...)
	return &cli.Command{
		Name:      "show",
		Usage:     "show a saved plan, or the state",
		ArgsUsage: "[PLANFILE]",
		Flags:     append(flags, locationFlags()...),
		Action: func(c *cli.Context) error {
			format := c.String("format")
			if err := checkFormat(format); err != nil {
				return err
			}
			if c.NArg() > 1 {
				return fmt.Errorf("show takes at most one plan file, got %d arguments", c.NArg())
			}
			res, err := operation.Show(c.Context, operation.ShowRequest{Inputs: inputs(c), PlanFile: c.Args().First()})
			if err != nil {
				return err
			}
			if res.Plan != nil {
				return render(c, c.App.Writer, res.Plan, format)
			}
			s, where := res.Stored.State, res.Stored.Backend.String()
			switch format {
			case "json":
				return views.StateJSON(c.App.Writer, s)
			case "markdown":
				return views.StateMarkdown(c.App.Writer, s, where)
			}
			return views.StateHuman(c.App.Writer, s, where)
		},
	}
}

func outputCommand() *cli.Command {
	flags := append([]cli.Flag{
		&cli.BoolFlag{Name: "json", Usage: "print as JSON"},
		&cli.BoolFlag{Name: "profiles", Usage: "print what each profile pushed (boot media, installer images) instead of the outputs"},
	}, varFlags()...)
	return &cli.Command{
		Name:      "output",
		Usage:     "print the outputs recorded by the last apply",
		ArgsUsage: "[NAME]",
		UsageText: "sovos [-chdir=DIR] output [-json] [NAME]\n   sovos [-chdir=DIR] output -profiles [-json]\n\n" +
			"Without -json, the outputs are followed by each profile's artifact. -json prints the\n" +
			"outputs only, as `terraform output -json` does ({\"NAME\": {\"value\": ..., \"sensitive\": ...}});\n" +
			"-profiles -json prints the profiles' artifacts, keyed by address\n" +
			"({\"profile.x\": {\"ref\", \"image\", \"tag\", \"digest\", \"kind\"}}).",
		Flags:  append(flags, locationFlags()...),
		Action: outputAction,
	}
}

func outputAction(c *cli.Context) error {
	if c.NArg() > 1 {
		return fmt.Errorf("output takes at most one output name, got %d arguments", c.NArg())
	}
	if c.Bool("profiles") && c.NArg() > 0 {
		return fmt.Errorf("output -profiles lists every profile's artifact and takes no output name (got %q)", c.Args().First())
	}
	res, err := operation.Output(c.Context, operation.OutputRequest{Inputs: inputs(c), Name: c.Args().First()})
	if err != nil {
		return err
	}
	w := c.App.Writer
	switch {
	case c.Bool("profiles") && c.Bool("json"):
		return views.ProfileArtifactsJSON(w, res.State)
	case c.Bool("profiles"):
		if len(views.ProfileArtifactRefs(res.State)) == 0 {
			fmt.Fprintln(os.Stderr, "No profile artifacts in the state: a profile pushes one when it has an imager and an image.")
			return nil
		}
		return views.ProfileArtifacts(w, res.State, false)
	case res.Output != nil:
		return views.Output(w, res.Output, c.Bool("json"))
	case c.Bool("json"):
		return views.OutputsJSON(w, res.Outputs)
	case len(res.Outputs) == 0 && len(views.ProfileArtifactRefs(res.State)) == 0:
		fmt.Fprintln(os.Stderr, "No outputs in the state: declare output blocks and run `sovos apply`.")
		return nil
	}
	if err := views.Outputs(w, res.Outputs); err != nil {
		return err
	}
	return views.ProfileArtifacts(w, res.State, len(res.Outputs) > 0)
}
