// Package gitref asks a git remote which commit a ref names, with `git ls-remote`. It is
// the one place sovos does so: `sovos pin` writes the answer into a source's `commit`,
// and a refreshing plan warns when a source's ref moved past its pin.
package gitref

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"regexp"
	"strings"
	"sync"
)

// ErrNotFound is wrapped by Resolve's error when the remote answered but has no such
// ref.
var ErrNotFound = errors.New("no such ref")

var commitRe = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[0-9a-f]{40}$`) })

// Resolve returns the commit (40 lowercase hex digits) that ref names on the remote
// repository url. ref is a tag, a branch, a full ref (refs/heads/main, refs/pull/1/head),
// HEAD, or a full commit id (returned as it is: a remote lists refs, not commits). A
// short name that is both a tag and a branch means the tag, as in `git rev-parse`. An
// annotated tag resolves to the commit it peels to (REF^{}), never to the tag object.
func Resolve(ctx context.Context, url, ref string) (string, error) {
	if commitRe().MatchString(ref) {
		return ref, nil
	}
	if ref == "" || strings.HasPrefix(ref, "-") {
		return "", fmt.Errorf("%q is not a git ref", ref)
	}
	if _, err := exec.LookPath("git"); err != nil {
		return "", errors.New("git is not installed: asking a remote what a ref points at needs git on PATH")
	}
	// Both patterns: the peeled line of an annotated tag (refs/tags/v1^{}) only matches
	// a pattern that ends in ^{}.
	cmd := exec.CommandContext(ctx, "git", "ls-remote", "--", url, ref, ref+"^{}")
	// Never wait for a password on a terminal nobody watches.
	cmd.Env = append(cmd.Environ(), "GIT_TERMINAL_PROMPT=0")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		if ctx.Err() != nil {
			return "", fmt.Errorf("git ls-remote %s: %w", url, ctx.Err())
		}
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = err.Error()
		}
		return "", fmt.Errorf("git ls-remote %s: %s", url, oneLine(msg))
	}
	refs := parse(out)
	for _, name := range candidates(ref) {
		id, ok := refs[name]
		if !ok {
			continue
		}
		if peeled, ok := refs[name+"^{}"]; ok {
			return peeled, nil
		}
		return id, nil
	}
	return "", fmt.Errorf("%s has no branch, tag or ref named %s: %w", url, ref, ErrNotFound)
}

// candidates lists the full names a short ref may mean, in `git rev-parse` order
// (gitrevisions(7)); remote-tracking refs do not exist on a remote.
func candidates(ref string) []string {
	return []string{ref, "refs/" + ref, "refs/tags/" + ref, "refs/heads/" + ref}
}

// parse reads ls-remote's "<id>\t<name>" lines.
func parse(out []byte) map[string]string {
	refs := map[string]string{}
	for _, line := range strings.Split(string(out), "\n") {
		id, name, ok := strings.Cut(strings.TrimSpace(line), "\t")
		if ok && commitRe().MatchString(id) {
			refs[name] = id
		}
	}
	return refs
}

// oneLine joins git's stderr lines ("fatal: ...") into one message.
func oneLine(s string) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", "; ")), " ")
}
