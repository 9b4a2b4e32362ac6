package main

import (
	"strings"

	"github.com/urfave/cli/v2"
)

// interspersedArgs moves a command's flags in front of its positional arguments, so
// `sovos apply plan.out -auto-approve` works like `sovos apply -auto-approve plan.out`
// (urfave/cli stops parsing flags at the first positional argument). Values of flags that
// take one (`-var x=1`) travel with their flag; everything after `--` stays put.
func interspersedArgs(app *cli.App, args []string) []string {
	if len(args) < 2 {
		return args
	}
	out := []string{args[0]}
	i := 1
	// Global flags, then the command path (e.g. "state rm").
	for i < len(args) && strings.HasPrefix(args[i], "-") {
		out = append(out, args[i])
		if takesValue(app.Flags, args[i]) && !strings.Contains(args[i], "=") && i+1 < len(args) {
			i++
			out = append(out, args[i])
		}
		i++
	}
	globalEnd := len(out)
	cmds := app.Commands
	var cmd *cli.Command
	for i < len(args) {
		next := findCommand(cmds, args[i])
		if next == nil {
			break
		}
		cmd = next
		out = append(out, args[i])
		cmds = cmd.Subcommands
		i++
	}
	if cmd == nil {
		return append(out, args[i:]...)
	}
	var globals, flags, positional []string
	for ; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			positional = append(positional, args[i:]...)
			break
		}
		if strings.HasPrefix(a, "-") && a != "-" && !definesFlag(cmd.Flags, a) && definesFlag(app.Flags, a) {
			// `sovos plan -no-color`, as Terraform accepts: a global flag after the command.
			globals = append(globals, a)
			if takesValue(app.Flags, a) && !strings.Contains(a, "=") && i+1 < len(args) {
				i++
				globals = append(globals, args[i])
			}
			continue
		}
		if strings.HasPrefix(a, "-") && a != "-" {
			flags = append(flags, a)
			if takesValue(cmd.Flags, a) && !strings.Contains(a, "=") && i+1 < len(args) {
				i++
				flags = append(flags, args[i])
			}
			continue
		}
		positional = append(positional, a)
	}
	if len(globals) > 0 {
		out = append(append(append([]string{}, out[:globalEnd]...), globals...), out[globalEnd:]...)
	}
	out = append(out, flags...)
	return append(out, positional...)
}

// definesFlag reports whether arg ("-x", "--x=1") names one of flags.
func definesFlag(flags []cli.Flag, arg string) bool {
	name, _, _ := strings.Cut(strings.TrimLeft(arg, "-"), "=")
	for _, f := range flags {
		for _, n := range f.Names() {
			if n == name {
				return true
			}
		}
	}
	return false
}

func findCommand(cmds []*cli.Command, name string) *cli.Command {
	for _, c := range cmds {
		if c.Name == name {
			return c
		}
		for _, a := range c.Aliases {
			if a == name {
				return c
			}
		}
	}
	return nil
}

// takesValue reports whether the flag named by arg ("-var", "--var=x") needs a value.
func takesValue(flags []cli.Flag, arg string) bool {
	name := strings.TrimLeft(arg, "-")
	if i := strings.IndexByte(name, '='); i >= 0 {
		name = name[:i]
	}
	for _, f := range flags {
		for _, n := range f.Names() {
			if n != name {
				continue
			}
			if bf, ok := f.(*cli.BoolFlag); ok && bf != nil {
				return false
			}
			return true
		}
	}
	return false
}
