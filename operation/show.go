package operation

import (
	"context"
	"fmt"

	"github.com/urmanac/sovos/bootmedia"
	"github.com/urmanac/sovos/planner"
	"github.com/urmanac/sovos/planner/planfile"
	"github.com/urmanac/sovos/state"
)

// ShowRequest is `sovos show [PLANFILE]`.
type ShowRequest struct {
	Inputs
	// PlanFile shows a saved plan; without it, the state.
	PlanFile string
}

// ShowResult is a saved plan, or the state.
type ShowResult struct {
	Plan *planner.Plan
	// Stored is the state, when no plan file was asked for.
	Stored *Stored
}

// Show reads a saved plan (which needs no configuration), or the state.
func Show(ctx context.Context, req ShowRequest) (*ShowResult, error) {
	if req.PlanFile != "" {
		f, err := planfile.Read(req.PlanFile)
		if err != nil {
			return nil, err
		}
		return &ShowResult{Plan: f.Plan}, nil
	}
	st, err := ReadState(ctx, req.Inputs)
	if err != nil {
		return nil, err
	}
	return &ShowResult{Stored: st}, nil
}

// OutputRequest is `sovos output [NAME]`.
type OutputRequest struct {
	Inputs
	// Name picks one output; "" returns them all.
	Name string
}

// OutputResult holds the outputs the last apply recorded.
type OutputResult struct {
	// Outputs are every recorded output (nil when none), Output the one named.
	Outputs map[string]*state.Output
	Output  *state.Output
	// State is the state they come from (its profiles' artifacts are listed with the
	// outputs); nil when nothing was applied.
	State *state.State
}

// Output returns the outputs recorded in the state; a Name not among them is an error.
func Output(ctx context.Context, req OutputRequest) (*OutputResult, error) {
	st, err := ReadState(ctx, req.Inputs)
	if err != nil {
		return nil, err
	}
	res := &OutputResult{State: st.State}
	if st.State != nil {
		res.Outputs = st.State.Outputs
	}
	if req.Name != "" {
		o, ok := res.Outputs[req.Name]
		if !ok {
			return nil, fmt.Errorf("no output %q in the state; `sovos output` lists them (outputs are recorded by apply)", req.Name)
		}
		res.Output = o
	}
	return res, nil
}

// FetchRequest is `sovos fetch ADDRESS [-o DIR]`.
type FetchRequest struct {
	Inputs
	// Address is the profile whose boot media are fetched.
	Address string
	// Out receives the files (created if needed); default ".". For a profile without an
	// image, "" leaves the exported files where they are.
	Out string
}

// Fetch downloads a profile's boot media from the digest the state records (package
// bootmedia), or, for a profile without an image, says where apply exported its files
// (and copies them into Out when it is given).
func Fetch(ctx context.Context, req FetchRequest) (*bootmedia.Result, error) {
	st, err := ReadState(ctx, req.Inputs)
	if err != nil {
		return nil, err
	}
	reg, err := registryClient(st.Config.Settings)
	if err != nil {
		// A profile without a recorded artifact was exported locally: bootmedia.Fetch
		// makes no registry call for it, so only a published one needs the client.
		if r := st.State.Resource(req.Address); r != nil && r.Image != "" && r.Digest != "" {
			return nil, err
		}
	}
	return bootmedia.Fetch(ctx, bootmedia.Request{
		Address:  req.Address,
		State:    st.State,
		Config:   st.Config,
		Dir:      req.Out,
		Registry: reg,
	})
}
