package main

import "github.com/urfave/cli/v2"

func planCommand() *cli.Command {
	return &cli.Command{Name: "plan", Action: notBuilt("plan")}
}

func showCommand() *cli.Command {
	return &cli.Command{Name: "show", Action: notBuilt("show")}
}

func outputCommand() *cli.Command {
	return &cli.Command{Name: "output", Action: notBuilt("output")}
}
