package executor_test

import (
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/crane"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/moby/buildkit/client"
	"github.com/moby/buildkit/client/llb"

	"github.com/urmanac/sovos/attest"
	"github.com/urmanac/sovos/config"
	"github.com/urmanac/sovos/executor"
	"github.com/urmanac/sovos/executor/bkdriver"
	"github.com/urmanac/sovos/hashing"
	"github.com/urmanac/sovos/internal/modsigntest"
	"github.com/urmanac/sovos/internal/oci"
	"github.com/urmanac/sovos/internal/testenv"
	"github.com/urmanac/sovos/planner"
	"github.com/urmanac/sovos/rollback"
	"github.com/urmanac/sovos/state"
)

// fakeBuilder stands in for a BuildKit daemon in unit tests: a kernel "build" pushes a
// tiny image and returns the certificate of key; an extension's pushes a module signed
// by signer. Both carry the request's annotations, as BuildKit's exporter does.
type fakeBuilder struct {
	t      *testing.T
	cert   *x509.Certificate
	signer crypto.Signer
	signed *x509.Certificate // the certificate the extension's module is signed with

	mu     sync.Mutex
	builds []string
}

func (f *fakeBuilder) Build(_ context.Context, req bkdriver.Request, _ chan *client.SolveStatus) (*bkdriver.Result, error) {
	f.mu.Lock()
	f.builds = append(f.builds, req.Address)
	f.mu.Unlock()
	files := map[string][]byte{"boot/vmlinuz": []byte("kernel " + req.Tag)}
	if strings.HasPrefix(req.Address, "extension.") {
		files = map[string][]byte{
			"rootfs/usr/lib/modules/extras/hello.ko": modsigntest.SignModule(f.t, modsigntest.Module("hello"), f.signer, f.signed),
			"manifest.yaml":                          []byte("version: v1\nmetadata:\n  name: hello\n  version: 1.0.0\n  compatibility:\n    talos:\n      version: \">= v1.13.0\"\n"),
		}
	}
	layer, err := crane.Layer(files)
	if err != nil {
		return nil, err
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		return nil, err
	}
	img = mutate.Annotations(img, req.Annotations).(v1.Image)
	ref, err := name.ParseReference(req.Image+":"+req.Tag, name.Insecure)
	if err != nil {
		return nil, err
	}
	if err := remote.Write(ref, img); err != nil {
		return nil, err
	}
	d, err := img.Digest()
	if err != nil {
		return nil, err
	}
	res := &bkdriver.Result{Digest: d.String()}
	if req.ReadFile != nil {
		res.File = f.cert.Raw
	}
	return res, nil
}

func (f *fakeBuilder) Solve(context.Context, *llb.Definition, bkdriver.Export, chan *client.SolveStatus, ...bkdriver.SolveOption) (string, error) {
	return "", errors.New("the fake builder runs no imager")
}

func (f *fakeBuilder) built() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.builds...)
}

const fakeConfig = `
variable "registry" { type = string }

sovos { insecure_registries = [split("/", var.registry)[0]] }

source "k" { path = "./k" }
source "e" { path = "./e" }

kernel "k" {
  source = source.k
  image  = "${var.registry}/kernel"
  signing_cert {
    target = "kernel-build"
    path   = "/src/certs/signing_key.x509"
  }
  tags = ["stable"]
}

extension "e" {
  source = source.e
  kernel = kernel.k
  image  = "${var.registry}/ext"
  tags   = ["stable"]
}
`

// fakeSetup is a configuration on an in-memory registry, planned and applied with a
// fake builder.
type fakeSetup struct {
	t    *testing.T
	dir  string
	repo string
	reg  *oci.Client
}

// newFakeSetup writes fakeConfig on an in-memory registry and returns it with a fake
// builder whose kernel key signs the extension's module, and the default workspace's
// state in a layout.
func newFakeSetup(t *testing.T) (*fakeSetup, *fakeBuilder, *state.Layout) {
	t.Helper()
	host := testenv.MemRegistry(t)
	s := &fakeSetup{t: t, dir: t.TempDir(), repo: host + "/fake", reg: oci.New(oci.WithInsecure(host))}
	for _, d := range []string{"k", "e"} {
		if err := os.MkdirAll(filepath.Join(s.dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(s.dir, d, "Dockerfile"), []byte("FROM scratch\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(s.dir, "main.sovos.hcl"), []byte(fakeConfig), 0o644); err != nil {
		t.Fatal(err)
	}
	key, cert := modsigntest.NewKey(t)
	b, err := state.NewLayout(filepath.Join(s.dir, ".sovos", "state"), "default")
	if err != nil {
		t.Fatal(err)
	}
	return s, &fakeBuilder{t: t, cert: cert, signer: key, signed: cert}, b
}

// config loads the configuration as plan does.
func (s *fakeSetup) config() *config.Config {
	s.t.Helper()
	cfg, diags := config.Load(context.Background(), s.dir, config.EvalOptions{Vars: []string{"registry=" + s.repo},
		Hooks: hashing.NewHasher(hashing.HasherOptions{CacheDir: filepath.Join(s.dir, ".sovos", "cache"), Refresh: true, Registry: s.reg})})
	if diags.HasErrors() {
		s.t.Fatal(diags.Error())
	}
	return cfg
}

func (s *fakeSetup) plan(b state.Backend, promote bool) *planner.Plan {
	s.t.Helper()
	ctx := context.Background()
	cfg := s.config()
	prior, digest, err := b.Read(ctx)
	if err != nil {
		s.t.Fatal(err)
	}
	p, err := planner.MakePlan(ctx, cfg, prior, digest, planner.Options{Refresh: true, Promote: promote, Registry: s.reg})
	if err != nil {
		s.t.Fatal(err)
	}
	return p
}

func (s *fakeSetup) apply(b state.Backend, p *planner.Plan, fb executor.Builder) (*executor.Summary, error) {
	s.t.Helper()
	prior, _, err := b.Read(context.Background())
	if err != nil {
		s.t.Fatal(err)
	}
	if prior == nil {
		prior = state.New("default", "test")
	}
	return executor.Apply(context.Background(), p, executor.Options{
		Builders: func(context.Context, string) (executor.Builder, error) { return fb, nil },
		Writer:   state.NewWriter(b, prior, nil),
		Dir:      s.dir,
		Registry: s.reg,
	})
}

func (s *fakeSetup) tagDigest(repo, tag string) string {
	s.t.Helper()
	d, err := crane.Digest(s.repo+"/"+repo+":"+tag, crane.Insecure)
	if err != nil {
		s.t.Fatal(err)
	}
	return d
}

// TestBuildAdoptPromoteVerify checks the executor's own work without a daemon: a build
// records the kernel's certificate (and stores it next to the kernel image), the
// extension is verified against it and only then promoted; a lost state adopts both,
// the kernel's certificate read back from the registry, and verifies the extension
// again; an extension signed by another key fails and moves no tag.
func TestBuildAdoptPromoteVerify(t *testing.T) {
	s, fb, b := newFakeSetup(t)
	cert := fb.cert

	// 1. Build both and promote.
	sum, err := s.apply(b, s.plan(b, true), fb)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Count(executor.Built) != 2 || len(sum.Promoted) != 2 {
		t.Fatalf("first apply: %+v, promoted %v", sum.Resources, sum.Promoted)
	}
	st, _, err := b.Read(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	k, e := st.Resource("kernel.k"), st.Resource("extension.e")
	if string(k.SigningCert) != string(cert.Raw) {
		t.Error("the kernel's certificate is not recorded")
	}
	if e.Verified == nil || !e.Verified.OK || e.Verified.Digest != e.Digest || e.Verified.Kernel != "kernel.k" {
		t.Errorf("extension verification: %+v", e.Verified)
	}
	if got := s.tagDigest("ext", "stable"); got != e.Digest || e.Tags["stable"] != e.Digest {
		t.Errorf("ext:stable -> %s (state %v), want %s", got, e.Tags, e.Digest)
	}

	// 2. A new workspace adopts both without building; the kernel's certificate comes
	// from the artifact stored next to its image, and the extension is verified again.
	fresh, err := state.NewLayout(filepath.Join(s.dir, ".sovos", "state"), "fresh")
	if err != nil {
		t.Fatal(err)
	}
	p := s.plan(fresh, false)
	for _, c := range p.Changes {
		if c.Action != planner.ActionAdopt {
			t.Errorf("%s: %s, want adopt", c.Address, c.Action)
		}
	}
	builds := len(fb.built())
	if sum, err = s.apply(fresh, p, fb); err != nil {
		t.Fatal(err)
	}
	if sum.Count(executor.Adopted) != 2 || len(fb.built()) != builds {
		t.Errorf("adopt: %+v, builds %v", sum.Resources, fb.built())
	}
	st, _, err = fresh.Read(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if k := st.Resource("kernel.k"); string(k.SigningCert) != string(cert.Raw) {
		t.Error("the adopted kernel has no certificate")
	}
	if e := st.Resource("extension.e"); e.Verified == nil || !e.Verified.OK {
		t.Errorf("adopted extension verification: %+v", e.Verified)
	}

	// 3. The extension changes and is signed by another key: its apply fails, naming the
	// module and the kernel, and the stable tag stays where it was.
	otherKey, otherCert := modsigntest.NewKey(t)
	fb.signer, fb.signed = otherKey, otherCert
	if err := os.WriteFile(filepath.Join(s.dir, "e", "Dockerfile"), []byte("FROM scratch\n# changed\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	before := s.tagDigest("ext", "stable")
	sum, err = s.apply(b, s.plan(b, true), fb)
	if err == nil || !strings.Contains(err.Error(), "does not pass verification against kernel.k's signing key") ||
		!strings.Contains(err.Error(), "/rootfs/usr/lib/modules/extras/hello.ko") {
		t.Errorf("apply of a foreign-key extension: %v", err)
	}
	if sum == nil || sum.PromoteSkipped == "" || len(sum.Promoted) != 0 || s.tagDigest("ext", "stable") != before {
		t.Errorf("promotion after a failed verification: %+v", sum)
	}
}

// TestPromotionGate: apply -promote moves an extension's stable tag only through the
// attestation gate (SPEC §9), whatever the state says. An extension whose recorded
// attestation is gone from the registry is verified again and attested before its tag
// moves; one whose attestation names its kernel's old key (the kernel rebuilt under the
// same hash with a new key) is checked against the new key, fails, and is not promoted.
func TestPromotionGate(t *testing.T) {
	s, fb, b := newFakeSetup(t)
	ctx := context.Background()
	read := func() *state.State {
		t.Helper()
		st, _, err := b.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	passing := func(e, k *state.Resource) (*attest.Found, error) {
		kc, err := x509.ParseCertificate(k.SigningCert)
		if err != nil {
			t.Fatal(err)
		}
		return attest.Passing(ctx, s.reg, e.Image, e.Digest, attest.Kernel{Digest: k.Digest, CertificateSHA256: attest.Fingerprint(kc)}, nil)
	}

	// Built and attested, not promoted.
	if _, err := s.apply(b, s.plan(b, false), fb); err != nil {
		t.Fatal(err)
	}
	st := read()
	k, e := st.Resource("kernel.k"), st.Resource("extension.e")
	first := e.Attestations[attest.ModuleSignaturesType]
	if f, err := passing(e, k); err != nil || f.Digest != first {
		t.Fatalf("after the build: attestation %+v, %v; the state records %q", f, err, first)
	}

	// 1. The attestation is deleted from the registry (by hand: this registry, without
	// the referrers API, still lists it in the sha256-<hex> index); the state still
	// records it and the passed verification. -promote attests the extension again
	// before moving its tag.
	repo, err := s.reg.NewRepository(e.Image)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.reg.Delete(ctx, repo.Digest(first)); err != nil {
		t.Fatal(err)
	}
	if _, err := passing(e, k); !attest.IsNotFound(err) {
		t.Fatalf("after deleting the attestation: %v", err)
	}
	sum, err := s.apply(b, s.plan(b, true), fb)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.tagDigest("ext", "stable"); got != e.Digest || len(sum.Promoted) != 2 {
		t.Fatalf("ext:stable -> %s, want %s; promoted %v", got, e.Digest, sum.Promoted)
	}
	f, err := passing(e, k)
	if err != nil {
		t.Fatalf("ext:stable moved to %s, which has no passing attestation: %v", e.Digest, err)
	}
	if got := read().Resource("extension.e").Attestations[attest.ModuleSignaturesType]; got != f.Digest {
		t.Errorf("the state records attestation %s, the registry has %s", got, f.Digest)
	}

	// 2. The kernel is rebuilt under the same hash with a new key: its record now holds
	// the new certificate. The extension's attestation names the old one, so before
	// its new tag moves it is checked again, against the new key, and fails.
	_, newCert := modsigntest.NewKey(t)
	fb.cert = newCert
	prior, priorDigest, err := b.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	p, err := planner.MakePlan(ctx, s.config(), prior, priorDigest, planner.Options{Refresh: true, Replace: []string{"kernel.k"}, Targets: []string{"kernel.k"}, Registry: s.reg})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.apply(b, p, fb); err != nil {
		t.Fatal(err)
	}
	k2 := read().Resource("kernel.k")
	if string(k2.SigningCert) != string(newCert.Raw) {
		t.Fatal("the replaced kernel does not record its new certificate")
	}
	f2 := strings.Replace(fakeConfig, `tags   = ["stable"]
}`, `tags   = ["stable", "next"]
}`, 1)
	if err := os.WriteFile(filepath.Join(s.dir, "main.sovos.hcl"), []byte(f2), 0o644); err != nil {
		t.Fatal(err)
	}
	p = s.plan(b, true)
	if c := p.Change("extension.e"); c == nil || c.Action != planner.ActionPromote {
		t.Fatalf("plan -promote with a new tag: extension.e %+v", c)
	}
	sum, err = s.apply(b, p, fb)
	if err == nil || !strings.Contains(err.Error(), "not promoted") || !strings.Contains(err.Error(), "/rootfs/usr/lib/modules/extras/hello.ko") {
		t.Errorf("promoting an extension whose attestation names the kernel's old key: %v", err)
	}
	t.Logf("the refusal: %v", err)
	if _, err := crane.Digest(s.repo+"/ext:next", crane.Insecure); err == nil {
		t.Error("ext:next was created for an extension that fails verification against its kernel's new key")
	}
	if sum != nil {
		for _, pr := range sum.Promoted {
			if pr.Address == "extension.e" {
				t.Errorf("promoted %+v", pr)
			}
		}
	}
}

// TestPromoteAfterRollback: after `sovos rollback` moved the extension's stable tag back,
// a promoting plan moves it forward again with the reason rolled_back; the apply moves
// it, and the state no longer says it was rolled back: the next promoting plan has
// nothing to do.
func TestPromoteAfterRollback(t *testing.T) {
	ctx := context.Background()
	s, fb, b := newFakeSetup(t)
	read := func() *state.State {
		t.Helper()
		st, _, err := b.Read(ctx)
		if err != nil || st == nil {
			t.Fatalf("reading the state: %v, %v", st, err)
		}
		return st
	}
	if _, err := s.apply(b, s.plan(b, true), fb); err != nil {
		t.Fatal(err)
	}
	first := read()
	if err := os.WriteFile(filepath.Join(s.dir, "e", "Dockerfile"), []byte("FROM scratch\n# second\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := s.apply(b, s.plan(b, true), fb); err != nil {
		t.Fatal(err)
	}
	cur := read()
	e1, e2 := first.Resource("extension.e").Digest, cur.Resource("extension.e").Digest
	if e1 == e2 || s.tagDigest("ext", "stable") != e2 {
		t.Fatalf("second apply: extension %s (first %s), ext:stable %s", e2, e1, s.tagDigest("ext", "stable"))
	}

	// sovos rollback to the first apply's serial (no signing: unsigned attestations).
	passing := func(ctx context.Context, reg *oci.Client, image, digest, kernelDigest, fp string) (bool, error) {
		_, err := attest.Passing(ctx, reg, image, digest, attest.Kernel{Digest: kernelDigest, CertificateSHA256: fp}, nil)
		return err == nil, nil
	}
	rb, err := rollback.MakePlan(ctx, rollback.Request{Current: cur, Target: first, Registry: s.reg, Attested: passing})
	if err != nil {
		t.Fatal(err)
	}
	moved, err := rollback.Apply(ctx, s.reg, rb)
	if err != nil || len(moved) != 1 {
		t.Fatalf("rollback moved %+v: %v", moved, err)
	}
	rollback.Record(cur, rb, moved, cur.Serial+1)
	w := state.NewWriter(b, cur, nil)
	w.Update(func(*state.State) {})
	if err := w.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if s.tagDigest("ext", "stable") != e1 {
		t.Fatalf("ext:stable after the rollback: %s, want %s", s.tagDigest("ext", "stable"), e1)
	}

	p := s.plan(b, true)
	var ext *planner.ResourceChange
	for _, c := range p.Changes {
		if c.Address == "extension.e" {
			ext = c
		}
	}
	if ext == nil || ext.Action != planner.ActionPromote || len(ext.Reasons) != 1 || ext.Reasons[0].Kind != planner.ReasonRolledBack {
		t.Fatalf("plan -promote after the rollback: %+v", ext)
	}
	sum, err := s.apply(b, p, fb)
	if err != nil || len(sum.Promoted) != 1 {
		t.Fatalf("apply -promote after the rollback: %+v, %v", sum, err)
	}
	if got := s.tagDigest("ext", "stable"); got != e2 {
		t.Errorf("ext:stable after promoting again: %s, want %s", got, e2)
	}
	if r := read().Resource("extension.e"); r.RolledBack != nil || r.Tags["stable"] != e2 {
		t.Errorf("the state after promoting again: tags %v, rolled back %+v", r.Tags, r.RolledBack)
	}
	for _, c := range s.plan(b, true).Changes {
		if c.Action != planner.ActionNoop {
			t.Errorf("promoting plan after promoting again: %s %s %+v", c.Address, c.Action, c.Reasons)
		}
	}
}
