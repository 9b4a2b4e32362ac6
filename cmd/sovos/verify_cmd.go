package main

import "github.com/urfave/cli/v2"

func verifyCommand() *cli.Command {
	return &cli.Command{Name: "verify", Action: notBuilt("verify")}
}
