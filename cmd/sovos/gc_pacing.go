package main

import (
	"os"
	"runtime/debug"

	"github.com/urfave/cli/v2"
)

// evaluatingCommands evaluate the configuration, print and exit: their heap is the
// configuration's, it is all garbage or all live until the process ends, and they run
// in tens of milliseconds. Commands that stay up while BuildKit builds or that stream
// artifacts (apply, verify, fetch, rollback, gc) keep the collector's default pacing,
// which bounds their memory (docs: "Boot media" peak memory).
var evaluatingCommands = []string{"validate", "plan", "show", "graph", "output"}

// evaluatingGCPercent is their collector pacing. Under the default (GOGC=100) a
// 1,000-instance plan runs several collections from a 4 MB heap on, which cost about a
// third of the process's CPU and compete with it for the second core; at 400 it runs
// one or none. Memory grows less than that suggests, because much of what an
// evaluation allocates stays live: at 10,000 instances the peak RSS is about 127 MB
// instead of 113 (issue 10's bound is 300).
const evaluatingGCPercent = 400

// paceGC sets evaluatingGCPercent before each of the evaluating commands among cmds
// runs, unless the environment sets GOGC (the user's choice wins).
func paceGC(cmds []*cli.Command) {
	if _, set := os.LookupEnv("GOGC"); set {
		return
	}
	for _, cmd := range cmds {
		for _, name := range evaluatingCommands {
			if cmd.Name != name {
				continue
			}
			before := cmd.Before
			cmd.Before = func(c *cli.Context) error {
				debug.SetGCPercent(evaluatingGCPercent)
				if before != nil {
					return before(c)
				}
				return nil
			}
		}
	}
}
