// Package gc finds and deletes the artifacts sovos built that nothing keeps (SPEC §10
// `sovos gc`): content-tagged artifacts (dev.sovos.hash, on the manifest or the index)
// in a configuration's repositories that no kept state refers to, that no other tag
// points at, and that are old enough. Each goes with its stages (the artifacts of the
// same hash) and with what refers to it: signatures, attestations, the kernel's
// certificate, and the sha256-<hex> tags of the referrers fallback. Nothing without
// the annotation is ever a candidate.
package gc

import (
	"cmp"
	"context"
	"fmt"
	"regexp"
	"slices"
	"sync"
	"time"

	"github.com/urmanac/sovos/hashing"
	"github.com/urmanac/sovos/internal/oci"
	"github.com/urmanac/sovos/state"
)

// AnnotationHash is the annotation that makes an artifact sovos's own
// (hashing.AnnotationHash).
const AnnotationHash = hashing.AnnotationHash

// AnnotationCreated is the standard OCI annotation of when an artifact was made; sovos
// sets it on what it pushes, and gc reads it for -min-age.
const AnnotationCreated = "org.opencontainers.image.created"

// Keep is why the kept states keep each digest: digest -> "workspace main (serial 7)".
type Keep map[string]string

// AddState adds every digest s refers to: each resource's artifact, stages, stable tags'
// digests, the upstream digests it was built from, its verified and attestation digests.
func (k Keep) AddState(s *state.State, why string) {
	if s == nil {
		return
	}
	add := func(d string) {
		if d != "" && k[d] == "" {
			k[d] = why
		}
	}
	for _, r := range s.Resources {
		add(r.Digest)
		for _, st := range r.Stages {
			add(st.Digest)
		}
		for _, d := range r.Tags {
			add(d)
		}
		for _, d := range r.BuiltFrom {
			add(d)
		}
		for _, d := range r.Attestations {
			add(d)
		}
		if r.Verified != nil {
			add(r.Verified.Digest)
		}
	}
}

// Request is one collection.
type Request struct {
	Registry *oci.Client
	// Repositories are the configuration's repositories: where its builds, their stages
	// and its profiles are pushed.
	Repositories []string
	// Keep holds what the kept states refer to.
	Keep Keep
	// MinAge keeps what is younger (or whose age is unknown, unless MinAge is 0).
	MinAge time.Duration
	// Now is the time ages are measured from (time.Now when zero).
	Now time.Time
}

// Artifact is one content-tagged artifact.
type Artifact struct {
	Repository, Tag, Digest string
	// Hash is its dev.sovos.hash; its content tag is the first 16 characters.
	Hash string
	// Created is when it was made (zero when unknown).
	Created time.Time
	// With are what is deleted with it, before it: its referrers (and theirs), and the
	// manifests of its sha256-<hex> fallback tags, as repository@digest.
	With []string
}

// Ref is the artifact as repository:tag@digest.
func (a *Artifact) Ref() string { return a.Repository + ":" + a.Tag + "@" + a.Digest }

// Manifest is the artifact as repository@digest: what is deleted.
func (a *Artifact) Manifest() string { return a.Repository + "@" + a.Digest }

// Group is one build: the artifacts of one hash (a build's image and its stages).
type Group struct {
	Hash      string
	Artifacts []*Artifact
}

// Kept is an artifact gc leaves, and why.
type Kept struct {
	Artifact *Artifact
	// Kind is KeptByState, KeptByTag, KeptYoung or KeptAgeUnknown (for the first member
	// of the group that keeps it); Why says it for a person.
	Kind, Why string
}

// Why an artifact is kept.
const (
	KeptByState    = "state"
	KeptByTag      = "tag"
	KeptYoung      = "young"
	KeptAgeUnknown = "age_unknown"
)

// Plan is what a collection deletes and keeps.
type Plan struct {
	Delete []*Group
	Kept   []Kept
	// Repositories are those scanned that exist.
	Repositories []string
}

// Refs lists every manifest the plan deletes, in deletion order (what refers to an
// artifact before the artifact), as repository@digest.
func (p *Plan) Refs() []string {
	var out []string
	for _, g := range p.Delete {
		for _, a := range g.Artifacts {
			out = append(out, a.With...)
			out = append(out, a.Manifest())
		}
	}
	return out
}

// Count returns the number of artifacts to delete (stages included, referrers not).
func (p *Plan) Count() int {
	n := 0
	for _, g := range p.Delete {
		n += len(g.Artifacts)
	}
	return n
}

var (
	// contentTagRE is a content tag's shape (SPEC §4: 16 hex characters).
	contentTagRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[0-9a-f]{16}$`) })
	// fallbackTagRE is a referrers fallback tag (OCI tag schema) or a cosign tag
	// (sha256-<hex>.sig/.att): never an artifact, deleted with its subject.
	fallbackTagRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^sha256-[0-9a-f]{64}`) })
)

// MakePlan scans the repositories and decides. It changes nothing.
func MakePlan(ctx context.Context, req Request) (*Plan, error) {
	if req.Now.IsZero() {
		req.Now = time.Now()
	}
	p := &Plan{}
	var all []*Artifact
	protected := map[string]string{} // repository@digest -> the other tag on it
	tagsOf := map[string][]string{}  // repository -> its tags
	for _, repo := range compact(req.Repositories) {
		sc, err := scan(ctx, req.Registry, repo)
		if err != nil {
			return nil, err
		}
		if sc == nil {
			continue
		}
		p.Repositories = append(p.Repositories, repo)
		all = append(all, sc.artifacts...)
		for d, t := range sc.others {
			protected[repo+"@"+d] = t
		}
		tagsOf[repo] = sc.tags
	}
	groups := map[string]*Group{}
	var order []string
	for _, a := range all {
		g := groups[a.Hash]
		if g == nil {
			g = &Group{Hash: a.Hash}
			groups[a.Hash] = g
			order = append(order, a.Hash)
		}
		g.Artifacts = append(g.Artifacts, a)
	}
	for _, h := range order {
		g := groups[h]
		kind, why := "", ""
		for _, a := range g.Artifacts {
			if kind, why = keepReason(req, a, protected); kind != "" {
				if len(g.Artifacts) > 1 {
					why = fmt.Sprintf("%s (%s)", why, a.Ref())
				}
				break
			}
		}
		if kind != "" {
			for _, a := range g.Artifacts {
				p.Kept = append(p.Kept, Kept{Artifact: a, Kind: kind, Why: why})
			}
			continue
		}
		for _, a := range g.Artifacts {
			with, err := dependents(ctx, req.Registry, a, tagsOf[a.Repository])
			if err != nil {
				return nil, err
			}
			a.With = with
		}
		p.Delete = append(p.Delete, g)
	}
	slices.SortFunc(p.Delete, func(a, b *Group) int { return cmp.Compare(a.Artifacts[0].Ref(), b.Artifacts[0].Ref()) })
	slices.SortFunc(p.Kept, func(a, b Kept) int { return cmp.Compare(a.Artifact.Ref(), b.Artifact.Ref()) })
	return p, nil
}

// keepReason says why a is kept (its kind, and in words); "" when nothing keeps it.
func keepReason(req Request, a *Artifact, protected map[string]string) (string, string) {
	if why := req.Keep[a.Digest]; why != "" {
		return KeptByState, "referred to by " + why
	}
	if t := protected[a.Repository+"@"+a.Digest]; t != "" {
		return KeptByTag, "tagged " + t
	}
	if req.MinAge > 0 {
		if a.Created.IsZero() {
			return KeptAgeUnknown, "its age is unknown (-min-age=0 collects it anyway)"
		}
		if age := req.Now.Sub(a.Created); age < req.MinAge {
			return KeptYoung, fmt.Sprintf("younger than %s (made %s)", req.MinAge, a.Created.UTC().Format(time.RFC3339))
		}
	}
	return "", ""
}

func compact(repos []string) []string {
	out := slices.Clone(repos)
	slices.Sort(out)
	return slices.Compact(out)
}

// scanned is one repository's tags, split into content-tagged artifacts and the
// digests other tags point at.
type scanned struct {
	tags      []string
	artifacts []*Artifact
	others    map[string]string // digest -> a tag that is not its content tag
}

// scan reads every tag of repo: nil when the repository does not exist.
func scan(ctx context.Context, reg *oci.Client, repo string) (*scanned, error) {
	r, err := reg.NewRepository(repo)
	if err != nil {
		return nil, fmt.Errorf("repository %q: %w", repo, err)
	}
	pl, err := reg.NewPuller(ctx)
	if err != nil {
		return nil, err
	}
	tags, err := pl.List(ctx, r)
	if oci.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("listing the tags of %s: %w", repo, oci.Explain(err))
	}
	sc := &scanned{tags: tags, others: map[string]string{}}
	var mu sync.Mutex
	sem := make(chan struct{}, 8)
	errs := make([]error, len(tags))
	var wg sync.WaitGroup
	for i, t := range tags {
		if fallbackTagRE().MatchString(t) {
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			a, d, err := readTag(ctx, reg, repo, t)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil:
				errs[i] = err
			case a != nil:
				sc.artifacts = append(sc.artifacts, a)
			case d != "":
				if sc.others[d] == "" || t < sc.others[d] {
					sc.others[d] = t
				}
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	slices.SortFunc(sc.artifacts, func(a, b *Artifact) int { return cmp.Compare(a.Tag, b.Tag) })
	return sc, nil
}

// join names repository@digest.
func join(repo, digest string) string { return repo + "@" + digest }
