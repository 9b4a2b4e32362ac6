package main

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/hashicorp/go-hclog"
	"github.com/urfave/cli/v2"
)

// newLogger builds the logger from SOVOS_LOG (trace|debug|info|warn|error; unset = off)
// and SOVOS_LOG_PATH (append to a file instead of standard error). Logs never go to
// standard output, so `plan -format=json | jq` keeps working.
func newLogger(stderr io.Writer) (hclog.Logger, io.Closer, error) {
	levelName := strings.TrimSpace(os.Getenv("SOVOS_LOG"))
	if levelName == "" {
		return hclog.NewNullLogger(), nil, nil
	}
	level := hclog.LevelFromString(levelName)
	if level == hclog.NoLevel {
		return nil, nil, fmt.Errorf("SOVOS_LOG=%q is not a log level; use trace, debug, info, warn or error", levelName)
	}
	out := stderr
	var closer io.Closer
	if path := os.Getenv("SOVOS_LOG_PATH"); path != "" {
		f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return nil, nil, fmt.Errorf("SOVOS_LOG_PATH: %w", err)
		}
		out, closer = f, f
	}
	return hclog.New(&hclog.LoggerOptions{Name: "sovos", Level: level, Output: out}), closer, nil
}

// logger returns the logger set up for this run.
func logger(c *cli.Context) hclog.Logger {
	if l, ok := c.App.Metadata["logger"].(hclog.Logger); ok {
		return l
	}
	return hclog.NewNullLogger()
}
