package planner

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/urmanac/sovos/bootmedia"
	"github.com/urmanac/sovos/internal/oci"
)

// registryView is what the plan learned from the registry: the tags of every repository
// it needed, and the manifests of the adopt candidates.
type registryView struct {
	// tags maps a repository (as written in the configuration) to its tag set.
	tags map[string]map[string]bool
	// manifests maps "repo:tag" to what its manifest says.
	manifests map[string]manifestInfo
	// certs holds the "repo:tag" of the kernel adopt candidates whose manifest has its
	// signing-certificate artifact (CertArtifactType) among its referrers.
	certs map[string]bool
}

type manifestInfo struct {
	digest       string
	hash         string // the dev.sovos.hash annotation
	address      string // the dev.sovos.address annotation (a profile's boot media or installer image)
	artifactType string
}

// has reports whether repo:tag exists.
func (v *registryView) has(repo, tag string) bool {
	return v.tags[repo][tag]
}

// refresher talks to registries for one plan. It authenticates once per registry, with
// one token covering every repository the plan reads there, so a repository costs its
// tags/list and nothing else (go-containerregistry would otherwise ping and authenticate
// again for each repository).
type refresher struct {
	client  *oci.Client
	jobs    int
	mu      sync.Mutex
	pullers map[string]*remote.Puller // by registry
}

func newRefresher(opts Options) *refresher {
	jobs := opts.Concurrency
	if jobs <= 0 {
		jobs = 16
	}
	c := opts.Registry
	if c == nil {
		c = oci.New()
	}
	return &refresher{client: c, jobs: jobs, pullers: map[string]*remote.Puller{}}
}

// connect authenticates to every registry holding one of repos (concurrently), scoped to
// pull from all of those repositories.
func (rf *refresher) connect(ctx context.Context, repos []string) error {
	scopes := map[string][]string{}
	regs := map[string]name.Registry{}
	for _, s := range repos {
		r, err := rf.client.NewRepository(s)
		if err != nil {
			return fmt.Errorf("image repository %q: %w", s, err)
		}
		key := r.RegistryStr()
		regs[key] = r.Registry
		scopes[key] = append(scopes[key], r.Scope(transport.PullScope))
	}
	keys := make([]string, 0, len(regs))
	for k := range regs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return rf.each(ctx, keys, func(ctx context.Context, key string) error {
		p, err := rf.client.Connect(ctx, regs[key], scopes[key])
		if err != nil {
			return err
		}
		rf.mu.Lock()
		rf.pullers[key] = p
		rf.mu.Unlock()
		return nil
	})
}

func (rf *refresher) puller(reg string) *remote.Puller {
	rf.mu.Lock()
	defer rf.mu.Unlock()
	return rf.pullers[reg]
}

// listTags fetches the tag list of every repository, concurrently: one tags/list per
// repository (plus its pages), however many resources push there.
func (rf *refresher) listTags(ctx context.Context, repos []string) (map[string]map[string]bool, error) {
	out := make(map[string]map[string]bool, len(repos))
	var mu sync.Mutex
	err := rf.each(ctx, repos, func(ctx context.Context, repo string) error {
		r, err := rf.client.NewRepository(repo)
		if err != nil {
			return fmt.Errorf("image repository %q: %w", repo, err)
		}
		p := rf.puller(r.RegistryStr())
		if p == nil {
			return fmt.Errorf("listing the tags of %s: not connected to %s", repo, r.RegistryStr())
		}
		tags, err := p.List(ctx, r)
		if err != nil && !oci.IsNotFound(err) {
			return fmt.Errorf("listing the tags of %s: %w", repo, oci.Explain(err))
		}
		set := make(map[string]bool, len(tags))
		for _, t := range tags {
			set[t] = true
		}
		mu.Lock()
		out[repo] = set
		mu.Unlock()
		return nil
	})
	return out, err
}

// manifests GETs the manifests of refs ("repo:tag") concurrently and reads their digest
// and dev.sovos.hash annotation. A ref that vanished in between is left out.
func (rf *refresher) manifests(ctx context.Context, refs []string) (map[string]manifestInfo, error) {
	out := make(map[string]manifestInfo, len(refs))
	var mu sync.Mutex
	err := rf.each(ctx, refs, func(ctx context.Context, s string) error {
		ref, err := rf.client.ParseReference(s)
		if err != nil {
			return fmt.Errorf("image reference %q: %w", s, err)
		}
		p := rf.puller(ref.Context().RegistryStr())
		if p == nil {
			return fmt.Errorf("reading the manifest of %s: not connected to %s", s, ref.Context().RegistryStr())
		}
		desc, err := p.Get(ctx, ref)
		if err != nil {
			if oci.IsNotFound(err) {
				return nil
			}
			return fmt.Errorf("reading the manifest of %s: %w", s, oci.Explain(err))
		}
		var m struct {
			ArtifactType string            `json:"artifactType"`
			Annotations  map[string]string `json:"annotations"`
		}
		// An unparsable manifest simply has no sovos annotation: it cannot be adopted.
		_ = json.Unmarshal(desc.Manifest, &m)
		mu.Lock()
		out[s] = manifestInfo{digest: desc.Digest.String(), hash: m.Annotations[AnnotationHash],
			address: m.Annotations[bootmedia.AnnotationAddress], artifactType: m.ArtifactType}
		mu.Unlock()
		return nil
	})
	return out, err
}

// each runs fn on every item with at most rf.jobs at a time, and returns the first error
// (in item order, so messages are deterministic).
func (rf *refresher) each(ctx context.Context, items []string, fn func(context.Context, string) error) error {
	errs := make([]error, len(items))
	sem := make(chan struct{}, rf.jobs)
	var wg sync.WaitGroup
	for i, it := range items {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			errs[i] = fn(ctx, it)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// refreshRequest collects what a plan needs from the registry.
type refreshRequest struct {
	repos      map[string]bool
	candidates map[string]bool // "repo:tag" whose manifest must be read (adopt)
	certs      map[string]bool // candidates that need a signing certificate (kernels)
}

func (q *refreshRequest) repo(r string) {
	if r != "" {
		q.repos[r] = true
	}
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// refresh asks the registry: first every repository's tags at once, then the manifests of
// the adopt candidates whose tag exists, concurrently.
func refresh(ctx context.Context, opts Options, q *refreshRequest) (*registryView, error) {
	view := &registryView{tags: map[string]map[string]bool{}, manifests: map[string]manifestInfo{}}
	if len(q.repos) == 0 {
		return view, nil
	}
	rf := newRefresher(opts)
	repos := sortedKeys(q.repos)
	if err := rf.connect(ctx, repos); err != nil {
		return nil, fmt.Errorf("%w (or run with -refresh=false to plan without asking the registry)", err)
	}
	var err error
	if view.tags, err = rf.listTags(ctx, repos); err != nil {
		return nil, fmt.Errorf("%w (or run with -refresh=false to plan without asking the registry)", err)
	}
	var refs []string
	for _, ref := range sortedKeys(q.candidates) {
		i := strings.LastIndexByte(ref, ':')
		if view.has(ref[:i], ref[i+1:]) {
			refs = append(refs, ref)
		}
	}
	if view.manifests, err = rf.manifests(ctx, refs); err != nil {
		return nil, fmt.Errorf("%w (or run with -refresh=false to plan without asking the registry)", err)
	}
	var kernels []string
	for _, ref := range sortedKeys(q.certs) {
		if _, ok := view.manifests[ref]; ok {
			kernels = append(kernels, ref)
		}
	}
	if view.certs, err = rf.certificates(ctx, kernels, view.manifests); err != nil {
		return nil, fmt.Errorf("%w (or run with -refresh=false to plan without asking the registry)", err)
	}
	return view, nil
}

// certificates reports which of refs (kernels found in the registry) have their
// signing-certificate artifact among the referrers of their manifest.
func (rf *refresher) certificates(ctx context.Context, refs []string, manifests map[string]manifestInfo) (map[string]bool, error) {
	out := make(map[string]bool, len(refs))
	var mu sync.Mutex
	err := rf.each(ctx, refs, func(ctx context.Context, s string) error {
		ref, err := rf.client.ParseReference(s)
		if err != nil {
			return fmt.Errorf("image reference %q: %w", s, err)
		}
		d := ref.Context().Digest(manifests[s].digest)
		idx, err := rf.client.Referrers(ctx, d)
		if oci.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("looking for the signing certificate of %s: %w", s, err)
		}
		im, err := idx.IndexManifest()
		if err != nil {
			return fmt.Errorf("looking for the signing certificate of %s: %w", s, err)
		}
		for _, m := range im.Manifests {
			if m.ArtifactType == CertArtifactType {
				mu.Lock()
				out[s] = true
				mu.Unlock()
				break
			}
		}
		return nil
	})
	return out, err
}
