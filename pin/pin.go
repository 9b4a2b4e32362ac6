// Package pin maintains a configuration's pins (SPEC §8): the commit of every git source
// that names a ref, and the digest of every image. It asks the remotes what each ref
// points at now and splices the answer into the file that holds the block, leaving every
// other byte of the file as it was.
package pin

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/urmanac/sovos/config"
	"github.com/urmanac/sovos/internal/gitref"
)

// GitResolver tells which commit a ref names in a git repository: for a tag, the commit
// it peels to, never the tag object.
type GitResolver interface {
	Commit(ctx context.Context, url, ref string) (string, error)
}

// ImageResolver tells which digest an image reference resolves to, as a registry HEAD
// gives it: for a multi-platform image the index's digest (what `crane digest` prints).
type ImageResolver interface {
	Digest(ctx context.Context, ref string) (string, error)
}

// GitFunc adapts a function to GitResolver.
type GitFunc func(ctx context.Context, url, ref string) (string, error)

// Commit calls f.
func (f GitFunc) Commit(ctx context.Context, url, ref string) (string, error) {
	return f(ctx, url, ref)
}

// ImageFunc adapts a function to ImageResolver.
type ImageFunc func(ctx context.Context, ref string) (string, error)

// Digest calls f.
func (f ImageFunc) Digest(ctx context.Context, ref string) (string, error) { return f(ctx, ref) }

// ErrNotFound is what a resolver's error wraps when the remote answered and has no such
// ref (a missing tag, branch or image), as opposed to a remote that could not be asked.
var ErrNotFound = errors.New("not found")

// Request is one `sovos pin` run.
type Request struct {
	// Config is the configuration, loaded with config.EvalOptions{Pinning: true} so that a
	// git source without its commit loads.
	Config *config.Config
	// Addrs limits the run to these blocks (source.pkgs, image.x; an instance address
	// names its block). Empty means every pin.
	Addrs []string
	// Upgrade moves every pin to what its ref points at now; without it only missing pins
	// are filled.
	Upgrade bool
	// Check writes nothing: Result.Changes lists every pin that is missing or behind its
	// ref.
	Check bool
	// Git defaults to `git ls-remote` (internal/gitref).
	Git GitResolver
	// Images is needed as soon as an image pin must be looked up.
	Images ImageResolver
	// Parallelism bounds concurrent lookups (default 8); Timeout bounds each (default 2m).
	Parallelism int
	Timeout     time.Duration
}

// Change is one pin written (or, with Check, one pin missing or behind).
type Change struct {
	Addr string // the block: source.pkgs, image.upstream_installer
	Attr string // "commit" or "digest"
	Old  string // "" when the pin was missing
	New  string
	// Ref is what was resolved: a source's ref, or an image's reference.
	Ref string
	// Range is the pin's value in its file, or the block's ref when the pin was missing.
	Range hcl.Range
}

// String is the line `sovos pin` prints:
// "source.pkgs: commit 8b9fad9a -> 1c2d3e4f (v1.13.0)".
func (c Change) String() string {
	old := "(none)"
	if c.Old != "" {
		old = Short(c.Old)
	}
	return fmt.Sprintf("%s: %s %s -> %s (%s)", c.Addr, c.Attr, old, Short(c.New), c.Ref)
}

// Short abbreviates a commit to 8 hex digits and a digest to its algorithm and 12.
func Short(pin string) string {
	if alg, hex, ok := strings.Cut(pin, ":"); ok {
		if len(hex) > 12 {
			hex = hex[:12]
		}
		return alg + ":" + hex
	}
	if len(pin) > 8 {
		return pin[:8]
	}
	return pin
}

// Result is what a run did.
type Result struct {
	// Changes are in file order: the pins written, or with Check those missing or behind.
	Changes []Change
	// Files lists the files written (none with Check, none when there is an error).
	Files []string
	// LeftOut are missing pins resolved but not written, each with a warning saying
	// why (their ref shares its line with something else).
	LeftOut []Change
}

// Run resolves the pins the request asks for and, unless Check is set, writes them. Each
// pin is spliced into its file at the range the HCL syntax tree gives it: nothing else in
// the file changes. A pin written as an expression is left alone with a warning. Any
// error (a ref that does not exist, a remote that cannot be asked) means no file is
// written at all.
func Run(ctx context.Context, req Request) (*Result, hcl.Diagnostics) {
	res := &Result{}
	targets, diags := selectTargets(req.Config, req.Addrs)
	if diags.HasErrors() {
		return res, diags
	}
	var lookups []*target
	for _, t := range targets {
		if t.pin == nil || req.Upgrade || req.Check {
			lookups = append(lookups, t)
		}
	}
	diags = append(diags, resolve(ctx, req, lookups)...)
	if diags.HasErrors() {
		return res, diags
	}
	for _, t := range lookups {
		if t.pin != nil && t.pin.value == t.resolved {
			continue
		}
		if t.noRoom != nil && !req.Check {
			res.LeftOut = append(res.LeftOut, Change{Addr: t.addr, Attr: t.attr, New: t.resolved, Ref: t.ref, Range: t.refAttr.Expr.Range()})
			rng := t.refAttr.Range
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagWarning, Summary: "Pin left out",
				Detail:  fmt.Sprintf("%s: its %s (%s) was not written: %s, then run `sovos pin` again (or write %s = \"%s\" yourself).", t.addr, t.attr, Short(t.resolved), t.noRoom, t.attr, t.resolved),
				Subject: &rng})
			continue
		}
		c := Change{Addr: t.addr, Attr: t.attr, New: t.resolved, Ref: t.ref, Range: t.refAttr.Expr.Range()}
		if t.pin != nil {
			c.Old, c.Range = t.pin.value, t.pin.attr.Expr.Range()
		}
		res.Changes = append(res.Changes, c)
		t.changed = true
	}
	sort.SliceStable(res.Changes, func(i, j int) bool {
		a, b := res.Changes[i].Range, res.Changes[j].Range
		if a.Filename != b.Filename {
			return a.Filename < b.Filename
		}
		return a.Start.Byte < b.Start.Byte
	})
	if req.Check || len(res.Changes) == 0 {
		return res, diags
	}
	files, ds := splice(targets)
	diags = append(diags, ds...)
	if ds.HasErrors() {
		return res, diags
	}
	if err := writeAll(files); err != nil {
		return res, append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Cannot write the pins",
			Detail: sentence(err) + " No configuration file was changed."})
	}
	for _, f := range files {
		res.Files = append(res.Files, f.name)
	}
	return res, diags
}

// resolve looks every target's ref up, concurrently, asking each distinct ref once.
func resolve(ctx context.Context, req Request, targets []*target) hcl.Diagnostics {
	git := req.Git
	if git == nil {
		git = GitFunc(gitref.Resolve)
	}
	par := req.Parallelism
	if par <= 0 {
		par = 8
	}
	timeout := req.Timeout
	if timeout <= 0 {
		timeout = 2 * time.Minute
	}
	type answer struct {
		value string
		err   error
	}
	answers := map[string]*answer{}
	var (
		wg  sync.WaitGroup
		sem = make(chan struct{}, par)
	)
	for _, t := range targets {
		key := t.attr + "\x00" + t.url + "\x00" + t.ref
		if answers[key] != nil {
			continue
		}
		a := &answer{}
		answers[key] = a
		if t.attr == attrDigest && req.Images == nil {
			a.err = errors.New("no registry client was given to resolve image digests")
			continue
		}
		wg.Add(1)
		go func(t *target) {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			cctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			if t.attr == attrCommit {
				a.value, a.err = git.Commit(cctx, t.url, t.ref)
			} else {
				a.value, a.err = req.Images.Digest(cctx, t.ref)
			}
			if a.err == nil {
				a.err = checkPin(t.attr, a.value)
			}
		}(t)
	}
	wg.Wait()

	var diags hcl.Diagnostics
	for _, t := range targets {
		a := answers[t.attr+"\x00"+t.url+"\x00"+t.ref]
		if a.err == nil {
			t.resolved = a.value
			continue
		}
		rng := t.refAttr.Expr.Range()
		where := fmt.Sprintf("%s (%s:%d)", t.addr, rng.Filename, rng.Start.Line)
		d := &hcl.Diagnostic{Severity: hcl.DiagError, Subject: rng.Ptr()}
		if errors.Is(a.err, ErrNotFound) || errors.Is(a.err, gitref.ErrNotFound) {
			d.Summary = "Ref not found"
			if t.attr == attrCommit {
				d.Detail = fmt.Sprintf("%s: ref %s does not exist: %s has no branch, tag or ref of that name.", where, t.ref, t.url)
			} else {
				d.Detail = fmt.Sprintf("%s: ref %s does not exist: the registry has no such image.", where, t.ref)
			}
			d.Detail += " Nothing was written: correct the ref and run `sovos pin` again."
		} else {
			d.Summary = "Cannot resolve ref"
			d.Detail = fmt.Sprintf("%s: cannot resolve %s: %s Nothing was written: run `sovos pin` again once the %s can be reached.", where, t.ref, sentence(a.err), t.remoteKind())
		}
		diags = append(diags, d)
	}
	return diags
}

// sentence ends err's message with one full stop.
func sentence(err error) string {
	s := strings.TrimSpace(err.Error())
	if strings.HasSuffix(s, ".") || strings.HasSuffix(s, "?") || strings.HasSuffix(s, "!") {
		return s
	}
	return s + "."
}

// checkPin refuses an answer that is not a pin sovos could load back.
func checkPin(attr, v string) error {
	if attr == attrCommit && !config.IsCommit(v) {
		return fmt.Errorf("the remote answered %q, which is not a 40-hex commit", v)
	}
	if attr == attrDigest && !config.IsDigest(v) {
		return fmt.Errorf("the registry answered %q, which is not a sha256 digest", v)
	}
	return nil
}
