package testenv

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// CLI runs a command-line tool the way a user does, one command per call, and reports
// what the user would see: standard output, standard error and the exit code.
type CLI struct {
	t testing.TB
	// Bin is the binary to run.
	Bin string
	// Dir is the working directory; "" is the test's.
	Dir string
	// Chdir, when set, is passed as -chdir=Chdir before every command, as the PR workflow
	// runs sovos from the repository root: the configuration is read there, while paths
	// in the arguments stay relative to Dir.
	Chdir string
	// Args come before every command's own arguments (after -chdir), e.g. -no-color.
	Args []string
	// Env is the whole environment; nil is the test process's.
	Env []string
	// Stdin is the standard input. It is never a terminal, so a tool that would prompt
	// refuses instead; "" is an empty input.
	Stdin string
}

// NewCLI returns a CLI that runs bin for t, in t's working directory and environment.
func NewCLI(t testing.TB, bin string) *CLI {
	return &CLI{t: t, Bin: bin}
}

// SovosCLI is NewCLI with the sovos binary of this checkout (see Sovos).
func SovosCLI(t testing.TB) *CLI {
	t.Helper()
	return NewCLI(t, Sovos(t))
}

// With returns a copy of c whose environment has env added; a variable set again wins.
func (c *CLI) With(env ...string) *CLI {
	d := *c
	d.Env = append(slices.Clip(c.environ()), env...)
	return &d
}

func (c *CLI) environ() []string {
	if c.Env != nil {
		return c.Env
	}
	return os.Environ()
}

// Command returns the command Run would start, for a test that needs the running
// process (to signal it, say). Its output goes nowhere until the test sets it.
func (c *CLI) Command(args ...string) *exec.Cmd {
	var all []string
	if c.Chdir != "" {
		all = append(all, "-chdir="+c.Chdir)
	}
	all = append(append(all, c.Args...), args...)
	cmd := exec.Command(c.Bin, all...)
	cmd.Dir = c.Dir
	cmd.Env = c.Env
	cmd.Stdin = strings.NewReader(c.Stdin)
	return cmd
}

// Run runs one command and returns its standard output, standard error and exit code.
// It fails the test only when the binary cannot be started.
func (c *CLI) Run(args ...string) (stdout, stderr string, code int) {
	c.t.Helper()
	cmd := c.Command(args...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	if ee := (*exec.ExitError)(nil); errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		c.t.Fatalf("running %s %s: %v", c.Bin, strings.Join(args, " "), err)
	}
	return out.String(), errOut.String(), code
}

// Expect runs one command and fails the test, showing both outputs, unless it exits
// with code. It returns standard output.
func (c *CLI) Expect(code int, args ...string) string {
	c.t.Helper()
	out, errOut, got := c.Run(args...)
	if got != code {
		c.t.Fatalf("%s %s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", filepath.Base(c.Bin), strings.Join(args, " "), got, code, out, errOut)
	}
	return out
}

// OK is Expect(0, args...).
func (c *CLI) OK(args ...string) string {
	c.t.Helper()
	return c.Expect(0, args...)
}
