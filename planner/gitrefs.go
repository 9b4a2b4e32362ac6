package planner

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/urmanac/sovos/config"
	"github.com/urmanac/sovos/internal/gitref"
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
			cur, err := gitref.Resolve(cctx, s.Git, s.Ref)
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

func short(commit string) string {
	if len(commit) > 12 {
		return commit[:12]
	}
	return commit
}
