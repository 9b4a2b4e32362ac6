package operation

import (
	"context"

	"github.com/hashicorp/hcl/v2"

	"github.com/urmanac/sovos/config"
	"github.com/urmanac/sovos/pin"
	"github.com/urmanac/sovos/planner"
	"github.com/urmanac/sovos/planner/planfile"
)

// Validate loads and evaluates the configuration without contacting any registry or
// builder, and returns its diagnostics (not given to Inputs.Diagnostics: validate
// renders them itself, as text or JSON).
func Validate(ctx context.Context, in Inputs) (map[string]*hcl.File, hcl.Diagnostics) {
	opts := in.evalOptions(nil)
	opts.Validate = true // required variables may be unset: checked as unknown
	cfg, diags := config.Load(ctx, in.dir(), opts)
	return cfg.Files, diags
}

// GraphRequest is `sovos graph [-plan=FILE]`.
type GraphRequest struct {
	Inputs
	// PlanFile notes each resource's action from a saved plan.
	PlanFile string
}

// GraphResult is the resource graph of the configuration.
type GraphResult struct {
	Config *config.Config
	// Notes maps an address to the action the saved plan gives it (not no-op).
	Notes map[string]string
}

// Graph evaluates the configuration (unhashed) for its resource graph.
func Graph(ctx context.Context, req GraphRequest) (*GraphResult, error) {
	cfg, err := loadConfig(ctx, req.Inputs, true)
	if err != nil {
		return nil, err
	}
	res := &GraphResult{Config: cfg}
	if req.PlanFile != "" {
		f, err := planfile.Read(req.PlanFile)
		if err != nil {
			return nil, err
		}
		res.Notes = map[string]string{}
		for _, ch := range f.Plan.Changes {
			if ch.Action != planner.ActionNoop {
				res.Notes[ch.Address] = string(ch.Action)
			}
		}
	}
	return res, nil
}

// PinRequest is `sovos pin [-upgrade] [-check] [ADDR]...`.
type PinRequest struct {
	Inputs
	// Addrs limits the run to these source and image blocks.
	Addrs []string
	// Upgrade moves every pin to what its ref points at now; Check changes nothing.
	Upgrade, Check bool
}

// Pin loads the configuration as `sovos pin` may (a git source without its commit is
// allowed) and maintains its pins (package pin), with the configuration's registry
// client for image digests.
func Pin(ctx context.Context, req PinRequest) (*pin.Result, error) {
	opts := req.readOptions() // the weekly `pin -check` job has no secrets
	opts.Pinning = true
	cfg, diags := config.Load(ctx, req.dir(), opts)
	if diags.HasErrors() {
		return nil, req.report(cfg.Files, diags)
	}
	// Only an image pin needs the registry client: a configuration whose
	// insecure_registries wait for a variable without a value still pins its sources.
	var images pin.ImageResolver
	if reg, err := registryClient(cfg.Settings); err != nil {
		images = pin.ImageFunc(func(context.Context, string) (string, error) { return "", err })
	} else {
		images = pin.Registry(reg)
	}
	res, ds := pin.Run(ctx, pin.Request{
		Config:  cfg,
		Addrs:   req.Addrs,
		Upgrade: req.Upgrade,
		Check:   req.Check,
		Images:  images,
	})
	if err := req.report(cfg.Files, append(diags, ds...)); err != nil {
		return nil, err
	}
	return res, nil
}
