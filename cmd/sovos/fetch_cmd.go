package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/urmanac/sovos/operation"
)

func fetchCommand() *cli.Command {
	return &cli.Command{
		Name:      "fetch",
		Usage:     "download a profile's boot media from the digest the state records",
		ArgsUsage: "ADDRESS",
		UsageText: "sovos [-chdir=DIR] fetch [-o DIR] ADDRESS\n\n" +
			"Writes each file of the profile's boot-media artifact into DIR (default: the current\n" +
			"directory, created if needed), named by its title, after checking its digest. A profile\n" +
			"without an image publishes nothing: fetch says where apply exported its files.",
		Flags: append(append([]cli.Flag{
			&cli.StringFlag{Name: "o", Usage: "write the files into `DIR`"},
		}, varFlags()...), stateFlags()...),
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
	w := c.App.Writer
	if res.Local {
		fmt.Fprintf(w, "%s publishes no artifact (it has no image); apply exported its files to %s:\n", c.Args().First(), res.Dir)
	} else {
		fmt.Fprintf(w, "Fetched %s into %s:\n", res.Ref, res.Dir)
	}
	for _, f := range res.Files {
		line := fmt.Sprintf("  %s  %s", f.Name, humanBytes(f.Size))
		if f.Digest != "" {
			line += "  " + f.Digest
		}
		fmt.Fprintln(w, line)
	}
	return nil
}

// humanBytes writes a size the way ls -h does, with the exact count for small ones.
func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
