package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/urmanac/sovos/operation"
)

func pinCommand() *cli.Command {
	return &cli.Command{
		Name:  "pin",
		Usage: "write the commit of each git source and the digest of each image from their refs",
		UsageText: "sovos [-chdir=DIR] pin [-upgrade] [-check] [-var NAME=VALUE]... [-var-file FILE]... [ADDR]...\n\n" +
			"Without flags, fills the missing pins only. -upgrade moves every pin to what its ref\n" +
			"points at now; -check changes nothing and exits 2 when a pin is missing or behind.\n" +
			"ADDR (source.NAME, image.NAME) limits the run to those blocks.",
		Flags: append([]cli.Flag{
			&cli.BoolFlag{Name: "upgrade", Usage: "move every pin to what its ref points at now"},
			&cli.BoolFlag{Name: "check", Usage: "change nothing; exit 2 when a pin is missing or behind its ref"},
		}, varFlags()...),
		Action: pinAction,
	}
}

func pinAction(c *cli.Context) error {
	res, err := operation.Pin(c.Context, operation.PinRequest{
		Inputs:  inputs(c),
		Addrs:   c.Args().Slice(),
		Upgrade: c.Bool("upgrade"),
		Check:   c.Bool("check"),
	})
	if err != nil {
		return err
	}
	out := c.App.Writer
	for _, ch := range res.Changes {
		fmt.Fprintln(out, ch.String())
	}
	n := len(res.Changes)
	switch {
	case c.Bool("check") && n > 0:
		fmt.Fprintf(c.App.ErrWriter, "%s: run `sovos pin -upgrade` to move them (`sovos pin` fills only the missing).\n",
			count(n, "pin is missing or behind its ref", "pins are missing or behind their refs"))
		return cli.Exit("", 2)
	case c.Bool("check"):
		fmt.Fprintln(out, "Every pin is current.")
	case len(res.LeftOut) > 0:
		fmt.Fprintf(out, "Pinned %s in %s; %s left out (see the warnings).\n", count(n, "change", "changes"),
			count(len(res.Files), "file", "files"), count(len(res.LeftOut), "pin", "pins"))
	case n > 0:
		fmt.Fprintf(out, "Pinned %s in %s.\n", count(n, "change", "changes"), count(len(res.Files), "file", "files"))
	case c.Bool("upgrade"):
		fmt.Fprintln(out, "Every pin is current.")
	default:
		fmt.Fprintln(out, "No pin is missing. (`sovos pin -upgrade` moves every pin to what its ref points at now.)")
	}
	return nil
}

func count(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}
