package main

import "github.com/urfave/cli/v2"

func applyCommand() *cli.Command {
	return &cli.Command{Name: "apply", Action: notBuilt("apply")}
}
