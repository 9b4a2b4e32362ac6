package rollback

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/v1/random"

	"github.com/urmanac/sovos/internal/modsigntest"
	"github.com/urmanac/sovos/internal/oci"
	"github.com/urmanac/sovos/internal/testenv"
	"github.com/urmanac/sovos/state"
)

const lineage = "6f1c1a52-6a3b-4c55-9b1e-2f3f1f1d2a10"

// world is a registry with two builds of a kernel and of its extension, and the states
// of the serials that recorded them.
type world struct {
	reg                    *oci.Client
	kernel, ext            string // repositories
	k1, k2, e1, e2         string // digests
	cert1, cert2           []byte // each kernel build's signing certificate (DER)
	first, second, current *state.State
}

func push(t *testing.T, reg *oci.Client, repo, tag string) string {
	t.Helper()
	img, err := random.Image(32, 1)
	if err != nil {
		t.Fatal(err)
	}
	ref, _ := reg.NewTag(repo + ":" + tag)
	if err := reg.Write(context.Background(), ref, img); err != nil {
		t.Fatal(err)
	}
	d, _ := img.Digest()
	return d.String()
}

func tag(t *testing.T, reg *oci.Client, repo, tag, digest string) {
	t.Helper()
	d, _ := reg.NewDigest(repo + "@" + digest)
	desc, err := reg.Get(context.Background(), d)
	if err != nil {
		t.Fatal(err)
	}
	r, _ := reg.NewTag(repo + ":" + tag)
	if err := reg.Tag(context.Background(), r, desc); err != nil {
		t.Fatal(err)
	}
}

func (w *world) at(t *testing.T, serial uint64, k, e string, cert []byte, kTags, eTags string, verified bool) *state.State {
	t.Helper()
	return &state.State{Version: state.Version, Lineage: lineage, Serial: serial, Workspace: "main", Resources: []*state.Resource{
		{Address: "kernel.k", Type: "kernel", Hash: strings.Repeat("a", 64), Image: w.kernel, Digest: k, SigningCert: cert,
			Tags: map[string]string{"stable": kTags}},
		{Address: "extension.e", Type: "extension", Hash: strings.Repeat("b", 64), Image: w.ext, Digest: e,
			Tags:      map[string]string{"stable": eTags},
			BuiltFrom: map[string]string{"kernel.k": k},
			Verified:  &state.Verification{Digest: e, Kernel: "kernel.k", OK: verified}},
	}}
}

func newWorld(t *testing.T) *world {
	host := testenv.MemRegistry(t)
	w := &world{reg: oci.New(oci.WithInsecure(host), oci.WithKeychain(authn.NewMultiKeychain())),
		kernel: host + "/f/kernel", ext: host + "/f/ext"}
	_, c1 := modsigntest.NewKey(t)
	_, c2 := modsigntest.NewKey(t)
	w.cert1, w.cert2 = c1.Raw, c2.Raw
	w.k1, w.e1 = push(t, w.reg, w.kernel, "aaaa"), push(t, w.reg, w.ext, "bbbb")
	w.k2, w.e2 = push(t, w.reg, w.kernel, "cccc"), push(t, w.reg, w.ext, "dddd")
	// Serial 3 promoted the first builds; serial 5 the second; the registry's stable
	// tags are serial 5's.
	w.first = w.at(t, 3, w.k1, w.e1, w.cert1, w.k1, w.e1, true)
	w.second = w.at(t, 5, w.k2, w.e2, w.cert2, w.k2, w.e2, true)
	w.current = w.at(t, 6, w.k2, w.e2, w.cert2, w.k2, w.e2, true)
	tag(t, w.reg, w.kernel, "stable", w.k2)
	tag(t, w.reg, w.ext, "stable", w.e2)
	return w
}

func (w *world) digestOf(t *testing.T, ref string) string {
	t.Helper()
	d, err := digestOf(context.Background(), w.reg, ref)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestRollback(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	p, err := MakePlan(ctx, Request{Current: w.current, Target: w.first, Registry: w.reg})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Moves) != 2 || p.Moves[0].Address != "kernel.k" || p.Moves[1].Address != "extension.e" || p.Unchanged != 0 {
		t.Fatalf("moves %+v (unchanged %d): want the kernel's tag, then the extension's", p.Moves, p.Unchanged)
	}
	if m := p.Moves[0]; m.From != w.k2 || m.To != w.k1 || m.Ref() != w.kernel+":stable" {
		t.Errorf("kernel move %+v", m)
	}
	moved, err := Apply(ctx, w.reg, p)
	if err != nil || len(moved) != 2 {
		t.Fatalf("Apply: %v, %v", moved, err)
	}
	if got := w.digestOf(t, w.kernel+":stable"); got != w.k1 {
		t.Errorf("kernel:stable -> %s, want %s", got, w.k1)
	}
	if got := w.digestOf(t, w.ext+":stable"); got != w.e1 {
		t.Errorf("ext:stable -> %s, want %s", got, w.e1)
	}
	promoted := Record(w.current, p, moved, 7)
	if promoted[w.ext+":stable"] != w.e1 || len(promoted) != 2 {
		t.Errorf("promoted %v", promoted)
	}
	k := w.current.Resource("kernel.k")
	if k.Tags["stable"] != w.k1 || k.Digest != w.k2 || k.RolledBack == nil || *k.RolledBack != (state.Rollback{To: 3, At: 7}) {
		t.Errorf("recorded kernel: tags %v digest %s rolled back %+v", k.Tags, k.Digest, k.RolledBack)
	}
	// Rolled back already: nothing moves.
	again, err := MakePlan(ctx, Request{Current: w.current, Target: w.first, Registry: w.reg})
	if err != nil || len(again.Moves) != 0 || again.Unchanged != 2 {
		t.Errorf("second rollback: %+v, %v", again, err)
	}
	// Forward again, to serial 5: the tags catch up with the recorded digests.
	fwd, err := MakePlan(ctx, Request{Current: w.current, Target: w.second, Registry: w.reg})
	if err != nil || len(fwd.Moves) != 2 {
		t.Fatalf("roll forward: %+v, %v", fwd, err)
	}
	moved, _ = Apply(ctx, w.reg, fwd)
	Record(w.current, fwd, moved, 8)
	if k.RolledBack != nil {
		t.Errorf("tags back at the recorded digest still marked rolled back: %+v", k.RolledBack)
	}
}

// TestApplyStops: cancelling the context (Ctrl-C) while a tag moves lets that move
// finish and starts no other; the moves returned are exactly those made.
func TestApplyStops(t *testing.T) {
	w := newWorld(t)
	p, err := MakePlan(context.Background(), Request{Current: w.current, Target: w.first, Registry: w.reg})
	if err != nil || len(p.Moves) != 2 {
		t.Fatalf("plan: %+v, %v", p, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	// The interrupt arrives as the first tag PUT is about to be sent.
	ctx = oci.WithGuard(ctx, func(context.Context) error { cancel(); return nil })
	moved, err := Apply(ctx, w.reg, p)
	if !errors.Is(err, context.Canceled) || len(moved) != 1 || moved[0].Address != "kernel.k" {
		t.Fatalf("Apply interrupted: moved %+v, %v; want the kernel's move only, and the cancellation", moved, err)
	}
	if got := w.digestOf(t, w.kernel+":stable"); got != w.k1 {
		t.Errorf("kernel:stable -> %s, want %s (the move in flight finishes)", got, w.k1)
	}
	if got := w.digestOf(t, w.ext+":stable"); got != w.e2 {
		t.Errorf("ext:stable -> %s, want %s (no move starts after the interrupt)", got, w.e2)
	}
}

// An extension whose verification failed at the target serial, one checked against
// another kernel build, and a digest gc deleted: refused, all or nothing.
func TestRollbackRefused(t *testing.T) {
	ctx := context.Background()
	for name, tc := range map[string]struct {
		edit func(w *world)
		want []string
	}{
		"failed verification": {
			edit: func(w *world) { w.first.Resource("extension.e").Verified.OK = false },
			want: []string{"extension.e: " + "%ext@%e1 has no passing module-signature attestation for kernel.k@", "records that it failed verification"},
		},
		"verified against another kernel": {
			// Serial 3's tags pair the first extension with the second kernel.
			edit: func(w *world) {
				k := w.first.Resource("kernel.k")
				k.Tags["stable"] = w.k2
			},
			want: []string{"has no passing module-signature attestation for kernel.k@"},
		},
		"deleted": {
			edit: func(w *world) {
				d, _ := w.reg.NewDigest(w.kernel + "@" + w.k1)
				if err := w.reg.Delete(ctx, d); err != nil {
					panic(err)
				}
			},
			want: []string{"kernel.k: %kernel@%k1 no longer exists in the registry (deleted by `sovos gc` or by hand)"},
		},
	} {
		t.Run(name, func(t *testing.T) {
			w := newWorld(t)
			tc.edit(w)
			_, err := MakePlan(ctx, Request{Current: w.current, Target: w.first, Registry: w.reg})
			var re *RefusedError
			if !errors.As(err, &re) {
				t.Fatalf("MakePlan: %v, want a refusal", err)
			}
			r := strings.NewReplacer("%ext", w.ext, "%e1", w.e1, "%kernel", w.kernel, "%k1", w.k1)
			for _, want := range tc.want {
				if !strings.Contains(err.Error(), r.Replace(want)) {
					t.Errorf("refusal lacks %q:\n%v", r.Replace(want), err)
				}
			}
			if !strings.Contains(err.Error(), "rollback to serial 3 refused, nothing was moved") {
				t.Errorf("refusal: %v", err)
			}
			if got := w.digestOf(t, w.ext+":stable"); got != w.e2 {
				t.Errorf("ext:stable moved to %s", got)
			}
		})
	}
}

// The target serial's verified entry is about a later build (the serial recorded a
// failed rebuild without promoting it): an older serial's entry about the build the
// tags point at stands in for it; an attestation check that passes does too.
func TestRollbackStandIns(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	failed := push(t, w.reg, w.ext, "eeee")
	target := w.at(t, 4, w.k1, failed, w.cert1, w.k1, w.e1, false)
	target.Resource("extension.e").Verified.Digest = failed
	req := Request{Current: w.current, Target: target, Registry: w.reg}
	if _, err := MakePlan(ctx, req); err == nil {
		t.Fatal("no earlier serial to vouch for the extension, and no attestation: not refused")
	}
	req.Earlier = func(context.Context) ([]*state.State, error) { return []*state.State{w.first}, nil }
	if p, err := MakePlan(ctx, req); err != nil || len(p.Moves) != 2 {
		t.Errorf("with serial 3's verification: %+v, %v", p, err)
	}
	// A build with attestations is judged by them: its verified entry does not count.
	attested := w.at(t, 3, w.k1, w.e1, w.cert1, w.k1, w.e1, true)
	attested.Resource("extension.e").Attestations = map[string]string{"https://github.com/urmanac/sovos/attestation/module-signatures/v1": w.k2}
	req.Earlier = func(context.Context) ([]*state.State, error) { return []*state.State{attested}, nil }
	if _, err := MakePlan(ctx, req); err == nil {
		t.Error("a verified entry stood in for a build that has attestations")
	}
	var asked []string
	req.Earlier = nil
	req.Attested = func(_ context.Context, _ *oci.Client, image, digest, kernelDigest, fp string) (bool, error) {
		asked = append(asked, digest+" "+kernelDigest+" "+fp)
		return digest == w.e1 && kernelDigest == w.k1 && fp == fingerprint(w.cert1), nil
	}
	if p, err := MakePlan(ctx, req); err != nil || len(p.Moves) != 2 {
		t.Errorf("with an attestation: %+v, %v", p, err)
	}
	if len(asked) != 1 || asked[0] != w.e1+" "+w.k1+" "+fingerprint(w.cert1) {
		t.Errorf("attestation asked about %v", asked)
	}
}
