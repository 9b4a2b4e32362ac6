package gc

import (
	"context"
	"errors"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/urmanac/sovos/internal/oci"
	"github.com/urmanac/sovos/internal/testenv"
)

var (
	now = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	old = now.Add(-72 * time.Hour)
)

// fixture is a registry holding two repositories of sovos artifacts, their referrers,
// hand-made tags and an image of someone else's.
type fixture struct {
	reg             *oci.Client
	kernel, modules string
	digests         map[string]string // name -> digest
	hashes          map[string]string // name -> hash
}

func hashOf(c byte) string { return strings.Repeat(string(c), 64) }

func (f *fixture) push(t *testing.T, name, repo, tag, hash string, created time.Time, onIndex bool) string {
	t.Helper()
	ctx := context.Background()
	img, err := random.Image(64, 1)
	if err != nil {
		t.Fatal(err)
	}
	if !created.IsZero() {
		if img, err = mutate.CreatedAt(img, v1.Time{Time: created}); err != nil {
			t.Fatal(err)
		}
	}
	ref, err := f.reg.NewTag(repo + ":" + tag)
	if err != nil {
		t.Fatal(err)
	}
	var dig v1.Hash
	if onIndex {
		// BuildKit with provenance: an index, the hash annotation on the index.
		idx := mutate.AppendManifests(empty.Index, mutate.IndexAddendum{Add: img,
			Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "arm64"}}})
		idx = mutate.Annotations(idx, map[string]string{AnnotationHash: hash}).(v1.ImageIndex)
		idx = mutate.IndexMediaType(idx, types.OCIImageIndex)
		if err := remote.WriteIndex(ref, idx, f.reg.Options(ctx)...); err != nil {
			t.Fatal(err)
		}
		dig, _ = idx.Digest()
	} else {
		if hash != "" {
			img = mutate.Annotations(img, map[string]string{AnnotationHash: hash}).(v1.Image)
		}
		if err := f.reg.Write(ctx, ref, img); err != nil {
			t.Fatal(err)
		}
		dig, _ = img.Digest()
	}
	f.digests[name], f.hashes[name] = dig.String(), hash
	return dig.String()
}

// refer pushes a signature-like artifact referring to repo@subject, as a referrer (the
// registry has no referrers API: go-containerregistry keeps the sha256-<hex> index).
func (f *fixture) refer(t *testing.T, name, repo, subject string) string {
	t.Helper()
	img, err := random.Image(16, 1)
	if err != nil {
		t.Fatal(err)
	}
	d, err := f.reg.NewDigest(repo + "@" + subject)
	if err != nil {
		t.Fatal(err)
	}
	desc, err := f.reg.Head(context.Background(), d)
	if err != nil {
		t.Fatal(err)
	}
	img = mutate.Subject(mutate.MediaType(mutate.ConfigMediaType(img, "application/vnd.dev.cosign.artifact.sig.v1+json"), types.OCIManifestSchema1), *desc).(v1.Image)
	dig, _ := img.Digest()
	ref, _ := f.reg.NewDigest(repo + "@" + dig.String())
	if err := f.reg.Write(context.Background(), ref, img); err != nil {
		t.Fatal(err)
	}
	f.digests[name] = dig.String()
	return dig.String()
}

func (f *fixture) exists(t *testing.T, repo, digest string) bool {
	t.Helper()
	d, _ := f.reg.NewDigest(repo + "@" + digest)
	_, err := f.reg.Head(context.Background(), d)
	if err != nil && !oci.IsNotFound(err) {
		t.Fatal(err)
	}
	return err == nil
}

func newFixture(t *testing.T, wrap ...func(http.Handler) http.Handler) *fixture {
	host := testenv.MemRegistry(t, wrap...)
	f := &fixture{
		reg:     oci.New(oci.WithInsecure(host), oci.WithKeychain(authn.NewMultiKeychain())),
		kernel:  host + "/f/kernel",
		modules: host + "/f/modules",
		digests: map[string]string{}, hashes: map[string]string{},
	}
	// A build nothing keeps, with its stage and a signature: deleted together.
	f.push(t, "gone", f.kernel, hashOf('1')[:16], hashOf('1'), old, false)
	f.push(t, "gone-stage", f.modules, hashOf('1')[:16], hashOf('1'), old, false)
	f.refer(t, "gone-sig", f.kernel, f.digests["gone"])
	// One an index carries the hash of (BuildKit with provenance).
	f.push(t, "gone-index", f.kernel, hashOf('2')[:16], hashOf('2'), old, true)
	// One the state keeps, through its stage.
	f.push(t, "kept", f.kernel, hashOf('3')[:16], hashOf('3'), old, false)
	f.push(t, "kept-stage", f.modules, hashOf('3')[:16], hashOf('3'), old, false)
	// One a stable tag points at, and one a person tagged.
	f.push(t, "stable", f.kernel, hashOf('4')[:16], hashOf('4'), old, false)
	f.tag(t, f.kernel, "stable", f.digests["stable"])
	f.push(t, "handmade", f.modules, hashOf('5')[:16], hashOf('5'), old, false)
	f.tag(t, f.modules, "debug-me", f.digests["handmade"])
	// One too young, and one of unknown age.
	f.push(t, "young", f.kernel, hashOf('6')[:16], hashOf('6'), now.Add(-time.Hour), false)
	f.push(t, "ageless", f.kernel, hashOf('7')[:16], hashOf('7'), time.Time{}, false)
	// Not sovos's: no annotation, or a hash whose content tag is not this tag.
	f.push(t, "foreign", f.kernel, "0123456789abcdef", "", old, false)
	f.push(t, "misnamed", f.kernel, "89abcdef01234567", hashOf('8'), old, false)
	return f
}

func (f *fixture) tag(t *testing.T, repo, tag, digest string) {
	t.Helper()
	d, _ := f.reg.NewDigest(repo + "@" + digest)
	desc, err := f.reg.Get(context.Background(), d)
	if err != nil {
		t.Fatal(err)
	}
	ref, _ := f.reg.NewTag(repo + ":" + tag)
	if err := f.reg.Tag(context.Background(), ref, desc); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) request() Request {
	return Request{
		Registry:     f.reg,
		Repositories: []string{f.kernel, f.modules, f.kernel, f.kernel + "-never-pushed"},
		Keep:         Keep{f.digests["kept-stage"]: "workspace main's state (serial 4)"},
		MinAge:       24 * time.Hour,
		Now:          now,
	}
}

func TestPlanAndDelete(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	p, err := MakePlan(ctx, f.request())
	if err != nil {
		t.Fatal(err)
	}
	var del []string
	for _, g := range p.Delete {
		for _, a := range g.Artifacts {
			del = append(del, a.Repository+":"+a.Tag)
		}
	}
	wantDel := []string{f.kernel + ":" + hashOf('1')[:16], f.modules + ":" + hashOf('1')[:16], f.kernel + ":" + hashOf('2')[:16]}
	slices.Sort(del)
	slices.Sort(wantDel)
	if !slices.Equal(del, wantDel) {
		t.Errorf("to delete %v\n      want %v", del, wantDel)
	}
	if p.Count() != 3 {
		t.Errorf("Count = %d", p.Count())
	}
	kept := map[string]string{}
	for _, k := range p.Kept {
		kept[k.Artifact.Repository+":"+k.Artifact.Tag] = k.Kind
	}
	wantKept := map[string]string{
		f.kernel + ":" + hashOf('3')[:16]:  KeptByState, // through its stage
		f.modules + ":" + hashOf('3')[:16]: KeptByState,
		f.kernel + ":" + hashOf('4')[:16]:  KeptByTag,
		f.modules + ":" + hashOf('5')[:16]: KeptByTag,
		f.kernel + ":" + hashOf('6')[:16]:  KeptYoung,
		f.kernel + ":" + hashOf('7')[:16]:  KeptAgeUnknown,
	}
	if !maps.Equal(kept, wantKept) {
		t.Errorf("kept %v\n want %v", kept, wantKept)
	}
	if len(p.Repositories) != 2 {
		t.Errorf("repositories %v: the one never pushed to is skipped, the duplicate counted once", p.Repositories)
	}
	// The signature goes with its subject, before it, and so does its fallback index.
	refs := p.Refs()
	sig := f.kernel + "@" + f.digests["gone-sig"]
	subject := f.kernel + "@" + f.digests["gone"]
	si, su := slices.Index(refs, sig), slices.Index(refs, subject)
	if si < 0 || su < 0 || si > su {
		t.Errorf("deletion order %v: want the signature before its subject", refs)
	}
	if len(refs) != 5 {
		t.Errorf("%d manifests to delete, want 5 (3 artifacts, a signature, its fallback index): %v", len(refs), refs)
	}

	res, err := Delete(ctx, f.reg, p)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Deleted) != 5 || len(res.Remaining) != 0 {
		t.Errorf("deleted %v, remaining %v", res.Deleted, res.Remaining)
	}
	for name, repo := range map[string]string{"gone": f.kernel, "gone-stage": f.modules, "gone-sig": f.kernel, "gone-index": f.kernel} {
		if f.exists(t, repo, f.digests[name]) {
			t.Errorf("%s survived", name)
		}
	}
	for name, repo := range map[string]string{"kept": f.kernel, "kept-stage": f.modules, "stable": f.kernel, "handmade": f.modules,
		"young": f.kernel, "ageless": f.kernel, "foreign": f.kernel, "misnamed": f.kernel} {
		if !f.exists(t, repo, f.digests[name]) {
			t.Errorf("%s was deleted", name)
		}
	}
	// Nothing is left to collect: a second run finds nothing.
	again, err := MakePlan(ctx, f.request())
	if err != nil || again.Count() != 0 {
		t.Errorf("second plan: %d to delete, %v", again.Count(), err)
	}
	// -min-age=0 takes the young and the ageless too.
	req := f.request()
	req.MinAge = 0
	if p, _ := MakePlan(ctx, req); p.Count() != 2 {
		t.Errorf("with no minimum age: %d to delete, want 2", p.Count())
	}
}

// A registry that refuses DELETE (GHCR answers 405): nothing is deleted, the error says
// so, and every manifest is left for a person to delete.
func TestDeleteRefused(t *testing.T) {
	ctx := context.Background()
	refuse := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodDelete {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusMethodNotAllowed)
				_, _ = w.Write([]byte(`{"errors":[{"code":"UNSUPPORTED","message":"The operation is unsupported."}]}`))
				return
			}
			next.ServeHTTP(w, r)
		})
	}
	f := newFixture(t, refuse)
	p, err := MakePlan(ctx, f.request())
	if err != nil {
		t.Fatal(err)
	}
	res, err := Delete(ctx, f.reg, p)
	var ue *UnsupportedError
	if !errors.As(err, &ue) {
		t.Fatalf("Delete on a registry refusing DELETE: %v", err)
	}
	for _, want := range []string{"refuses to delete", "405 Method Not Allowed", "GHCR", "by hand"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
	if len(res.Deleted) != 0 || !slices.Equal(res.Remaining, p.Refs()) {
		t.Errorf("deleted %v, remaining %v", res.Deleted, res.Remaining)
	}
	if !f.exists(t, f.kernel, f.digests["gone"]) {
		t.Error("an artifact is gone although the registry refused")
	}
}

// TestDeleteStops: cancelling the context (Ctrl-C) while a manifest is deleted lets that
// delete finish and starts no other; Deleted and Remaining are exactly what happened.
func TestDeleteStops(t *testing.T) {
	f := newFixture(t)
	p, err := MakePlan(context.Background(), f.request())
	if err != nil {
		t.Fatal(err)
	}
	refs := p.Refs()
	ctx, cancel := context.WithCancel(context.Background())
	// The interrupt arrives as the first DELETE is about to be sent.
	ctx = oci.WithGuard(ctx, func(context.Context) error { cancel(); return nil })
	res, err := Delete(ctx, f.reg, p)
	if !errors.Is(err, context.Canceled) || !slices.Equal(res.Deleted, refs[:1]) || !slices.Equal(res.Remaining, refs[1:]) {
		t.Fatalf("Delete interrupted: deleted %v, remaining %v, %v; want %v deleted, the cancellation", res.Deleted, res.Remaining, err, refs[:1])
	}
	for i, ref := range refs {
		repo, dg, _ := strings.Cut(ref, "@")
		if gone := !f.exists(t, repo, dg); gone != (i == 0) {
			t.Errorf("%s deleted: %v", ref, gone)
		}
	}
}
