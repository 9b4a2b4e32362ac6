package operation

import (
	"context"
	"os"
	"path/filepath"
	"time"

	"github.com/urmanac/sovos/executor"
	"github.com/urmanac/sovos/planner"
	"github.com/urmanac/sovos/planner/planfile"
)

// PlanOptions are what a plan is made with (plan, and apply without a plan file).
type PlanOptions struct {
	// Targets limits the plan to these addresses and their dependencies (-target).
	Targets []string
	// Replace rebuilds these addresses although nothing changed (-replace).
	Replace []string
	// Refresh checks the registry (-refresh, on by default in the CLI): recorded
	// artifacts still exist, unrecorded ones may be adopted. Without it, reading the
	// state is the only network call.
	Refresh bool
	// Promote plans moving each resource's stable tags (-promote).
	Promote bool
}

// PlanRequest is `sovos plan`.
type PlanRequest struct {
	Inputs
	PlanOptions
	// Out saves the plan to this file for `sovos apply FILE` (-out).
	Out string
}

// PlanResult is a plan and what was learnt making it.
type PlanResult struct {
	Plan *planner.Plan
	// Backend names where the state was read ("layout .sovos/state (workspace main)").
	Backend string
	// Warnings are git refs that moved away from their pinned commit (refreshing plans
	// only: a plan with Refresh=false makes no such call), and secrets that a planned
	// build reads from an environment variable not set here (apply refuses to start
	// without them; a plan may run where they are not).
	Warnings []string
}

// Plan evaluates the configuration, reads the state and plans. It takes no lock and
// writes nothing to the registry: a pull request from a fork has read access only, and
// a saved plan is guarded by the state digest instead.
func Plan(ctx context.Context, req PlanRequest) (*PlanResult, error) {
	l, err := loadHashed(ctx, req.Inputs, loadOptions{refresh: req.Refresh})
	if err != nil {
		return nil, err
	}
	p, err := makePlan(ctx, req.Inputs, l, req.PlanOptions)
	if err != nil {
		return nil, err
	}
	res := &PlanResult{Plan: p, Backend: l.backend.String()}
	if req.Refresh {
		res.Warnings = planner.CheckGitRefs(ctx, l.cfg, 15*time.Second)
	}
	for _, w := range executor.UnsetSecretEnvs(p, os.LookupEnv) {
		res.Warnings = append(res.Warnings, w+": apply will not start until it is set")
	}
	if req.Out != "" {
		if err := planfile.Write(req.Out, p); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// makePlan plans l's configuration against its state.
func makePlan(ctx context.Context, in Inputs, l *loaded, o PlanOptions) (*planner.Plan, error) {
	p, err := planner.MakePlan(ctx, l.cfg, l.prior, l.digest, planner.Options{
		Targets:  o.Targets,
		Replace:  o.Replace,
		Refresh:  o.Refresh,
		Promote:  o.Promote,
		Registry: l.reg,
	})
	if err != nil {
		return nil, err
	}
	in.logger().Debug("planned", "state", l.backend.String(), "digest", l.digest, "create", p.Summary.Create,
		"adopt", p.Summary.Adopt, "rebuild", p.Summary.Rebuild, "promote", p.Summary.Promote, "forget", p.Summary.Forget)
	return p, nil
}

// RepoDir is dir relative to the root of the git repository holding it (the directory
// with .git): the markdown plan names it, so CI can find the comment of one
// configuration among several. "." when not in a repository.
func RepoDir(dir string) string {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "."
	}
	for root := abs; ; {
		if _, err := os.Stat(filepath.Join(root, ".git")); err == nil {
			rel, err := filepath.Rel(root, abs)
			if err != nil {
				return "."
			}
			return filepath.ToSlash(rel)
		}
		parent := filepath.Dir(root)
		if parent == root {
			return "."
		}
		root = parent
	}
}
