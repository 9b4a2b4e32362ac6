package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/urmanac/sovos/operation"
	"github.com/urmanac/sovos/planner"
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

func applyAction(c *cli.Context) error {
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
	// Ctrl-C cancels the builds; the state is still written before exit.
	ctx, stop := interruptible(c, "cancelling the running builds and saving the state", "the state may then miss what finished")
	defer stop()
	req := operation.ApplyRequest{
		Inputs:       inputs(c),
		PlanFile:     c.Args().First(),
		PlanOptions:  planOptions(c),
		Lock:         lockOptions(c),
		Parallelism:  c.Int("parallelism"),
		Progress:     os.Stderr,
		ProgressMode: c.String("progress"),
		Approve: func(p *planner.Plan) (bool, error) {
			if err := views.PlanHuman(c.App.Writer, p, stdoutColor(c)); err != nil {
				return false, err
			}
			if !p.HasChanges() || c.Bool("auto-approve") {
				return true, nil
			}
			return approve(ctx, c)
		},
	}
	if req.PlanFile != "" {
		for _, f := range []string{"promote", "target", "replace", "refresh"} {
			if c.IsSet(f) {
				return fmt.Errorf("-%s is part of a saved plan: make the plan again with `sovos plan -%s ... -out=FILE`, or apply without a plan file", f, f)
			}
		}
	}

	res, err := operation.Apply(ctx, req)
	if errors.Is(err, operation.ErrCancelled) {
		return cli.Exit("Apply cancelled.", 1)
	}
	if res != nil && res.Summary != nil {
		fmt.Fprintln(c.App.Writer)
		views.ApplySummary(c.App.Writer, res.Summary)
	}
	if err == nil && len(res.Outputs) > 0 {
		fmt.Fprintln(c.App.Writer, "\nOutputs:")
		return views.Outputs(c.App.Writer, res.Outputs)
	}
	return err
}

// approve asks for "yes" on a terminal; elsewhere apply needs -auto-approve.
func approve(ctx context.Context, c *cli.Context) (bool, error) {
	ok, err := askYes(ctx, c, "Do you want to perform these actions?", "apply")
	if err != nil {
		return false, fmt.Errorf("%w (or save a plan with `sovos plan -out=FILE`, review it, and run `sovos apply FILE`)", err)
	}
	return ok, nil
}
