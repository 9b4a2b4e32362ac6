package operation

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"

	"github.com/urmanac/sovos/config"
	"github.com/urmanac/sovos/executor"
	"github.com/urmanac/sovos/planner"
	"github.com/urmanac/sovos/planner/planfile"
	"github.com/urmanac/sovos/state"
)

// ApplyRequest is `sovos apply [PLANFILE]`.
type ApplyRequest struct {
	Inputs
	// PlanFile applies a saved plan; then PlanOptions are not used (the plan carries
	// them) and Approve is not called (the plan was reviewed).
	PlanFile string
	PlanOptions
	Lock LockOptions
	// Parallelism bounds the resources built at once (default 4).
	Parallelism int
	// Progress receives BuildKit's progress display in ProgressMode (auto, tty, plain,
	// rawjson or quiet); nil shows none.
	Progress     io.Writer
	ProgressMode string
	// Approve is shown the plan before anything is built; false cancels the apply
	// (ErrCancelled). nil approves.
	Approve func(*planner.Plan) (bool, error)
}

// ApplyResult is what an apply did.
type ApplyResult struct {
	// Plan is the plan applied.
	Plan *planner.Plan
	// Summary is each resource's outcome and the tags moved; nil when nothing ran.
	Summary *executor.Summary
	// Outputs are the output values recorded in the state.
	Outputs map[string]*state.Output
}

// ErrCancelled is an apply, rollback or gc whose Approve refused.
var ErrCancelled = errors.New("apply cancelled")

// Apply carries out a plan: a saved one, or one made now. The lock is taken before the
// state is read (and so before the plan is made and shown): nobody changes the state
// between the plan approved and the apply. A saved plan is refused when the state or
// the configuration changed since it was made. Cancelling ctx stops new builds, cancels
// running ones, and still writes the state; the result then holds what finished.
func Apply(ctx context.Context, req ApplyRequest) (res *ApplyResult, err error) {
	var file *planfile.File
	o := loadOptions{refresh: req.Refresh, lock: &req.Lock, operation: "apply"}
	if req.PlanFile != "" {
		if file, err = planfile.Read(req.PlanFile); err != nil {
			return nil, err
		}
		// The plan's non-sensitive variables come from the file; sensitive ones are
		// given again (-var, SOVOS_VAR_), as nothing of them is saved.
		o.saved, o.refresh = file.Values(), true
	}
	l, err := loadHashed(ctx, req.Inputs, o)
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, l.lock.release(ctx)) }()

	res = &ApplyResult{}
	if file != nil {
		if err := file.Check(l.cfg, l.digest); err != nil {
			return nil, err
		}
		if res.Plan, err = file.Bind(l.cfg, l.prior); err != nil {
			return nil, err
		}
	} else {
		if res.Plan, err = makePlan(ctx, req.Inputs, l, req.PlanOptions); err != nil {
			return nil, err
		}
		// Asking to approve a plan that cannot run helps nobody (executor.Apply refuses
		// it too, before any build).
		if err := executor.SecretEnvError(res.Plan); err != nil {
			return nil, err
		}
		if req.Approve != nil {
			ok, err := req.Approve(res.Plan)
			if err != nil {
				return nil, err
			}
			if !ok {
				return nil, ErrCancelled
			}
		}
	}

	// The writer gets its own copy: the plan keeps pointing at the state it was made
	// from. Read under the lock, it is that same state, unless -lock=false let someone
	// else write meanwhile.
	working, digest, err := l.backend.Read(ctx)
	if err != nil {
		return nil, stateReadError(l.backend, err)
	}
	if digest != l.digest {
		return nil, fmt.Errorf("the state in %s changed while planning (someone else applied); run `sovos apply` again", l.backend)
	}
	if working == nil {
		working = state.New(res.Plan.Workspace, config.SovosVersion)
	}
	working.SovosVersion = config.SovosVersion
	working.History = state.NewHistory("apply")

	// Signing is set up before anything is built: a missing key or password fails
	// now, not after an hour-long kernel build. An apply with nothing to build still
	// signs what was built before signing was configured.
	sig, err := loadSigning(req.Inputs, l.cfg, true)
	if err != nil {
		return nil, err
	}
	pool := builderPool(l.cfg, l.reg, req.logger())
	defer pool.Close()
	sum, err := executor.Apply(ctx, res.Plan, executor.Options{
		Parallelism:  req.Parallelism,
		Promote:      req.Promote && file == nil,
		Builders:     builders(pool),
		Writer:       state.NewWriter(l.backend, working, l.lock.held),
		Dir:          l.cfg.Dir,
		CacheDir:     filepath.Join(l.cfg.Dir, ".sovos", "cache"),
		Progress:     req.Progress,
		ProgressMode: req.ProgressMode,
		Logger:       req.logger(),
		Registry:     l.reg,
		Signer:       sig.signer,
		Verifier:     sig.verifier,
	})
	res.Summary, res.Outputs = sum, working.Outputs
	return res, err
}
