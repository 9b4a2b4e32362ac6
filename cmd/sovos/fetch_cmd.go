package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/urmanac/sovos/operation"
	"github.com/urmanac/sovos/views"
)

func fetchCommand() *cli.Command {
	return &cli.Command{
		Name:      "fetch",
		Usage:     "download a profile's boot media from the digest the state records",
		ArgsUsage: "ADDRESS",
		UsageText: "sovos [-chdir=DIR] fetch [-o DIR] ADDRESS\n\n" +
			"Writes each file of the profile's boot-media artifact into DIR (default: the current\n" +
			"directory, created if needed), named by its title, after checking its digest. A profile\n" +
			"without an image publishes nothing: fetch says where apply exported its files, and\n" +
			"with -o copies them into DIR.",
		Flags: append(append([]cli.Flag{
			&cli.StringFlag{Name: "o", Usage: "write the files into `DIR`"},
		}, varFlags()...), locationFlags()...),
		Action: fetchAction,
	}
}

func fetchAction(c *cli.Context) error {
	if c.NArg() != 1 {
		return fmt.Errorf("fetch takes one profile address (e.g. profile.cm5-hailo10h), got %d arguments; `sovos output` lists the profiles with boot media", c.NArg())
	}
	res, err := operation.Fetch(c.Context, operation.FetchRequest{Inputs: inputs(c), Address: c.Args().First(), Out: c.String("o")})
	if err != nil {
		return err
	}
	views.Fetched(c.App.Writer, c.Args().First(), res)
	return nil
}
