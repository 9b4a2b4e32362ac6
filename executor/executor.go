package executor

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/moby/buildkit/client"
	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/util/progress/progressui"

	"github.com/urmanac/sovos/attest"
	"github.com/urmanac/sovos/config"
	"github.com/urmanac/sovos/executor/bkdriver"
	"github.com/urmanac/sovos/executor/dag"
	"github.com/urmanac/sovos/internal/oci"
	"github.com/urmanac/sovos/planner"
	"github.com/urmanac/sovos/state"
)

// Options tune Apply.
type Options struct {
	// Parallelism bounds the resources processed at once (default 4).
	Parallelism int
	// Promote moves stable tags after every node succeeded. A plan made with -promote
	// (Plan.Promote) promotes too.
	Promote bool
	// Builders returns the builder (a BuildKit daemon) of a builder block by name
	// ("default" when the configuration declares none). It is called for every build;
	// the caller connects once per builder and closes the connections after Apply
	// (bkdriver.Pool does both).
	Builders func(ctx context.Context, name string) (Builder, error)
	// Writer records results in the state as they come. Apply closes it (a final flush)
	// before returning.
	Writer *state.Writer
	// Dir is the configuration directory; a state that cannot be written is saved in
	// Dir/.sovos/errored-state.json.
	Dir string
	// CacheDir holds git checkouts (gitsource.Fetch); default Dir/.sovos/cache.
	CacheDir string
	// Progress receives BuildKit's progress display; nil shows none.
	Progress io.Writer
	// ProgressMode is auto, tty, plain, rawjson or quiet (default auto).
	ProgressMode string
	Logger       hclog.Logger
	// Registry makes sovos's own registry calls (certificates, verification,
	// promotion) and says which registries are plain HTTP: BuildKit pushes to those
	// with registry.insecure, and imager profiles get forceInsecure for them. nil
	// means oci.New().
	Registry *oci.Client
	// Signer signs every image built (and its stages, and boot media) and every
	// attestation (sovos.signing, SPEC §9); nil signs nothing and attaches attestations
	// as bare in-toto statements.
	Signer *attest.Signer
	// Verifier checks the signatures the promotion gate relies on; set with Signer.
	Verifier *attest.Verifier
}

// Builder is what the executor needs of a BuildKit daemon: build a resource with its
// stages (and signing_cert target) in one session, and solve an LLB definition (a
// profile's imager step). *bkdriver.Driver is the one implementation; unit tests use
// a fake to check adopt, promote and verify without a daemon.
type Builder interface {
	Build(ctx context.Context, req bkdriver.Request, status chan *client.SolveStatus) (*bkdriver.Result, error)
	Solve(ctx context.Context, def *llb.Definition, exp bkdriver.Export, status chan *client.SolveStatus, opts ...bkdriver.SolveOption) (string, error)
}

var _ Builder = (*bkdriver.Driver)(nil)

// Outcome is how one resource ended.
type Outcome string

// Outcomes of a resource in an apply.
const (
	Built Outcome = "built"
	// Rendered: a profile without imager, whose YAML only was written. Apply counts
	// these apart from builds.
	Rendered  Outcome = "rendered"
	Adopted   Outcome = "adopted"
	Forgotten Outcome = "forgotten"
	Unchanged Outcome = "unchanged"
	Failed    Outcome = "failed"
	Skipped   Outcome = "skipped"
	Canceled  Outcome = "canceled"
)

// NodeResult is the outcome of one resource.
type NodeResult struct {
	Address  string
	Action   planner.Action
	Outcome  Outcome
	Err      error
	Duration time.Duration
	// Digest is the artifact's digest after the apply ("" for profiles without output).
	Digest string
	// Files are the files the node wrote: a profile's YAML, and the directory its
	// imager's output was exported to (ending in a separator) when it has no image.
	Files []string
}

// Rename is a profile file moved from its first-release name to its file-safe one
// (SPEC §2): the first apply after the upgrade says so.
type Rename struct {
	Address, From, To string
}

// Promotion is one stable tag moved.
type Promotion struct {
	Address, Ref, Digest string
}

// Summary is what an apply did.
type Summary struct {
	Resources []*NodeResult
	Promoted  []Promotion
	// PromoteSkipped says why tags were not moved although promotion was asked for.
	PromoteSkipped string
	// Renamed lists the profile files moved to their file-safe names.
	Renamed  []Rename
	Duration time.Duration
}

// Count returns how many resources ended with outcome o.
func (s *Summary) Count(o Outcome) int {
	n := 0
	for _, r := range s.Resources {
		if r.Outcome == o {
			n++
		}
	}
	return n
}

// Failed reports whether any resource failed, was skipped or was canceled.
func (s *Summary) Failed() bool {
	return s.Count(Failed)+s.Count(Skipped)+s.Count(Canceled) > 0
}

// artifact is what is known of a resource's pushed images during an apply: from the
// state, then from this apply's builds.
type artifact struct {
	image  string
	digest string
	stages map[string]*state.Stage
	cert   *x509.Certificate
	// attestations are the referrers attached to digest, by predicate type (the state's
	// Resource.Attestations); verification is an adopted extension's check, recorded
	// with it.
	attestations map[string]string
	verification *state.Verification
}

// applier is one run of Apply.
type applier struct {
	p    *planner.Plan
	opts Options
	log  hclog.Logger

	status chan *client.SolveStatus

	mu        sync.Mutex
	artifacts map[string]*artifact
	verified  map[string]string // extension address -> digest that passed verification
	files     map[string][]string
	renamed   []Rename
	rendered  map[string]bool // profiles created or rebuilt without an imager run

	// recorded indexes the Writer's state; only used inside Writer.Update (update).
	recorded *state.Index

	// refs maps every "image:tag" a resource exposes (.ref, .stage[T].ref) to its
	// address and target ("" for the primary image), so an attribute naming it can be
	// pinned by digest once the digest is known.
	refs map[string]refTarget
}

type refTarget struct{ addr, target string }

// Apply carries out p. It returns a summary and an error when any resource failed or was
// skipped, promotion failed, or the state could not be written (then saved to
// .sovos/errored-state.json). Cancelling ctx stops new builds, cancels running ones and
// still writes the state.
func Apply(ctx context.Context, p *planner.Plan, opts Options) (*Summary, error) {
	start := time.Now()
	if p == nil || p.Config == nil {
		return nil, errors.New("apply: the plan has no configuration bound to it")
	}
	if opts.Writer == nil {
		return nil, errors.New("apply: no state writer")
	}
	if err := SecretEnvError(p); err != nil {
		return nil, err
	}
	if opts.Parallelism <= 0 {
		opts.Parallelism = 4
	}
	if opts.Logger == nil {
		opts.Logger = hclog.NewNullLogger()
	}
	if opts.CacheDir == "" {
		opts.CacheDir = filepath.Join(opts.Dir, ".sovos", "cache")
	}
	if opts.Registry == nil {
		opts.Registry = oci.New()
	}
	a := &applier{
		p: p, opts: opts, log: opts.Logger,
		artifacts: map[string]*artifact{},
		verified:  map[string]string{},
		files:     map[string][]string{},
		rendered:  map[string]bool{},
		refs:      map[string]refTarget{},
	}
	a.index()

	// A lost lock (force-unlocked, not renewed in time, the state changed under it)
	// stops the apply: no new build starts, running ones are cancelled, no tag moves.
	held := opts.Writer.Held()
	ctx, cancelApply := context.WithCancelCause(ctx)
	defer cancelApply(nil)
	stopWatch := make(chan struct{})
	defer close(stopWatch)
	go func() {
		select {
		case <-held.Lost():
			cancelApply(held.Err())
		case <-stopWatch:
		}
	}()

	g := dag.New()
	nodes := map[string]*planner.ResourceChange{}
	for _, c := range p.Changes {
		g.Add(c.Address)
		nodes[c.Address] = c
	}
	for _, c := range p.Changes {
		for _, d := range c.DependsOn {
			if nodes[d] != nil {
				g.Connect(c.Address, d)
			}
		}
	}

	stopProgress := a.startProgress(ctx)
	results, walkErr := g.Walk(ctx, opts.Parallelism, func(ctx context.Context, addr string) error {
		start := time.Now()
		err := a.node(ctx, nodes[addr])
		a.log.Info("applied", "address", addr, "action", nodes[addr].Action, "duration", time.Since(start), "error", err)
		return err
	})
	stopProgress()

	sum := &Summary{}
	var failures []string
	if walkErr != nil {
		failures = append(failures, walkErr.Error())
	}
	failedAddrs := map[string]bool{}
	for _, r := range results {
		c := nodes[r.ID]
		nr := &NodeResult{Address: r.ID, Action: c.Action, Duration: r.Duration()}
		switch r.Status {
		case dag.Succeeded:
			nr.Outcome = outcomeOf(c.Action)
			if art := a.artifact(r.ID); art != nil && c.Action != planner.ActionForget {
				nr.Digest = art.digest
			}
			a.mu.Lock()
			nr.Files = a.files[r.ID]
			if a.rendered[r.ID] {
				nr.Outcome = Rendered
			}
			a.mu.Unlock()
		case dag.Failed:
			nr.Outcome, nr.Err = Failed, r.Err
			failures = append(failures, r.Err.Error())
		case dag.Skipped:
			nr.Outcome, nr.Err = Skipped, r.Err
		case dag.Canceled:
			nr.Outcome, nr.Err = Canceled, r.Err
		}
		if r.Status != dag.Succeeded {
			failedAddrs[r.ID] = true
		}
		sum.Resources = append(sum.Resources, nr)
	}

	sum.Renamed = a.renamed
	a.recordData(failedAddrs)
	if err := a.recordOutputs(); err != nil {
		a.log.Warn("recording outputs", "error", err)
	}

	promote := opts.Promote || p.Promote
	if promote {
		switch {
		case held.Err() != nil:
			sum.PromoteSkipped = "the state lock was lost"
		case ctx.Err() != nil:
			sum.PromoteSkipped = "the apply was interrupted"
		case len(failedAddrs) > 0 || walkErr != nil:
			sum.PromoteSkipped = "not every resource succeeded"
		default:
			promoted, err := a.promote(ctx)
			sum.Promoted = promoted
			if err != nil {
				failures = append(failures, err.Error())
			}
		}
	}

	sum.Duration = time.Since(start)
	opts.Writer.Update(func(s *state.State) { recordHistory(s.History, sum) })
	// The final write must happen even when ctx was cancelled (Ctrl-C).
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	var notTagged *state.HistoryTagError
	if err := opts.Writer.Close(wctx); errors.As(err, &notTagged) {
		failures = append(failures, notTagged.Error())
	} else if err != nil {
		saved := ""
		if s, serr := opts.Writer.State(); serr == nil {
			if path, werr := state.WriteErrored(opts.Dir, s); werr == nil {
				saved = path
			}
		}
		switch {
		case errors.Is(err, state.ErrLockLost) && saved != "":
			// Someone else may hold the lock and write the state now: pushing this
			// record over theirs would undo their apply.
			failures = append(failures, fmt.Sprintf("the state was not written, as the lock is lost; this apply's record was saved to %s for reference only: do not push it over the state of whoever holds the lock now; plan again (what this apply pushed is adopted where the state has no record of it, or rebuilt)", saved))
		case errors.Is(err, state.ErrLockLost):
			failures = append(failures, "the state was not written, as the lock is lost; plan again (what this apply pushed is adopted where the state has no record of it, or rebuilt)")
		case saved != "":
			failures = append(failures, fmt.Sprintf("the state could not be written: %v; it was saved to %s: store it with `sovos state push %s` once the backend is reachable, before anything else", err, saved, saved))
		default:
			failures = append(failures, fmt.Sprintf("the state could not be written, nor saved locally: %v", err))
		}
	}
	switch {
	case held.Err() != nil:
		failures = append([]string{fmt.Sprintf("apply stopped: %v; running builds were cancelled and no tag was promoted", held.Err())}, failures...)
	case ctx.Err() != nil:
		failures = append([]string{"apply interrupted: running builds were cancelled; what finished is recorded in the state"}, failures...)
	}
	if len(failures) > 0 {
		return sum, &Error{Messages: failures}
	}
	return sum, nil
}

// recordHistory fills the apply's history entry (SPEC §10), when the state has one:
// what was built, adopted, forgotten and promoted.
func recordHistory(h *state.History, sum *Summary) {
	if h == nil {
		return
	}
	h.Built, h.Adopted, h.Forgotten, h.Promoted = nil, nil, nil, nil
	for _, r := range sum.Resources {
		switch r.Outcome {
		case Built:
			h.Built = append(h.Built, r.Address)
		case Adopted:
			h.Adopted = append(h.Adopted, r.Address)
		case Forgotten:
			h.Forgotten = append(h.Forgotten, r.Address)
		}
	}
	for _, l := range [][]string{h.Built, h.Adopted, h.Forgotten} {
		slices.Sort(l)
	}
	for _, p := range sum.Promoted {
		if h.Promoted == nil {
			h.Promoted = map[string]string{}
		}
		h.Promoted[p.Ref] = p.Digest
	}
}

// Error is a failed apply: one message per failure.
type Error struct{ Messages []string }

func (e *Error) Error() string {
	if len(e.Messages) == 1 {
		return e.Messages[0]
	}
	return fmt.Sprintf("%d errors:\n  - %s", len(e.Messages), strings.Join(e.Messages, "\n  - "))
}

func outcomeOf(a planner.Action) Outcome {
	switch a {
	case planner.ActionCreate, planner.ActionRebuild:
		return Built
	case planner.ActionAdopt:
		return Adopted
	case planner.ActionForget:
		return Forgotten
	}
	return Unchanged
}

// index learns the recorded artifacts and every reference string resources expose.
func (a *applier) index() {
	if a.p.Prior != nil {
		for _, r := range a.p.Prior.Resources {
			art := &artifact{image: r.Image, digest: r.Digest, stages: r.Stages, attestations: maps.Clone(r.Attestations)}
			if len(r.SigningCert) > 0 {
				if cert, err := x509.ParseCertificate(r.SigningCert); err == nil {
					art.cert = cert
				} else {
					a.log.Warn("recorded signing certificate is unreadable", "address", r.Address, "error", err)
				}
			}
			a.artifacts[r.Address] = art
			if r.Verified != nil && r.Verified.OK {
				a.verified[r.Address] = r.Verified.Digest
			}
		}
	}
	for _, r := range a.p.Config.Resources {
		addr := r.Addr.String()
		switch {
		case r.Image != nil:
			a.artifacts[addr] = &artifact{image: r.Image.Ref, digest: r.Image.Digest}
		case r.Build != nil && r.Tag != "":
			a.refs[r.Build.Image+":"+r.Tag] = refTarget{addr: addr}
			for _, s := range r.Build.Stages {
				a.refs[s.Image+":"+r.Tag] = refTarget{addr: addr, target: s.Target}
			}
		case r.Profile != nil && r.Profile.Image != "" && r.Tag != "":
			a.refs[r.Profile.Image+":"+r.Tag] = refTarget{addr: addr}
		}
	}
}

// update changes the state through the Writer, finding and changing its resources
// through an index (built on first use) rather than a scan per change: recording
// 10,000 results costs O(10,000), not O(10,000²).
func (a *applier) update(fn func(*state.Index)) {
	a.opts.Writer.Update(func(s *state.State) {
		if a.recorded == nil {
			a.recorded = state.NewIndex(s)
		}
		fn(a.recorded)
	})
}

func (a *applier) artifact(addr string) *artifact {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.artifacts[addr]
}

func (a *applier) setArtifact(addr string, art *artifact) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.artifacts[addr] = art
}

// pin returns ref pinned by digest when it is a reference a sovos resource exposes
// (image:TAG -> image@digest), with the address it came from; other strings are
// returned as they are.
func (a *applier) pin(ref string) (string, string, error) {
	rt, ok := a.refs[ref]
	if !ok {
		return ref, "", nil
	}
	art := a.artifact(rt.addr)
	if art == nil || art.digest == "" {
		return "", rt.addr, fmt.Errorf("%s has no recorded digest for %s; apply it first", rt.addr, ref)
	}
	if rt.target == "" {
		return art.image + "@" + art.digest, rt.addr, nil
	}
	st := art.stages[rt.target]
	if st == nil || st.Digest == "" {
		return "", rt.addr, fmt.Errorf("%s has no recorded digest for its stage %q (%s); apply it first", rt.addr, rt.target, ref)
	}
	return st.Image + "@" + st.Digest, rt.addr, nil
}

// builder returns the builder a resource is routed to.
func (a *applier) builder(ctx context.Context, name string) (Builder, error) {
	if name == "" {
		name = "default"
	}
	if a.opts.Builders == nil {
		return nil, errors.New("no builder configured")
	}
	return a.opts.Builders(ctx, name)
}

// startProgress runs one progressui display for every build of the apply. The driver
// prefixes each vertex with its resource address, so concurrent builds stay readable.
func (a *applier) startProgress(ctx context.Context) func() {
	a.status = make(chan *client.SolveStatus)
	done := make(chan struct{})
	mode := progressui.DisplayMode(a.opts.ProgressMode)
	if mode == "" {
		mode = progressui.AutoMode
	}
	var disp progressui.Display
	var err error
	if a.opts.Progress != nil {
		disp, err = progressui.NewDisplay(a.opts.Progress, mode)
		if err != nil && mode == progressui.TtyMode {
			// -progress=tty without a terminal: plain lines rather than nothing.
			disp, err = progressui.NewDisplay(a.opts.Progress, progressui.PlainMode)
		}
		if err != nil {
			a.log.Warn("progress display unavailable", "error", err)
		}
	}
	go func() {
		defer close(done)
		if a.opts.Progress == nil || err != nil {
			for range a.status {
			}
			return
		}
		// The display must see the channel closed, not the context cancelled, to
		// print the final state of interrupted builds.
		if _, err := disp.UpdateFrom(context.WithoutCancel(ctx), a.status); err != nil {
			a.log.Debug("progress display", "error", err)
		}
		for range a.status {
		}
	}()
	return func() {
		close(a.status)
		<-done
	}
}

// dependencyDigests returns what r consumed: each upstream build or image and its digest.
// A dependency only the untaken branch of a conditional names is not recorded (SPEC §2).
func (a *applier) dependencyDigests(r *config.Resource) map[string]string {
	out := map[string]string{}
	deps := r.Consumes
	if deps == nil { // a configuration not built by the evaluator
		deps = r.DependsOn
	}
	for _, d := range deps {
		if d.Type == config.TypeSource {
			continue
		}
		if art := a.artifact(d.String()); art != nil && art.digest != "" {
			out[d.String()] = art.digest
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}
