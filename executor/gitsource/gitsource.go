// Package gitsource materializes `git` sources: it fetches a repository once at
// its pinned commit with the git CLI into a cache directory, so the build can
// mount it like a path source. Using the real git CLI means users' credential
// helpers, SSH agents and URL rewrites work as they do on their shell.
package gitsource

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
)

var commitPattern = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^([0-9a-f]{40}|[0-9a-f]{64})$`) })

// Fetch returns a directory holding the tree of url at commit (joined with
// subdir). The checkout is cached under cacheDir, keyed by commit alone, so the
// same commit fetched over https or ssh is one entry and later calls do no
// network traffic. Concurrent calls for one commit, from goroutines or
// processes, are safe: each fetches into a private directory and the first to
// finish renames it into place.
//
// The returned tree has no .git directory, as with BuildKit's own git contexts:
// the build context is the tree at that commit, nothing more.
func Fetch(ctx context.Context, cacheDir, url, commit, subdir string) (string, error) {
	commit = strings.ToLower(commit)
	if !commitPattern().MatchString(commit) {
		return "", fmt.Errorf("git source %s: commit %q is not a full hexadecimal commit id", url, commit)
	}
	if subdir != "" {
		clean := filepath.Clean(subdir)
		if filepath.IsAbs(clean) || clean == ".." || strings.HasPrefix(clean, "../") {
			return "", fmt.Errorf("git source %s: subdirectory %q must be a relative path inside the repository", url, subdir)
		}
		subdir = clean
	}

	root := filepath.Join(cacheDir, "git")
	final := filepath.Join(root, commit)
	if _, err := os.Stat(final); err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("git source %s@%s: %w", url, commit, err)
		}
		if err := fetchInto(ctx, root, final, url, commit); err != nil {
			return "", err
		}
	}

	dir := filepath.Join(final, subdir)
	st, err := os.Stat(dir)
	if err != nil || !st.IsDir() {
		return "", fmt.Errorf("git source %s@%s: subdirectory %q does not exist at that commit", url, commit, subdir)
	}
	return dir, nil
}

func fetchInto(ctx context.Context, root, final, url, commit string) error {
	if err := os.MkdirAll(root, 0o755); err != nil {
		return fmt.Errorf("git source %s@%s: creating cache: %w", url, commit, err)
	}
	tmp, err := os.MkdirTemp(root, ".fetch-"+commit[:12]+"-")
	if err != nil {
		return fmt.Errorf("git source %s@%s: creating cache: %w", url, commit, err)
	}
	defer os.RemoveAll(tmp)

	git := func(args ...string) error {
		return runGit(ctx, tmp, args...)
	}
	if err := git("init", "-q"); err != nil {
		return fmt.Errorf("git source %s@%s: %w", url, commit, err)
	}
	// Fetching one commit by id is cheapest, but some servers refuse wants that are
	// not advertised refs (uploadpack.allowReachableSHA1InWant unset); then fetch
	// every branch and tag and look for the commit among them.
	if shallowErr := git("fetch", "-q", "--depth", "1", url, commit); shallowErr != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("git source %s@%s: %w", url, commit, ctx.Err())
		}
		if fullErr := git("fetch", "-q", url, "+refs/heads/*:refs/remotes/origin/*", "+refs/tags/*:refs/tags/*"); fullErr != nil {
			return fmt.Errorf("git source %s@%s: cannot fetch: %w", url, commit, fullErr)
		}
	}
	if err := git("checkout", "-q", "--detach", commit); err != nil {
		return fmt.Errorf("git source %s@%s: commit not found in the repository: %w", url, commit, err)
	}
	if err := os.RemoveAll(filepath.Join(tmp, ".git")); err != nil {
		return fmt.Errorf("git source %s@%s: %w", url, commit, err)
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return fmt.Errorf("git source %s@%s: %w", url, commit, err)
	}
	if err := os.Rename(tmp, final); err != nil {
		// Another fetch of the same commit finished first; its tree is identical.
		if _, statErr := os.Stat(final); statErr == nil {
			return nil
		}
		return fmt.Errorf("git source %s@%s: %w", url, commit, err)
	}
	return nil
}

func runGit(ctx context.Context, dir string, args ...string) error {
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = dir
	// Never wait for a password on a terminal: apply runs unattended.
	cmd.Env = append(os.Environ(), "GIT_TERMINAL_PROMPT=0", "GIT_SSH_COMMAND="+sshCommand())
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = err.Error()
		}
		return fmt.Errorf("git %s: %s", args[0], msg)
	}
	return nil
}

// sshCommand keeps the user's GIT_SSH_COMMAND but never lets ssh prompt.
func sshCommand() string {
	if c := os.Getenv("GIT_SSH_COMMAND"); c != "" {
		return c
	}
	return "ssh -o BatchMode=yes"
}
