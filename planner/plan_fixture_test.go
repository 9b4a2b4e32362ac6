package planner

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"

	"github.com/urmanac/sovos/config"
	"github.com/urmanac/sovos/hashing"
	"github.com/urmanac/sovos/state"
)

// The planner is tested on hand-built evaluated configurations: the evaluator and the
// real hasher are other packages' business. fakeHash stands in for ResourceHash: any
// change of type, platform, attributes or a dependency's hash changes it.
func fakeHash(r *config.Resource, deps map[string]string) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00", r.Addr.Type, r.Platform)
	names := make([]string, 0, len(r.HashedAttrs))
	for n := range r.HashedAttrs {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		v, _ := r.HashedAttrs[n].UnmarkDeep()
		b, _ := appendRecorded(nil, v)
		fmt.Fprintf(h, "%s=%s\x00", n, b)
	}
	dn := make([]string, 0, len(deps))
	for d := range deps {
		dn = append(dn, d)
	}
	sort.Strings(dn)
	for _, d := range dn {
		fmt.Fprintf(h, "%s:%s\x00", d, deps[d])
	}
	return hex.EncodeToString(h.Sum(nil))
}

// cfgBuilder builds a config.Config resource by resource, in dependency order.
type cfgBuilder struct {
	registry string
	cfg      *config.Config
	byAddr   map[string]*config.Resource
}

func newCfg(registry string) *cfgBuilder {
	return &cfgBuilder{
		registry: registry,
		cfg: &config.Config{
			Dir:   "/work/cfg",
			Files: map[string]*hcl.File{"main.sovos.hcl": {Bytes: []byte("# test\n")}},
			Settings: config.Settings{
				State: config.StateSettings{Workspace: "main"},
			},
			Builders: map[string]*config.Builder{"arm64": {Name: "arm64", Platforms: []string{"linux/arm64"}}},
		},
		byAddr: map[string]*config.Resource{},
	}
}

func (b *cfgBuilder) add(r *config.Resource) *config.Resource {
	b.cfg.Resources = append(b.cfg.Resources, r)
	b.byAddr[r.Addr.String()] = r
	return r
}

func addr(s string) config.Address {
	a, err := config.ParseAddress(s)
	if err != nil {
		panic(err)
	}
	return a
}

func (b *cfgBuilder) gitSource(name, commit string) *config.Resource {
	return b.add(&config.Resource{
		Addr:        config.Address{Type: config.TypeSource, Name: name},
		Source:      &config.SourceSpec{Git: "https://example.com/" + name + ".git", Commit: commit},
		HashedAttrs: map[string]cty.Value{"commit": cty.StringVal(commit)},
		Hash:        sha(commit),
	})
}

func (b *cfgBuilder) pathSource(name, content string) *config.Resource {
	return b.add(&config.Resource{
		Addr:        config.Address{Type: config.TypeSource, Name: name},
		Source:      &config.SourceSpec{Path: "/work/cfg/" + name},
		HashedAttrs: map[string]cty.Value{},
		Hash:        sha(content),
	})
}

func (b *cfgBuilder) image(name, digest string) *config.Resource {
	return b.add(&config.Resource{
		Addr:        config.Address{Type: config.TypeImage, Name: name},
		Image:       &config.ImageSpec{Ref: "ghcr.io/siderolabs/" + name + ":v1", Digest: digest},
		HashedAttrs: map[string]cty.Value{},
	})
}

// hashOf is what a dependency contributes to hashes, as in the evaluator: its hash, or
// an image's digest.
func (b *cfgBuilder) hashOf(addr string) string {
	r := b.byAddr[addr]
	if r.Image != nil {
		return r.Image.Digest
	}
	return r.Hash
}

// build adds a kernel/extension/installer. attrs may be nil; src is the source address;
// kernel (optional) the kernel address; extra deps are plain dependencies.
func (b *cfgBuilder) build(address, src string, attrs map[string]cty.Value, kernel string, tags ...string) *config.Resource {
	a := addr(address)
	r := &config.Resource{
		Addr:     a,
		Platform: "linux/arm64",
		Builder:  "arm64",
		Build: &config.BuildSpec{
			Source: addr(src),
			Image:  b.registry + "/" + a.Type + "-" + a.Name,
			Tags:   tags,
		},
		HashedAttrs: map[string]cty.Value{"dockerfile": cty.StringVal("Dockerfile")},
	}
	for k, v := range attrs {
		r.HashedAttrs[k] = v
	}
	r.DependsOn = append(r.DependsOn, addr(src))
	r.HashedAttrs["source"] = cty.StringVal(b.byAddr[src].Hash)
	if kernel != "" {
		k := addr(kernel)
		r.Build.Kernel = &k
		r.DependsOn = append(r.DependsOn, k)
		r.HashedAttrs["kernel"] = cty.StringVal(b.byAddr[kernel].Hash)
	}
	return b.add(b.hash(r))
}

func (b *cfgBuilder) profile(address string, deps ...string) *config.Resource {
	a := addr(address)
	r := &config.Resource{
		Addr:     a,
		Platform: "linux/arm64",
		Profile: &config.ProfileSpec{
			Arch: "arm64", Platform: "metal", Version: "v1.13.3",
			Image: b.registry + "/profile-" + a.Name,
			Tags:  []string{"v1.13.3"},
		},
		HashedAttrs: map[string]cty.Value{"arch": cty.StringVal("arm64")},
	}
	var refs []cty.Value
	for _, d := range deps {
		r.DependsOn = append(r.DependsOn, addr(d))
		refs = append(refs, cty.StringVal(b.hashOf(d)))
	}
	if len(refs) > 0 {
		r.HashedAttrs["inputs"] = cty.ListVal(refs)
	}
	return b.add(b.hash(r))
}

func (b *cfgBuilder) hash(r *config.Resource) *config.Resource {
	deps := map[string]string{}
	for _, d := range r.DependsOn {
		deps[d.String()] = b.hashOf(d.String())
	}
	r.Hash = fakeHash(r, deps)
	r.Tag = hashing.ContentTag(r.Hash)
	return r
}

func sha(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// standard is the motivating configuration: a custom kernel, an extension and an
// installer built on it, a custom profile, and an upstream profile next to it.
// Changing the parameters yields the same graph with one thing changed.
type standardParams struct {
	pkgsCommit, extContent, kernelVersion, baseDigest string
	secret                                            cty.Value
}

func defaultParams() standardParams {
	return standardParams{
		pkgsCommit:    "0123abcd" + strings.Repeat("0", 32),
		extContent:    "hailort v5.0",
		kernelVersion: "6.12.40",
		baseDigest:    "sha256:" + strings.Repeat("b", 64),
		secret:        cty.StringVal("hunter2").Mark(config.MarkSensitive),
	}
}

func standard(registry string, p standardParams) *config.Config {
	b := newCfg(registry)
	b.gitSource("pkgs", p.pkgsCommit)
	b.pathSource("ext", p.extContent)
	b.gitSource("talos", "fedcba98"+strings.Repeat("0", 32))
	b.image("upstream_installer", p.baseDigest)
	b.build("kernel.sovereign", "source.pkgs", map[string]cty.Value{
		"args": cty.MapVal(map[string]cty.Value{"KERNEL_VERSION": cty.StringVal(p.kernelVersion)}),
		"key":  p.secret,
	}, "", "5.3.0-v1.13.3", "5.3.0")
	b.build("extension.hailort", "source.ext", nil, "kernel.sovereign", "5.3.0")
	b.build("installer.sovereign", "source.talos", nil, "kernel.sovereign")
	b.profile(`profile.talos["cm5-hailo10h"]`, "installer.sovereign", "extension.hailort")
	b.profile(`profile.talos["cm4-standard"]`, "image.upstream_installer")
	return b.cfg
}

// applied is the state an apply of every resource of cfg would record, as the executor
// does (inputs from RecordedInputs, built_from from the dependencies' digests).
func applied(t testing.TB, cfg *config.Config, promote bool) *state.State {
	t.Helper()
	return appliedWith(t, cfg, promote, nil)
}

// appliedWith is applied with the digests of some builds given (those really pushed).
func appliedWith(t testing.TB, cfg *config.Config, promote bool, pushed map[string]string) *state.State {
	t.Helper()
	s := &state.State{Version: state.Version, Lineage: "0b7e0b6c-7a55-4c2d-9a7e-2f1d6a4c9e10", Serial: 1, SovosVersion: "0.1.0", Workspace: "main"}
	digests := map[string]string{}
	for _, r := range cfg.Resources {
		in, err := RecordedInputs(r)
		if err != nil {
			t.Fatal(err)
		}
		sr := &state.Resource{Address: r.Addr.String(), Type: r.Addr.Type, Hash: r.Hash, Inputs: in}
		switch {
		case r.Image != nil:
			sr.Hash, sr.Digest = hashing.ImageHash(r.Image.Digest), r.Image.Digest
		case r.Source != nil:
		default:
			sr.Tag, sr.Image = r.Tag, imageOf(r)
			sr.Digest = "sha256:" + sha("built "+r.Hash)
			if d, ok := pushed[sr.Address]; ok {
				sr.Digest = d
			}
			sr.BuiltFrom = map[string]string{}
			for _, d := range r.DependsOn {
				if dg := digests[d.String()]; dg != "" {
					sr.BuiltFrom[d.String()] = dg
				}
			}
			if promote {
				sr.Tags = map[string]string{}
				for _, tag := range stableTags(r) {
					sr.Tags[tag] = sr.Digest
				}
			}
		}
		digests[sr.Address] = sr.Digest
		s.Resources = append(s.Resources, sr)
	}
	return s
}
