package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/urfave/cli/v2"

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
				Flags:     stateCmdFlags(),
				Action:    stateList,
			},
			{
				Name:      "show",
				Usage:     "show what the state records about one resource",
				ArgsUsage: "ADDR",
				Flags:     stateCmdFlags(),
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
				Flags:  stateCmdFlags(),
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
		},
	}
}

func forceUnlockCommand() *cli.Command {
	return &cli.Command{
		Name:      "force-unlock",
		Usage:     "remove a stale state lock left by a sovos that died",
		ArgsUsage: "LOCK_ID",
		Flags: append(stateCmdFlags(),
			&cli.BoolFlag{Name: "force", Usage: "do not ask for confirmation"}),
		Action: forceUnlock,
	}
}

// stateCmdFlags: the state commands evaluate the configuration only for its sovos
// block, but that may need variables.
func stateCmdFlags() []cli.Flag {
	return append(varFlags(), stateFlags()...)
}

// openState evaluates the configuration (without hashing) and opens its backend.
func openState(c *cli.Context) (state.Backend, error) {
	cfg, err := loadConfig(c, nil)
	if err != nil {
		return nil, err
	}
	return openBackend(c, cfg)
}

// readStored reads the state; a workspace without one is an error naming the backend
// when required.
func readStored(c *cli.Context, b state.Backend, required bool) (*state.State, error) {
	s, _, err := b.Read(c.Context)
	if err != nil {
		return nil, stateReadError(b, err)
	}
	if s == nil && required {
		return nil, fmt.Errorf("no state in %s: nothing has been applied to this workspace yet", b)
	}
	return s, nil
}

func stateList(c *cli.Context) error {
	b, err := openState(c)
	if err != nil {
		return err
	}
	s, err := readStored(c, b, false)
	if err != nil || s == nil {
		return err
	}
	var addrs []string
	for _, r := range s.Resources {
		if matchesAny(r.Address, c.Args().Slice()) {
			addrs = append(addrs, r.Address)
		}
	}
	sort.Strings(addrs)
	for _, a := range addrs {
		fmt.Fprintln(c.App.Writer, a)
	}
	return nil
}

// matchesAny reports whether addr is one of prefixes or inside one (`profile.talos`
// matches `profile.talos["cm5"]`, `kernel` matches every kernel).
func matchesAny(addr string, prefixes []string) bool {
	if len(prefixes) == 0 {
		return true
	}
	for _, p := range prefixes {
		if addr == p || strings.HasPrefix(addr, p+".") || strings.HasPrefix(addr, p+"[") {
			return true
		}
	}
	return false
}

func stateShow(c *cli.Context) error {
	if c.NArg() != 1 {
		return fmt.Errorf("state show takes exactly one resource address, got %d arguments", c.NArg())
	}
	addr := c.Args().First()
	b, err := openState(c)
	if err != nil {
		return err
	}
	s, err := readStored(c, b, true)
	if err != nil {
		return err
	}
	r := s.Resource(addr)
	if r == nil {
		return fmt.Errorf("no resource %s in the state in %s; `sovos state list` shows what is recorded", addr, b)
	}
	views.StateResource(c.App.Writer, r)
	return nil
}

func stateRm(c *cli.Context) (err error) {
	if c.NArg() == 0 {
		return errors.New("state rm needs at least one resource address")
	}
	b, err := openState(c)
	if err != nil {
		return err
	}
	held, release, err := lockState(c, b, "state rm")
	if err != nil {
		return err
	}
	defer func() {
		if rerr := release(); err == nil {
			err = rerr
		}
	}()
	s, err := readStored(c, b, true)
	if err != nil {
		return err
	}
	drop := map[string]bool{}
	for _, a := range c.Args().Slice() {
		if s.Resource(a) == nil {
			return fmt.Errorf("no resource %s in the state in %s; nothing was removed (`sovos state list` shows what is recorded)", a, b)
		}
		drop[a] = true
	}
	s.Resources = slices.DeleteFunc(s.Resources, func(r *state.Resource) bool { return drop[r.Address] })
	if err := writeState(c, b, held, s); err != nil {
		return err
	}
	for _, a := range c.Args().Slice() {
		fmt.Fprintf(c.App.Writer, "Removed %s\n", a)
	}
	fmt.Fprintf(c.App.Writer, "Successfully removed %d resource(s) from the state (serial %d).\n", len(drop), s.Serial)
	return nil
}

// writeState stores s as the next serial, after checking the lock is still ours.
func writeState(c *cli.Context, b state.Backend, held *state.Held, s *state.State) error {
	if held != nil {
		if err := held.Check(c.Context); err != nil {
			return err
		}
	}
	s.Serial++
	s.SovosVersion = Version
	if _, err := b.Write(c.Context, s); err != nil {
		return fmt.Errorf("writing the state to %s: %w", b, err)
	}
	return nil
}

func statePull(c *cli.Context) error {
	b, err := openState(c)
	if err != nil {
		return err
	}
	s, err := readStored(c, b, false)
	if err != nil {
		return err
	}
	if s == nil {
		fmt.Fprintf(c.App.ErrWriter, "No state in %s.\n", b)
		return nil
	}
	data, err := state.Encode(s)
	if err != nil {
		return err
	}
	_, err = c.App.Writer.Write(data)
	return err
}

func statePush(c *cli.Context) (err error) {
	if c.NArg() != 1 {
		return fmt.Errorf("state push takes exactly one file (- for standard input), got %d arguments", c.NArg())
	}
	file := c.Args().First()
	var data []byte
	if file == "-" {
		data, err = io.ReadAll(os.Stdin)
	} else {
		data, err = os.ReadFile(file)
		if errors.Is(err, os.ErrNotExist) && !filepath.IsAbs(file) && configDir(c) != "." {
			// With -chdir, the errored state the failed apply named is in that directory.
			if d, derr := os.ReadFile(filepath.Join(configDir(c), file)); derr == nil {
				data, err, file = d, nil, filepath.Join(configDir(c), file)
			}
		}
	}
	if err != nil {
		return fmt.Errorf("reading the state to push: %w", err)
	}
	where := file
	if file == "-" {
		where = "standard input"
	}
	pushed, err := state.Decode(data, where)
	if err != nil {
		if errors.Is(err, state.ErrNotState) || errors.Is(err, state.ErrCorrupt) {
			return fmt.Errorf("%w; push a state written by `sovos state pull`, or the errored state a failed apply saved", err)
		}
		return err
	}
	b, err := openState(c)
	if err != nil {
		return err
	}
	held, release, err := lockState(c, b, "state push")
	if err != nil {
		return err
	}
	defer func() {
		if rerr := release(); err == nil {
			err = rerr
		}
	}()
	force := c.Bool("force")
	cur, err := readStored(c, b, false)
	if err != nil {
		// A damaged state is what -force is for: stateReadError points here.
		if !force || !errors.Is(err, state.ErrCorrupt) {
			return err
		}
		fmt.Fprintf(c.App.ErrWriter, "Warning: the state in %s is damaged and cannot be read; replacing it with %s (-force).\n", b, where)
		cur = nil
	}
	if cur != nil && !force {
		// The same checks as Terraform's: another lineage is another workspace's history;
		// a lower serial is an older copy that would undo later applies.
		switch {
		case cur.Lineage != pushed.Lineage:
			return fmt.Errorf("%s has lineage %s but the state in %s has lineage %s: it is another state's history; use -force to replace it anyway", where, pushed.Lineage, b, cur.Lineage)
		case pushed.Serial < cur.Serial:
			return fmt.Errorf("%s has serial %d, older than the state in %s (serial %d): pushing it would undo later changes; use -force to push it anyway", where, pushed.Serial, b, cur.Serial)
		}
	}
	if ws := workspaceOf(b); ws != "" && pushed.Workspace != ws {
		if !force {
			return fmt.Errorf("%s is the state of workspace %q, not %q; use -workspace=%s, or -force to push it here", where, pushed.Workspace, ws, pushed.Workspace)
		}
		pushed.Workspace = ws
	}
	// writeState stores serial+1. An errored state usually carries the serial of the last
	// write that succeeded; a forced older one must still not move the serial back.
	if cur != nil && cur.Serial > pushed.Serial {
		pushed.Serial = cur.Serial
	}
	if err := writeState(c, b, held, pushed); err != nil {
		return err
	}
	fmt.Fprintf(c.App.Writer, "Pushed %s to %s (serial %d, %d resources).\n", where, b, pushed.Serial, len(pushed.Resources))
	return nil
}

// workspaceOf returns the workspace a backend stores, for the push check.
func workspaceOf(b state.Backend) string {
	if w, ok := b.(interface{ Workspace() string }); ok {
		return w.Workspace()
	}
	return ""
}

func forceUnlock(c *cli.Context) error {
	if c.NArg() != 1 {
		return fmt.Errorf("force-unlock takes exactly one lock ID (printed by the command that found the lock), got %d arguments", c.NArg())
	}
	id := c.Args().First()
	b, err := openState(c)
	if err != nil {
		return err
	}
	if lr, ok := b.(state.LockReader); ok {
		cur, err := lr.ReadLock(c.Context)
		if err != nil {
			return fmt.Errorf("reading the lock of %s: %w", b, err)
		}
		if cur == nil {
			return fmt.Errorf("%s is not locked; nothing to unlock", b)
		}
		if cur.ID != id {
			return fmt.Errorf("%s is locked with ID %s (by %s), not %s; nothing was unlocked", b, cur.ID, cur.Who, id)
		}
		if !c.Bool("force") {
			fmt.Fprintf(c.App.ErrWriter, "The lock %s is held by %s (operation %s, since %s, expires %s).\n",
				cur.ID, cur.Who, cur.Operation, cur.Created.UTC().Format(time.RFC3339), cur.Expires.UTC().Format(time.RFC3339))
			if !confirm(c, "Removing it while that sovos still runs can corrupt the state. Do you really want to force-unlock?") {
				return cli.Exit("force-unlock cancelled.", 1)
			}
		}
	}
	if err := b.Unlock(c.Context, id); err != nil {
		return fmt.Errorf("force-unlock: %w", err)
	}
	fmt.Fprintf(c.App.Writer, "The state lock %s in %s has been removed.\n", id, b)
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
	answer, _ := bufio.NewReader(os.Stdin).ReadString('\n')
	return strings.TrimSpace(answer) == "yes"
}
