package main

import "github.com/urfave/cli/v2"

func stateCommand() *cli.Command {
	return &cli.Command{Name: "state", Action: notBuilt("state")}
}

func forceUnlockCommand() *cli.Command {
	return &cli.Command{Name: "force-unlock", Action: notBuilt("force-unlock")}
}
