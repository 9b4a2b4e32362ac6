package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/urfave/cli/v2"

	"github.com/urmanac/sovos/operation"
	"github.com/urmanac/sovos/rollback"
	"github.com/urmanac/sovos/views"
)

func rollbackCommand() *cli.Command {
	return &cli.Command{
		Name:  "rollback",
		Usage: "move every stable tag back to where it pointed at an earlier serial; builds nothing",
		Flags: append(stateCmdFlags(),
			&cli.Uint64Flag{Name: "to", Usage: "the `SERIAL` to roll back to (`sovos state history` lists them)"},
			&cli.BoolFlag{Name: "auto-approve", Usage: "move the tags without asking for confirmation"}),
		Action: rollbackAction,
	}
}

func rollbackAction(c *cli.Context) error {
	if c.NArg() != 0 {
		return fmt.Errorf("rollback takes no arguments (the serial is -to=SERIAL), got %d", c.NArg())
	}
	in := inputs(c)
	ctx, stop := interruptible(c, "finishing the tag move in flight, then recording the tags moved and releasing the lock", "the state may then miss tags moved")
	defer stop()
	res, err := operation.Rollback(ctx, operation.RollbackRequest{
		Inputs: in,
		Lock:   lockOptions(c),
		To:     c.Uint64("to"),
		Approve: func(p *rollback.Plan) (bool, error) {
			if err := views.RollbackPlan(c.App.Writer, p); err != nil {
				return false, err
			}
			if c.Bool("auto-approve") {
				return true, nil
			}
			return askYes(ctx, c, "Do you want to move these tags?", "rollback")
		},
	})
	if errors.Is(err, operation.ErrCancelled) {
		return cli.Exit("Rollback cancelled.", 1)
	}
	if res != nil && res.Plan != nil && len(res.Plan.Moves) == 0 {
		return views.RollbackPlan(c.App.Writer, res.Plan)
	}
	if err == nil && res != nil && res.Serial > 0 {
		fmt.Fprintln(c.App.Writer)
		if werr := views.RollbackDone(c.App.Writer, res.Plan, res.Moved, res.Serial); werr != nil {
			return werr
		}
	}
	return err
}

func gcCommand() *cli.Command {
	return &cli.Command{
		Name:  "gc",
		Usage: "delete the artifacts sovos built that no state, history entry or other tag keeps",
		Flags: append(stateCmdFlags(),
			&cli.IntFlag{Name: "keep", Value: operation.DefaultKeep, Usage: "keep what each workspace's `N` newest history entries refer to (the current state counts as the first)"},
			&cli.DurationFlag{Name: "min-age", Value: 24 * time.Hour, Usage: "keep anything younger than `DURATION`"},
			&cli.BoolFlag{Name: "dry-run", Usage: "list what would be deleted; change nothing"},
			&cli.BoolFlag{Name: "auto-approve", Usage: "delete without asking for confirmation"}),
		Action: gcAction,
	}
}

func gcAction(c *cli.Context) error {
	if c.NArg() != 0 {
		return fmt.Errorf("gc takes no arguments, got %d", c.NArg())
	}
	ctx, stop := interruptible(c, "finishing the delete in flight, then recording what was deleted and releasing the lock", "the state may then miss what was deleted")
	defer stop()
	req := operation.GCRequest{
		Inputs: inputs(c),
		Lock:   lockOptions(c),
		Keep:   c.Int("keep"),
		MinAge: c.Duration("min-age"),
		DryRun: c.Bool("dry-run"),
	}
	var shown bool
	req.Approve = func(res *operation.GCResult) (bool, error) {
		shown = true
		if err := views.GCPlan(c.App.Writer, res.Plan, gcScope(req, res)); err != nil {
			return false, err
		}
		if c.Bool("auto-approve") {
			return true, nil
		}
		return askYes(ctx, c, "Do you want to delete these artifacts?", "gc")
	}
	res, err := operation.GC(ctx, req)
	if errors.Is(err, operation.ErrCancelled) {
		return cli.Exit("GC cancelled.", 1)
	}
	if res == nil || res.Plan == nil {
		return err
	}
	if !shown {
		if perr := views.GCPlan(c.App.Writer, res.Plan, gcScope(req, res)); perr != nil {
			return perr
		}
	}
	switch {
	case req.DryRun:
		fmt.Fprintln(c.App.Writer, "\nDry run: nothing was deleted.")
	case err == nil && len(res.Deleted) > 0:
		fmt.Fprintln(c.App.Writer)
		if werr := views.GCDone(c.App.Writer, res.Plan, res.Deleted, res.Serial); werr != nil {
			return werr
		}
	}
	if len(res.Remaining) > 0 {
		fmt.Fprintln(c.App.ErrWriter)
		_ = views.GCByHand(c.App.ErrWriter, res.Remaining)
		fmt.Fprintln(c.App.ErrWriter)
	}
	return err
}

// gcScope describes a collection for its view.
func gcScope(req operation.GCRequest, res *operation.GCResult) views.GCScope {
	return views.GCScope{Workspaces: res.Workspaces, Keep: req.Keep, MinAge: req.MinAge}
}

// askYes asks question on a terminal and accepts only "yes"; elsewhere the command
// needs -auto-approve.
func askYes(ctx context.Context, c *cli.Context, question, command string) (bool, error) {
	if !isatty.IsTerminal(os.Stdin.Fd()) {
		return false, fmt.Errorf("%s needs -auto-approve when standard input is not a terminal", command)
	}
	fmt.Fprintf(c.App.Writer, "\n%s\n  Only 'yes' will be accepted to approve.\n\n  Enter a value: ", question)
	return answer(ctx) == "yes", nil
}
