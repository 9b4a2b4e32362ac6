package main

import (
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/urfave/cli/v2"

	"github.com/urmanac/sovos/config"
	"github.com/urmanac/sovos/planner"
	"github.com/urmanac/sovos/planner/planfile"
	"github.com/urmanac/sovos/views"
)

func validateCommand() *cli.Command {
	return &cli.Command{
		Name:      "validate",
		Usage:     "check the configuration without contacting any registry or builder",
		UsageText: "sovos [-chdir=DIR] validate [-json] [-var NAME=VALUE]... [-var-file FILE]...",
		Flags: append([]cli.Flag{
			&cli.BoolFlag{Name: "json", Usage: "print the result as JSON"},
		}, varFlags()...),
		Action: runValidate,
	}
}

func runValidate(c *cli.Context) error {
	opts := evalOptions(c, nil)
	opts.Validate = true // required variables may be unset: checked as unknown
	cfg, diags := config.Load(c.Context, configDir(c), opts)
	if c.Bool("json") {
		if err := views.ValidateJSON(c.App.Writer, cfg.Files, diags); err != nil {
			return err
		}
		if diags.HasErrors() {
			return cli.Exit("", 1)
		}
		return nil
	}
	writeDiags(c, cfg.Files, diags)
	if diags.HasErrors() {
		return cli.Exit("", 1)
	}
	fmt.Fprintln(c.App.Writer, "Success! The configuration is valid.")
	return nil
}

func fmtCommand() *cli.Command {
	return &cli.Command{
		Name:      "fmt",
		Usage:     "rewrite configuration and variable files in the canonical format",
		UsageText: "sovos [-chdir=DIR] fmt [-check] [-diff] [-recursive] [FILE|DIR]...",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "check", Usage: "write nothing; exit 3 and list the files that are not formatted"},
			&cli.BoolFlag{Name: "diff", Usage: "print the changes as a unified diff"},
			&cli.BoolFlag{Name: "recursive", Usage: "also format files in subdirectories"},
		},
		Action: runFmt,
	}
}

// formattable says whether fmt handles a file: configurations and variable files in
// native syntax (JSON files are left alone).
func formattable(name string) bool {
	return (strings.HasSuffix(name, ".sovos.hcl") || strings.HasSuffix(name, ".sovosvars")) && !config.IgnoredFile(name)
}

func fmtTargets(c *cli.Context) ([]string, error) {
	base := configDir(c)
	targets := c.Args().Slice()
	if len(targets) == 0 {
		targets = []string{"."}
	}
	var files []string
	for _, t := range targets {
		if !filepath.IsAbs(t) {
			t = filepath.Join(base, t)
		}
		fi, err := os.Stat(t)
		if err != nil {
			return nil, fmt.Errorf("fmt: %w", err)
		}
		if !fi.IsDir() {
			files = append(files, t)
			continue
		}
		err = filepath.WalkDir(t, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() {
				if p != t && (!c.Bool("recursive") || strings.HasPrefix(d.Name(), ".")) {
					return filepath.SkipDir
				}
				return nil
			}
			if formattable(d.Name()) {
				files = append(files, p)
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("fmt: walking %s: %w", t, err)
		}
	}
	sort.Strings(files)
	return files, nil
}

func runFmt(c *cli.Context) error {
	files, err := fmtTargets(c)
	if err != nil {
		return cli.Exit("Error: "+err.Error(), 1)
	}
	out := c.App.Writer
	unformatted := false
	for _, f := range files {
		// A FIFO or device named like a configuration file is skipped with a warning,
		// and what is read is bounded and checked before a parser sees it.
		src, diags := config.ReadSource(f)
		if diags.HasErrors() {
			writeDiags(c, map[string]*hcl.File{f: {Bytes: src}}, diags)
			return cli.Exit("", 1)
		}
		if src == nil {
			writeDiags(c, nil, diags)
			continue
		}
		// hclwrite formats token by token and accepts broken syntax; parse first so a
		// syntax error is reported instead of being "formatted".
		if _, diags := hclsyntax.ParseConfig(src, f, hcl.InitialPos); diags.HasErrors() {
			writeDiags(c, map[string]*hcl.File{f: {Bytes: src}}, diags)
			return cli.Exit("", 1)
		}
		formatted := hclwrite.Format(src)
		if bytes.Equal(src, formatted) {
			continue
		}
		unformatted = true
		fmt.Fprintln(out, f)
		if c.Bool("diff") {
			writeUnifiedDiff(out, f, string(src), string(formatted))
		}
		if !c.Bool("check") {
			if err := os.WriteFile(f, formatted, 0o644); err != nil {
				return cli.Exit(fmt.Sprintf("Error: fmt: %s", err), 1)
			}
		}
	}
	if c.Bool("check") && unformatted {
		return cli.Exit("", 3)
	}
	return nil
}

// writeUnifiedDiff prints a unified diff of two texts with three lines of context.
// Configuration files are small, so a quadratic LCS is fine.
func writeUnifiedDiff(w io.Writer, name, a, b string) {
	al, bl := splitLines(a), splitLines(b)
	n, m := len(al), len(bl)
	lcs := make([][]int, n+1)
	for i := range lcs {
		lcs[i] = make([]int, m+1)
	}
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			if al[i] == bl[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	type op struct {
		kind byte
		text string
		ai   int
		bi   int
	}
	var ops []op
	i, j := 0, 0
	for i < n || j < m {
		switch {
		case i < n && j < m && al[i] == bl[j]:
			ops = append(ops, op{' ', al[i], i, j})
			i++
			j++
		case j < m && (i == n || lcs[i][j+1] >= lcs[i+1][j]):
			ops = append(ops, op{'+', bl[j], i, j})
			j++
		default:
			ops = append(ops, op{'-', al[i], i, j})
			i++
		}
	}
	fmt.Fprintf(w, "--- old/%s\n+++ new/%s\n", name, name)
	const ctx = 3
	for k := 0; k < len(ops); {
		if ops[k].kind == ' ' {
			k++
			continue
		}
		start := max(0, k-ctx)
		end := k
		for end < len(ops) {
			if ops[end].kind != ' ' {
				end++
				continue
			}
			run := end
			for run < len(ops) && ops[run].kind == ' ' {
				run++
			}
			if run-end > 2*ctx || run == len(ops) {
				end = min(end+ctx, len(ops))
				break
			}
			end = run
		}
		var oldN, newN int
		for _, o := range ops[start:end] {
			if o.kind != '+' {
				oldN++
			}
			if o.kind != '-' {
				newN++
			}
		}
		fmt.Fprintf(w, "@@ -%d,%d +%d,%d @@\n", ops[start].ai+1, oldN, ops[start].bi+1, newN)
		for _, o := range ops[start:end] {
			fmt.Fprintf(w, "%c%s\n", o.kind, o.text)
		}
		k = end
	}
}

func splitLines(s string) []string {
	s = strings.TrimSuffix(s, "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

func graphCommand() *cli.Command {
	return &cli.Command{
		Name:      "graph",
		Usage:     "draw the resource graph (DOT for Graphviz, or mermaid for GitHub comments)",
		UsageText: "sovos [-chdir=DIR] graph [-format=dot|mermaid] [-var NAME=VALUE]... [-var-file FILE]...",
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "format", Value: "dot", Usage: "`dot` or `mermaid`"},
			&cli.StringFlag{Name: "plan", Usage: "note each resource's action from a saved plan `FILE`"},
		}, varFlags()...),
		Action: runGraph,
	}
}

func runGraph(c *cli.Context) error {
	format := c.String("format")
	if format != "dot" && format != "mermaid" {
		return fmt.Errorf("-format=%s: use dot or mermaid", format)
	}
	cfg, err := loadConfig(c, nil)
	if err != nil {
		return err
	}
	var notes map[string]string
	if path := c.String("plan"); path != "" {
		f, err := planfile.Read(path)
		if err != nil {
			return cli.Exit("Error: "+err.Error(), 1)
		}
		notes = map[string]string{}
		for _, ch := range f.Plan.Changes {
			if ch.Action != planner.ActionNoop {
				notes[ch.Address] = string(ch.Action)
			}
		}
	}
	if format == "mermaid" {
		err = cfg.WriteMermaidNotes(c.App.Writer, notes)
	} else {
		err = cfg.WriteDOTNotes(c.App.Writer, notes)
	}
	if err != nil {
		return fmt.Errorf("graph: %w", err)
	}
	return nil
}
