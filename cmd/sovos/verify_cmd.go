package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/urmanac/sovos/operation"
	"github.com/urmanac/sovos/views"
)

func verifyCommand() *cli.Command {
	flags := append([]cli.Flag{
		&cli.StringFlag{Name: "format", Value: "human", Usage: "output format: human or json"},
	}, varFlags()...)
	return &cli.Command{
		Name:      "verify",
		Usage:     "check that every module of the extensions is signed by its kernel's key",
		ArgsUsage: "[ADDR]...",
		Flags:     append(flags, locationFlags()...),
		Action:    verifyAction,
	}
}

func verifyAction(c *cli.Context) error {
	format := c.String("format")
	if format != "human" && format != "json" {
		return fmt.Errorf("-format=%s: use human or json", format)
	}
	res, err := operation.Verify(c.Context, operation.VerifyRequest{Inputs: inputs(c), Addresses: c.Args().Slice()})
	if err != nil {
		return err
	}
	if format == "json" {
		if err := views.VerifyJSON(c.App.Writer, res.Checks); err != nil {
			return err
		}
	} else {
		views.VerifyHuman(c.App.Writer, res.Checks)
	}
	if !res.OK {
		return cli.Exit("", 1)
	}
	return nil
}
