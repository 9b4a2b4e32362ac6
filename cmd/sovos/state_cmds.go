package main

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/urfave/cli/v2"

	"github.com/urmanac/sovos/operation"
	"github.com/urmanac/sovos/state"
	"github.com/urmanac/sovos/views"
)

func stateCommand() *cli.Command {
	return &cli.Command{
		Name:  "state",
		Usage: "inspect and edit the state",
		Subcommands: []*cli.Command{
			{
				Name:      "list",
				Usage:     "list the recorded resources (those matching ADDR prefixes, when given)",
				ArgsUsage: "[ADDR]...",
				Flags:     stateReadFlags(),
				Action:    stateList,
			},
			{
				Name:      "show",
				Usage:     "show what the state records about one resource",
				ArgsUsage: "ADDR",
				Flags:     stateReadFlags(),
				Action:    stateShow,
			},
			{
				Name:      "rm",
				Usage:     "forget resources: they are rebuilt (or adopted) by the next apply; their images stay in the registry",
				ArgsUsage: "ADDR...",
				Flags:     stateCmdFlags(),
				Action:    stateRm,
			},
			{
				Name:   "pull",
				Usage:  "print the state document on standard output",
				Flags:  stateReadFlags(),
				Action: statePull,
			},
			{
				Name:      "push",
				Usage:     "store a state document (e.g. " + state.ErroredStatePath + ") as the workspace's state",
				ArgsUsage: "FILE",
				Flags: append(stateCmdFlags(),
					&cli.BoolFlag{Name: "force", Usage: "store it even if its lineage differs or it is older than the stored state"}),
				Action: statePush,
			},
			{
				Name:  "history",
				Usage: "list what each apply, state push|rm, rollback and gc did, newest first",
				Flags: append(stateReadFlags(),
					&cli.BoolFlag{Name: "json", Usage: "print the entries as JSON"},
					&cli.IntFlag{Name: "n", Usage: "show only the `N` newest entries (0: all)"}),
				Action: stateHistory,
			},
		},
	}
}

func forceUnlockCommand() *cli.Command {
	return &cli.Command{
		Name:      "force-unlock",
		Usage:     "remove a stale state lock left by a sovos that died",
		ArgsUsage: "LOCK_ID",
		Flags: append(stateReadFlags(),
			&cli.BoolFlag{Name: "force", Usage: "do not ask for confirmation"}),
		Action: forceUnlock,
	}
}

// stateCmdFlags: the state commands that write evaluate the configuration only for its
// sovos block, but that may need variables; they lock the state.
func stateCmdFlags() []cli.Flag {
	return append(varFlags(), stateFlags()...)
}

// stateReadFlags are stateCmdFlags without the lock flags: the commands that only read
// the state (state list|show|pull|history, force-unlock) never lock it.
func stateReadFlags() []cli.Flag {
	return append(varFlags(), locationFlags()...)
}

func stateList(c *cli.Context) error {
	addrs, err := operation.StateList(c.Context, operation.StateListRequest{Inputs: inputs(c), Prefixes: c.Args().Slice()})
	for _, a := range addrs {
		fmt.Fprintln(c.App.Writer, a)
	}
	return err
}

func stateShow(c *cli.Context) error {
	if c.NArg() != 1 {
		return fmt.Errorf("state show takes exactly one resource address, got %d arguments", c.NArg())
	}
	r, err := operation.StateShow(c.Context, inputs(c), c.Args().First())
	if err != nil {
		return err
	}
	views.StateResource(c.App.Writer, r)
	return nil
}

func stateRm(c *cli.Context) error {
	ctx, stop := interruptible(c, stateWriteNotice, stateWriteLost)
	defer stop()
	res, err := operation.StateRm(ctx, operation.StateRmRequest{Inputs: inputs(c), Lock: lockOptions(c), Addresses: c.Args().Slice()})
	if err != nil {
		return err
	}
	for _, a := range c.Args().Slice() {
		fmt.Fprintf(c.App.Writer, "Removed %s\n", a)
	}
	fmt.Fprintf(c.App.Writer, "Successfully removed %d resource(s) from the state (serial %d).\n", res.Removed, res.Serial)
	return nil
}

func statePull(c *cli.Context) error {
	data, b, err := operation.StatePull(c.Context, inputs(c))
	switch {
	case err != nil:
		return err
	case data == nil:
		fmt.Fprintf(c.App.ErrWriter, "No state in %s.\n", b)
		return nil
	}
	_, err = c.App.Writer.Write(data)
	return err
}

func statePush(c *cli.Context) error {
	if c.NArg() != 1 {
		return fmt.Errorf("state push takes exactly one file (- for standard input), got %d arguments", c.NArg())
	}
	ctx, stop := interruptible(c, stateWriteNotice, stateWriteLost)
	defer stop()
	res, err := operation.StatePush(ctx, operation.StatePushRequest{
		Inputs: inputs(c),
		Lock:   lockOptions(c),
		File:   c.Args().First(),
		Stdin:  os.Stdin,
		Force:  c.Bool("force"),
	})
	if res != nil {
		for _, w := range res.Warnings {
			fmt.Fprintf(c.App.ErrWriter, "Warning: %s.\n", w)
		}
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(c.App.Writer, "Pushed %s to %s (serial %d, %d resources).\n", res.From, res.Backend, res.Serial, res.Resources)
	return nil
}

func stateHistory(c *cli.Context) error {
	if c.NArg() != 0 {
		return fmt.Errorf("state history takes no arguments, got %d", c.NArg())
	}
	if c.Int("n") < 0 {
		return fmt.Errorf("-n=%d: give 0 (all) or more", c.Int("n"))
	}
	entries, b, err := operation.StateHistory(c.Context, operation.StateHistoryRequest{Inputs: inputs(c), Limit: c.Int("n")})
	if err != nil {
		return err
	}
	if c.Bool("json") {
		return views.HistoryJSON(c.App.Writer, entries)
	}
	return views.HistoryHuman(c.App.Writer, entries, b.String())
}

func forceUnlock(c *cli.Context) error {
	if c.NArg() != 1 {
		return fmt.Errorf("force-unlock takes exactly one lock ID (printed by the command that found the lock), got %d arguments", c.NArg())
	}
	req := operation.ForceUnlockRequest{Inputs: inputs(c), ID: c.Args().First()}
	if !c.Bool("force") {
		req.Confirm = func(cur *state.LockInfo) bool {
			renewed := ""
			if !cur.Renewed.IsZero() {
				renewed = ", last renewed " + cur.Renewed.UTC().Format(time.RFC3339)
			}
			fmt.Fprintf(c.App.ErrWriter, "The lock %s is held by %s (operation %s, since %s%s; %s).\n",
				cur.ID, cur.Who, cur.Operation, cur.Created.UTC().Format(time.RFC3339), renewed, cur.Where)
			return confirm(c, "If that sovos still runs, it stops at its next state write or tag move, with what it built since unrecorded. Do you really want to force-unlock?")
		}
	}
	b, err := operation.ForceUnlock(c.Context, req)
	if errors.Is(err, operation.ErrNotConfirmed) {
		return cli.Exit("force-unlock cancelled.", 1)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(c.App.Writer, "The state lock %s in %s has been removed.\n", req.ID, b)
	return nil
}

// confirm asks on a terminal; elsewhere it refuses, so scripts must pass -force.
func confirm(c *cli.Context, question string) bool {
	// isatty, not ModeCharDevice: /dev/null is a character device too.
	if !isatty.IsTerminal(os.Stdin.Fd()) {
		fmt.Fprintln(c.App.ErrWriter, "Standard input is not a terminal: pass -force to confirm.")
		return false
	}
	fmt.Fprintf(c.App.ErrWriter, "%s\n  Only 'yes' will be accepted: ", question)
	return answer(c.Context) == "yes"
}

// What an interrupt does to state rm and state push (interruptible).
const (
	stateWriteNotice = "writing nothing unless the state write has begun (it then finishes), and releasing the lock"
	stateWriteLost   = "the lock may then stay until it is stale"
)
