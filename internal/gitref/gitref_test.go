package gitref_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/urmanac/sovos/internal/gitref"
	"github.com/urmanac/sovos/internal/testenv"
)

func TestResolve(t *testing.T) {
	r := testenv.NewGitRemote(t)
	first := r.Git("rev-parse", "HEAD")
	annotatedObj := r.Tag("v1.0.0", true)
	r.Tag("light", false)
	second := r.Commit("second")
	r.Branch("release")
	third := r.Commit("third") // main moves on; release stays at second
	// "both" is a tag (at first) and a branch (at third): the tag wins, as in rev-parse.
	r.Git("tag", "both", first)
	r.Git("push", "-q", "origin", "refs/tags/both")
	r.Branch("both")
	// A tag whose name ends like another one must not be taken for it.
	r.Tag("x-v1.0.0", false)

	if annotatedObj == first {
		t.Fatal("an annotated tag should point at a tag object, not at the commit")
	}
	ctx := context.Background()
	for _, tc := range []struct{ ref, want string }{
		{"v1.0.0", first},           // annotated: peeled, never the tag object
		{"refs/tags/v1.0.0", first}, // full ref, annotated
		{"tags/v1.0.0", first},      // refs/<ref>
		{"light", first},            // lightweight tag
		{"main", third},             // a branch that moved
		{"refs/heads/main", third},  // full ref
		{"release", second},         // another branch
		{"HEAD", third},             // the remote's HEAD
		{"both", first},             // tag before branch
		{"refs/heads/both", third},  // ...unless the full ref says otherwise
		{"x-v1.0.0", third},         // its own commit, not v1.0.0's
		{strings.Repeat("ab", 20), strings.Repeat("ab", 20)}, // a commit id is its own pin
	} {
		got, err := gitref.Resolve(ctx, r.URL, tc.ref)
		if err != nil || got != tc.want {
			t.Errorf("Resolve(%s) = %s, %v; want %s", tc.ref, got, err, tc.want)
		}
	}

	// The tag moves (re-tagged on a later commit): the next lookup follows it.
	r.Tag("v1.0.0", true)
	if got, err := gitref.Resolve(ctx, r.URL, "v1.0.0"); err != nil || got != third {
		t.Errorf("moved tag: %s, %v; want %s", got, err, third)
	}
}

func TestResolveFailures(t *testing.T) {
	r := testenv.NewGitRemote(t)
	ctx := context.Background()

	_, err := gitref.Resolve(ctx, r.URL, "v9.9.9")
	if !errors.Is(err, gitref.ErrNotFound) || !strings.Contains(err.Error(), "no branch, tag or ref named v9.9.9") {
		t.Errorf("missing ref: %v", err)
	}
	// A ref that is only a suffix of an existing one is not that ref.
	r.Tag("v1.0.0", false)
	if _, err := gitref.Resolve(ctx, r.URL, "0.0"); !errors.Is(err, gitref.ErrNotFound) {
		t.Errorf("suffix ref: %v", err)
	}

	missing := "file://" + filepath.ToSlash(filepath.Join(t.TempDir(), "nope.git"))
	_, err = gitref.Resolve(ctx, missing, "main")
	if err == nil || errors.Is(err, gitref.ErrNotFound) || !strings.Contains(err.Error(), "git ls-remote "+missing) || strings.Contains(err.Error(), "\n") {
		t.Errorf("missing repository: %v", err)
	}

	cctx, cancel := context.WithTimeout(ctx, time.Nanosecond)
	defer cancel()
	time.Sleep(time.Millisecond)
	if _, err := gitref.Resolve(cctx, r.URL, "main"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("expired context: %v", err)
	}

	if _, err := gitref.Resolve(ctx, r.URL, "--upload-pack=touch /tmp/x"); err == nil {
		t.Error("a ref that looks like an option was accepted")
	}
}
