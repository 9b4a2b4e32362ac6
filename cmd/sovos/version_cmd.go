package main

import (
	"encoding/json"
	"fmt"
	"runtime"

	"github.com/urfave/cli/v2"
)

func versionCommand() *cli.Command {
	return &cli.Command{
		Name:  "version",
		Usage: "print sovos's version",
		Flags: []cli.Flag{&cli.BoolFlag{Name: "json", Usage: "print as JSON"}},
		Action: func(c *cli.Context) error {
			if c.Bool("json") {
				out, _ := json.MarshalIndent(map[string]string{
					"sovos_version": Version,
					"go_version":    runtime.Version(),
					"platform":      runtime.GOOS + "/" + runtime.GOARCH,
				}, "", "  ")
				fmt.Fprintln(c.App.Writer, string(out))
				return nil
			}
			fmt.Fprintf(c.App.Writer, "sovos v%s\non %s/%s\n", Version, runtime.GOOS, runtime.GOARCH)
			return nil
		},
	}
}
