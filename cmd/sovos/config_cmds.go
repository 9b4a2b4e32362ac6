package main

import "github.com/urfave/cli/v2"

func validateCommand() *cli.Command {
	return &cli.Command{Name: "validate", Action: notBuilt("validate")}
}

func fmtCommand() *cli.Command {
	return &cli.Command{Name: "fmt", Action: notBuilt("fmt")}
}

func graphCommand() *cli.Command {
	return &cli.Command{Name: "graph", Action: notBuilt("graph")}
}
