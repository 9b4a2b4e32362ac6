package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/urfave/cli/v2"
)

// interruptible is the one SIGINT/SIGTERM handling of the commands that take the state
// lock (apply, rollback, gc, state rm, state push). It returns c.Context, cancelled at
// the first signal after printing notice (what the command does about it) and lost (what
// a second signal would lose) on standard error: the operation then starts nothing new,
// lets the step in flight finish, records what it did, releases the lock and returns an
// error saying so (operation's ErrInterrupted; apply's summary). The first signal
// restores the default handling, so a second one ends the process at once. Call stop
// when the operation has returned.
func interruptible(c *cli.Context, notice, lost string) (ctx context.Context, stop func()) {
	ctx, cancel := context.WithCancel(c.Context)
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		defer close(done)
		select {
		case <-sigs:
			signal.Stop(sigs)
			fmt.Fprintf(c.App.ErrWriter, "\nInterrupt received: %s. Press Ctrl-C again to quit at once (%s).\n", notice, lost)
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, func() {
		signal.Stop(sigs)
		cancel()
		<-done
	}
}

// answer reads a line of standard input, trimmed; "" when ctx ends first (Ctrl-C at a
// prompt is a no).
func answer(ctx context.Context) string {
	line := make(chan string, 1)
	go func() {
		s, _ := bufio.NewReader(os.Stdin).ReadString('\n')
		line <- strings.TrimSpace(s)
	}()
	select {
	case s := <-line:
		return s
	case <-ctx.Done():
		return ""
	}
}
