package main

import (
	"errors"
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/urmanac/sovos/operation"
	"github.com/urmanac/sovos/views"
)

func validateCommand() *cli.Command {
	return &cli.Command{
		Name:      "validate",
		Usage:     "check the configuration without contacting any registry or builder",
		UsageText: "sovos [-chdir=DIR] validate [-json] [-var NAME=VALUE]... [-var-file FILE]...",
		Flags: append([]cli.Flag{
			&cli.BoolFlag{Name: "json", Usage: "print the result as JSON"},
		}, varFlags()...),
		Action: runValidate,
	}
}

func runValidate(c *cli.Context) error {
	files, diags := operation.Validate(c.Context, inputs(c))
	if c.Bool("json") {
		if err := views.ValidateJSON(c.App.Writer, files, diags); err != nil {
			return err
		}
	} else {
		writeDiags(c, files, diags)
	}
	switch {
	case diags.HasErrors():
		return cli.Exit("", 1)
	case !c.Bool("json"):
		fmt.Fprintln(c.App.Writer, "Success! The configuration is valid.")
	}
	return nil
}

func fmtCommand() *cli.Command {
	return &cli.Command{
		Name:      "fmt",
		Usage:     "rewrite configuration and variable files in the canonical format",
		UsageText: "sovos [-chdir=DIR] fmt [-check] [-diff] [-recursive] [FILE|DIR]...",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "check", Usage: "write nothing; exit 3 and list the files that are not formatted"},
			&cli.BoolFlag{Name: "diff", Usage: "print the changes as a unified diff"},
			&cli.BoolFlag{Name: "recursive", Usage: "also format files in subdirectories"},
		},
		Action: runFmt,
	}
}

func runFmt(c *cli.Context) error {
	res, err := operation.Fmt(c.Context, operation.FmtRequest{
		Inputs: inputs(c), Targets: c.Args().Slice(), Recursive: c.Bool("recursive"), Check: c.Bool("check"),
	})
	if res != nil {
		for _, f := range res.Files {
			fmt.Fprintln(c.App.Writer, f.Path)
			if c.Bool("diff") {
				views.UnifiedDiff(c.App.Writer, f.Path, string(f.Before), string(f.After))
			}
		}
	}
	if de := (*operation.DiagnosticsError)(nil); err != nil && !errors.As(err, &de) {
		return cli.Exit("Error: "+err.Error(), 1)
	}
	if err != nil {
		return err
	}
	if c.Bool("check") && len(res.Files) > 0 {
		return cli.Exit("", 3)
	}
	return nil
}

func graphCommand() *cli.Command {
	return &cli.Command{
		Name:      "graph",
		Usage:     "draw the resource graph (DOT for Graphviz, or mermaid for GitHub comments)",
		UsageText: "sovos [-chdir=DIR] graph [-format=dot|mermaid] [-var NAME=VALUE]... [-var-file FILE]...",
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "format", Value: "dot", Usage: "`dot` or `mermaid`"},
			&cli.StringFlag{Name: "plan", Usage: "note each resource's action from a saved plan `FILE`"},
		}, varFlags()...),
		Action: runGraph,
	}
}

func runGraph(c *cli.Context) error {
	format := c.String("format")
	if format != "dot" && format != "mermaid" {
		return fmt.Errorf("-format=%s: use dot or mermaid", format)
	}
	res, err := operation.Graph(c.Context, operation.GraphRequest{Inputs: inputs(c), PlanFile: c.String("plan")})
	if de := (*operation.DiagnosticsError)(nil); err != nil && !errors.As(err, &de) {
		return cli.Exit("Error: "+err.Error(), 1)
	}
	if err != nil {
		return err
	}
	if format == "mermaid" {
		err = views.GraphMermaid(c.App.Writer, res.Config, res.Notes)
	} else {
		err = views.GraphDOT(c.App.Writer, res.Config, res.Notes)
	}
	if err != nil {
		return fmt.Errorf("graph: %w", err)
	}
	return nil
}
