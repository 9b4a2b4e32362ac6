package planner

import (
	"context"
	"fmt"
	"os/exec"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/urmanac/sovos/config"
)

// CheckGitRefs looks up each git source's informational `ref` on its remote (git
// ls-remote, concurrently, each bounded by timeout) and returns a warning for every ref
// that no longer points at the pinned commit. Only the commit is hashed, so a moved ref
// rebuilds nothing; the warning tells the reviewer the pin is behind. A remote that
// cannot be asked gives no warning: the plan does not depend on it.
func CheckGitRefs(ctx context.Context, cfg *config.Config, timeout time.Duration) []string {
	var (
		mu       sync.Mutex
		warnings []string
		wg       sync.WaitGroup
	)
	for _, r := range cfg.Resources {
		s := r.Source
		if s == nil || s.Git == "" || s.Ref == "" || s.Commit == "" {
			continue
		}
		wg.Add(1)
		go func(addr string, s *config.SourceSpec) {
			defer wg.Done()
			cctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			cur, err := lsRemote(cctx, s.Git, s.Ref)
			if err != nil || cur == "" || strings.EqualFold(cur, s.Commit) {
				return
			}
			mu.Lock()
			defer mu.Unlock()
			warnings = append(warnings, fmt.Sprintf("%s: ref %s now points to %s, but the pinned commit is %s; update commit to follow it (the ref is not hashed, so nothing is rebuilt until you do)",
				addr, s.Ref, short(cur), short(s.Commit)))
		}(r.Addr.String(), s)
	}
	wg.Wait()
	sort.Strings(warnings)
	return warnings
}

// lsRemote returns the commit ref names on url: the peeled commit for an annotated tag.
func lsRemote(ctx context.Context, url, ref string) (string, error) {
	cmd := exec.CommandContext(ctx, "git", "ls-remote", "--", url, ref, ref+"^{}")
	cmd.Env = append(cmd.Environ(), "GIT_TERMINAL_PROMPT=0")
	out, err := cmd.Output()
	if err != nil {
		return "", err
	}
	var commit string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		if len(f) != 2 {
			continue
		}
		// A peeled tag (^{}) names the commit; it wins over the tag object.
		if strings.HasSuffix(f[1], "^{}") || commit == "" {
			commit = f[0]
		}
	}
	return commit, nil
}

func short(commit string) string {
	if len(commit) > 12 {
		return commit[:12]
	}
	return commit
}
