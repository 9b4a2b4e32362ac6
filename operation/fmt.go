package operation

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hashicorp/hcl/v2/hclwrite"

	"github.com/urmanac/sovos/config"
)

// FmtRequest is `sovos fmt [-check] [-recursive] [FILE|DIR]...`.
type FmtRequest struct {
	Inputs
	// Targets are files or directories, relative to Dir; none is Dir itself.
	Targets []string
	// Recursive also formats files in subdirectories (not hidden ones).
	Recursive bool
	// Check writes nothing.
	Check bool
}

// FmtFile is a file that was not in the canonical format.
type FmtFile struct {
	Path          string
	Before, After []byte
}

// FmtResult lists the files that were not formatted (and are now, unless Check).
type FmtResult struct {
	Files []FmtFile
}

// formattable says whether fmt handles a file: configurations and variable files in
// native syntax (JSON files are left alone).
func formattable(name string) bool {
	return (strings.HasSuffix(name, ".sovos.hcl") || strings.HasSuffix(name, ".sovosvars")) && !config.IgnoredFile(name)
}

// Fmt rewrites configuration and variable files in the canonical format (hclwrite's).
// A file with a syntax error stops it (a *DiagnosticsError): the result then lists
// what was formatted before.
func Fmt(_ context.Context, req FmtRequest) (*FmtResult, error) {
	files, err := fmtTargets(req)
	if err != nil {
		return nil, err
	}
	res := &FmtResult{}
	for _, f := range files {
		// A FIFO or device named like a configuration file is skipped with a warning,
		// and what is read is bounded and checked before a parser sees it.
		src, diags := config.ReadSource(f)
		if diags.HasErrors() {
			return res, req.report(map[string]*hcl.File{f: {Bytes: src}}, diags)
		}
		if src == nil {
			_ = req.report(nil, diags)
			continue
		}
		// hclwrite formats token by token and accepts broken syntax; parse first so a
		// syntax error is reported instead of being "formatted".
		if _, diags := hclsyntax.ParseConfig(src, f, hcl.InitialPos); diags.HasErrors() {
			return res, req.report(map[string]*hcl.File{f: {Bytes: src}}, config.FirstSyntaxError(diags))
		}
		formatted := hclwrite.Format(src)
		if bytes.Equal(src, formatted) {
			continue
		}
		res.Files = append(res.Files, FmtFile{Path: f, Before: src, After: formatted})
		if !req.Check {
			if err := os.WriteFile(f, formatted, 0o644); err != nil {
				return res, fmt.Errorf("fmt: %w", err)
			}
		}
	}
	return res, nil
}

func fmtTargets(req FmtRequest) ([]string, error) {
	targets := req.Targets
	if len(targets) == 0 {
		targets = []string{"."}
	}
	var files []string
	for _, t := range targets {
		if !filepath.IsAbs(t) {
			t = filepath.Join(req.dir(), t)
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
				if p != t && (!req.Recursive || strings.HasPrefix(d.Name(), ".")) {
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
