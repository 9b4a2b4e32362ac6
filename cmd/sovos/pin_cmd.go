package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/urmanac/sovos/operation"
	"github.com/urmanac/sovos/views"
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
	views.Pinned(c.App.Writer, res, c.Bool("upgrade"), c.Bool("check"))
	if n := len(res.Changes); c.Bool("check") && n > 0 {
		fmt.Fprintf(c.App.ErrWriter, "%s: run `sovos pin -upgrade` to move them (`sovos pin` fills only the missing).\n",
			views.Count(n, "pin is missing or behind its ref", "pins are missing or behind their refs"))
		return cli.Exit("", 2)
	}
	return nil
}
