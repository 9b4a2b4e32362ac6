package executor_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/x509"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/urmanac/sovos/attest"
	"github.com/urmanac/sovos/executor"
	"github.com/urmanac/sovos/internal/oci"
	"github.com/urmanac/sovos/internal/testenv"
	"github.com/urmanac/sovos/planner"
	"github.com/urmanac/sovos/state"
)

// TestApplyFactory applies the miniature factory through a real BuildKit daemon and
// registry: a first apply builds everything, a second builds nothing (the daemon's build
// history says so), an edit rebuilds exactly its downstream closure, -promote moves the
// stable tags, a module signed with a foreign key fails the apply and moves no tag.
func TestApplyFactory(t *testing.T) {
	f := newFactory(t)
	ctx := context.Background()

	// 1. Everything is created.
	p := f.plan(false)
	want := map[string]string{"kernel.k": "create", "extension.e": "create", "installer.i": "create", "profile.cm4": "create", "profile.cm5": "create"}
	equalMaps(t, "first plan", actions(p), want)
	sum, err := f.apply(ctx, p, executor.Options{})
	if err != nil {
		t.Fatalf("first apply: %v", err)
	}
	equalMaps(t, "first apply", outcomes(sum), map[string]string{"kernel.k": "built", "extension.e": "built", "installer.i": "built", "profile.cm4": "rendered", "profile.cm5": "built"})
	st := f.state()
	first := digests(st)
	for _, addr := range []string{"kernel.k", "extension.e", "installer.i", "profile.cm5"} {
		if first[addr] == "" {
			t.Errorf("%s: no digest recorded", addr)
		}
	}
	k := st.Resource("kernel.k")
	if len(k.SigningCert) == 0 || k.Stages["modules"] == nil || k.Stages["modules"].Digest == "" {
		t.Errorf("kernel record lacks its certificate or modules stage: %+v", k)
	}
	if e := st.Resource("extension.e"); e.Verified == nil || !e.Verified.OK || e.Verified.Digest != e.Digest || e.BuiltFrom["kernel.k"] != k.Digest {
		t.Errorf("extension record: verified %+v, built_from %v", e.Verified, e.BuiltFrom)
	}
	if i := st.Resource("installer.i"); i.BuiltFrom["kernel.k"] != k.Digest {
		t.Errorf("installer built_from %v, kernel %s", i.BuiltFrom, k.Digest)
	}
	if got := registryDigest(t, f.repo+"/kernel:"+k.Tag); got != k.Digest {
		t.Errorf("registry kernel:%s = %s, state %s", k.Tag, got, k.Digest)
	}
	checkProfiles(t, f, st)
	checkProvenance(t, st)
	cert, err := executor.FetchCertificate(ctx, oci.New(oci.WithInsecure(f.registry)), f.repo+"/kernel", k.Digest)
	if err != nil {
		t.Errorf("the kernel's certificate is not stored next to its image: %v", err)
	} else if !bytes.Equal(cert.Raw, k.SigningCert) {
		t.Error("the certificate stored next to the kernel image differs from the state's")
	}
	solves := f.solves()
	if solves == 0 {
		t.Fatal("the daemon recorded no build")
	}

	// 2. Nothing changed: nothing is built, according to the daemon.
	p = f.plan(false)
	if p.HasChanges() {
		t.Fatalf("second plan has changes: %v", actions(p))
	}
	if _, err := f.apply(ctx, p, executor.Options{}); err != nil {
		t.Fatalf("second apply: %v", err)
	}
	if n := f.solves(); n != solves {
		t.Errorf("second apply ran %d builds on the daemon, want 0", n-solves)
	}
	equalMaps(t, "state after the second apply", digests(f.state()), first)
	t.Logf("first apply: %d solves on the daemon; second apply: 0", solves)

	// 3. One kernel file: the kernel and its downstream closure are rebuilt, cm4 is not.
	f.write("kernel/vmlinuz", "vmlinuz v2\n")
	p = f.plan(false)
	equalMaps(t, "plan after a kernel edit", actions(p), map[string]string{
		"kernel.k": "rebuild", "extension.e": "rebuild", "installer.i": "rebuild", "profile.cm4": "no-op", "profile.cm5": "rebuild"})
	sum, err = f.apply(ctx, p, executor.Options{})
	if err != nil {
		t.Fatalf("apply after a kernel edit: %v", err)
	}
	equalMaps(t, "apply after a kernel edit", outcomes(sum), map[string]string{
		"kernel.k": "built", "extension.e": "built", "installer.i": "built", "profile.cm4": "unchanged", "profile.cm5": "built"})
	if n := f.solves(); n <= solves {
		t.Errorf("the daemon ran no build for the kernel edit")
	} else {
		solves = n
	}
	second := digests(f.state())
	for _, addr := range []string{"kernel.k", "extension.e", "installer.i", "profile.cm5"} {
		if second[addr] == first[addr] {
			t.Errorf("%s: digest unchanged after rebuilding it", addr)
		}
	}
	if p := f.plan(false); p.HasChanges() {
		t.Fatalf("plan after applying the kernel edit: %v", actions(p))
	}

	// 4. -promote: the stable tags move to the recorded digests, nothing is rebuilt.
	p = f.plan(true)
	if _, err := f.apply(ctx, p, executor.Options{Promote: true}); err != nil {
		t.Fatalf("promote: %v", err)
	}
	if n := f.solves(); n != solves {
		t.Errorf("promotion ran %d builds", n-solves)
	}
	st = f.state()
	promoted := map[string]string{"kernel.k": "kernel", "extension.e": "ext", "installer.i": "installer", "profile.cm5": "cm5"}
	for addr, repo := range promoted {
		r := st.Resource(addr)
		if got := registryDigest(t, f.repo+"/"+repo+":stable"); got != r.Digest {
			t.Errorf("%s:stable = %s, want %s", repo, got, r.Digest)
		}
		if r.Tags["stable"] != r.Digest {
			t.Errorf("%s: state tags %v, digest %s", addr, r.Tags, r.Digest)
		}
	}
	if p := f.plan(true); p.HasChanges() {
		t.Errorf("plan -promote after promoting: %v", actions(p))
	}

	// 5. A module signed with another key: the extension fails verification, the profile
	// built on it is skipped, and no stable tag moves.
	goodExt, err := os.ReadFile(filepath.Join(f.dir, "ext", "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	copyFile(t, filepath.Join(f.dir, "kernel", "modsign"), filepath.Join(f.dir, "ext", "modsign"))
	copyFile(t, filepath.Join(f.dir, "kernel", "hello.ko"), filepath.Join(f.dir, "ext", "foreign.ko"))
	f.write("ext/Dockerfile", `ARG BUSYBOX
FROM ${BUSYBOX} AS sign
COPY modsign /usr/bin/modsign
COPY foreign.ko /foreign.ko
RUN /usr/bin/modsign genkey /k && /usr/bin/modsign sign /k/signing_key.pem /k/signing_key.x509 /foreign.ko

`+string(goodExt)+`COPY --from=sign /foreign.ko /rootfs/usr/lib/modules/extras/foreign.ko
`)
	p = f.plan(true)
	equalMaps(t, "plan with a foreign module", actions(p), map[string]string{
		"kernel.k": "no-op", "extension.e": "rebuild", "installer.i": "no-op", "profile.cm4": "no-op", "profile.cm5": "rebuild"})
	sum, err = f.apply(ctx, p, executor.Options{Promote: true})
	if err == nil {
		t.Fatal("apply with a foreign-key module succeeded")
	}
	msg := err.Error()
	for _, want := range []string{"extension.e", "/rootfs/usr/lib/modules/extras/foreign.ko", "foreign_key", "kernel.k"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q:\n%s", want, msg)
		}
	}
	if strings.Contains(msg, "hello.ko") {
		t.Errorf("error names the good module:\n%s", msg)
	}
	t.Logf("foreign-key apply error:\n%s", msg)
	equalMaps(t, "apply with a foreign module", outcomes(sum), map[string]string{
		"kernel.k": "unchanged", "extension.e": "failed", "installer.i": "unchanged", "profile.cm4": "unchanged", "profile.cm5": "skipped"})
	for addr, repo := range promoted {
		if got := registryDigest(t, f.repo+"/"+repo+":stable"); got != st.Resource(addr).Digest {
			t.Errorf("%s:stable moved to %s after a failed apply", repo, got)
		}
	}
	bad := f.state().Resource("extension.e")
	if bad.Verified == nil || bad.Verified.OK || bad.Verified.Digest != bad.Digest {
		t.Errorf("the failed verification is not recorded: %+v", bad.Verified)
	}
	// No module-signature attestation is attached to what failed.
	kr := f.state().Resource("kernel.k")
	kcert, _ := x509.ParseCertificate(kr.SigningCert)
	_, err = attest.Passing(ctx, oci.New(oci.WithInsecure(f.registry)), bad.Image, bad.Digest, attest.Kernel{Digest: kr.Digest, CertificateSHA256: attest.Fingerprint(kcert)}, nil)
	if !attest.IsNotFound(err) || !strings.Contains(err.Error(), "has no module-signature attestation") {
		t.Errorf("the extension that failed verification: %v", err)
	}
	if bad.Attestations[attest.ModuleSignaturesType] != "" {
		t.Errorf("the state records an attestation for a failed extension: %v", bad.Attestations)
	}

	// The next plan shows the recorded verdict: the extension is built and checked
	// again, and the profile it blocked is still to be built.
	p = f.plan(false)
	if c := p.Change("extension.e"); c == nil || c.Action != planner.ActionRebuild || len(c.Reasons) == 0 ||
		c.Reasons[len(c.Reasons)-1].Kind != planner.ReasonVerifyFailed || !strings.Contains(c.Reasons[len(c.Reasons)-1].Message, "foreign.ko: foreign_key") {
		t.Errorf("plan after the failed verification: %+v", c)
	}
	// 5b. Lost state with that extension in the registry under the current hash: it is
	// adopted only after passing verification against its adopted kernel, so it fails
	// and is not recorded.
	if err := os.RemoveAll(filepath.Join(f.dir, ".sovos", "state")); err != nil {
		t.Fatal(err)
	}
	p = f.plan(false)
	if got := actions(p)["extension.e"]; got != "adopt" {
		t.Fatalf("plan without a state: extension.e %s, want adopt", got)
	}
	if _, err := f.apply(ctx, p, executor.Options{}); err == nil || !strings.Contains(err.Error(), "foreign_key") {
		t.Errorf("adopting the foreign-key extension: %v", err)
	}
	if r := f.state().Resource("extension.e"); r != nil {
		t.Errorf("an adopted extension that fails verification is recorded: %+v", r)
	}
	if bad.Tags["stable"] != st.Resource("extension.e").Digest {
		t.Errorf("state moved the extension's stable tag: %v", bad.Tags)
	}
	f.write("ext/Dockerfile", string(goodExt))
	for _, extra := range []string{"modsign", "foreign.ko"} {
		if err := os.Remove(filepath.Join(f.dir, "ext", extra)); err != nil {
			t.Fatal(err)
		}
	}

	// 6. A lost state rebuilds nothing: every artifact is adopted from the registry by
	// its hash annotation, the kernel's certificate is found next to its image, and the
	// extension passes verification against it.
	if err := os.RemoveAll(filepath.Join(f.dir, ".sovos", "state")); err != nil {
		t.Fatal(err)
	}
	p = f.plan(false)
	equalMaps(t, "plan without a state", actions(p), map[string]string{
		"kernel.k": "adopt", "extension.e": "adopt", "installer.i": "adopt", "profile.cm4": "create", "profile.cm5": "adopt"})
	solves = f.solves()
	if _, err := f.apply(ctx, p, executor.Options{}); err != nil {
		t.Fatalf("apply without a state: %v", err)
	}
	if n := f.solves(); n != solves {
		t.Errorf("adopting ran %d builds", n-solves)
	}
	adopted := f.state()
	if !bytes.Equal(adopted.Resource("kernel.k").SigningCert, st.Resource("kernel.k").SigningCert) {
		t.Error("the adopted kernel's certificate differs from the one recorded at build time")
	}
	if e := adopted.Resource("extension.e"); e.Digest != st.Resource("extension.e").Digest || e.Verified == nil || !e.Verified.OK {
		t.Errorf("adopted extension: digest %s (want %s), verified %+v", e.Digest, st.Resource("extension.e").Digest, e.Verified)
	}
}

func copyFile(t testing.TB, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, data, info.Mode().Perm()); err != nil {
		t.Fatal(err)
	}
}

// checkProfiles checks the rendered profiles and the imager's output: cm5's boot media,
// pulled with oras-go as a third-party client would (not sovos's own reader), is one
// gzipped ext2 disk image holding the very profile sovos rendered and the images it
// names.
func checkProfiles(t *testing.T, f *factory, st *state.State) {
	t.Helper()
	dest := filepath.Join(f.dir, "_out", "profiles")
	cm5, err := os.ReadFile(filepath.Join(dest, "profile.cm5.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	y := string(cm5)
	for _, want := range []string{
		`arch: "arm64"`, `version: "v1.13.3"`, "extraKernelArgs:", `- "console=tty1"`,
		`imageRef: "` + f.repo + `/installer@sha256:`, `- imageRef: "` + f.repo + `/ext@sha256:`,
		"forceInsecure: true", `kind: "image"`, "diskSize: 33554432",
	} {
		if !strings.Contains(y, want) {
			t.Errorf("profile.cm5.yaml lacks %q:\n%s", want, y)
		}
	}
	if _, err := os.Stat(filepath.Join(dest, "profile.cm4.yaml")); err != nil {
		t.Error(err)
	}
	rec := st.Resource("profile.cm5")
	if rec.ArtifactType != "application/vnd.sovos.boot-media.v1" {
		t.Errorf("profile.cm5 recorded as %q", rec.ArtifactType)
	}
	files := orasPull(t, f.repo+"/cm5", rec.Tag, rec.Digest, map[string]string{
		"dev.sovos.hash": rec.Hash, "dev.sovos.address": "profile.cm5",
	})
	disk := gunzip(t, files["metal-arm64.raw.gz"])
	if disk.size != 33554432 {
		t.Errorf("the disk image is %d bytes, the profile says 33554432", disk.size)
	}
	if got := testenv.Ext2File(t, disk.f, "profile.yaml"); string(got) != y {
		t.Errorf("the disk image holds another profile than the one rendered:\n%s", got)
	}
	images := string(testenv.Ext2File(t, disk.f, "images.txt"))
	if !strings.Contains(images, f.repo+"/installer@sha256:") || !strings.Contains(images, f.repo+"/ext@sha256:") {
		t.Errorf("images.txt in the disk image:\n%s", images)
	}
}

// orasPull pulls repo:tag with oras-go, as `oras pull` does, after checking that the tag
// is the recorded digest and the manifest's annotations, and returns the files it wrote
// by name.
func orasPull(t *testing.T, repo, tag, digest string, annotations map[string]string) map[string]string {
	t.Helper()
	dir, desc, m := testenv.OrasPull(t, repo, tag)
	if desc.Digest.String() != digest {
		t.Errorf("%s:%s is %s, the state records %s", repo, tag, desc.Digest, digest)
	}
	if m.ArtifactType != "application/vnd.sovos.boot-media.v1" || m.Config.MediaType != ocispec.MediaTypeEmptyJSON {
		t.Errorf("artifactType %q config %q", m.ArtifactType, m.Config.MediaType)
	}
	for k, v := range annotations {
		if m.Annotations[k] != v {
			t.Errorf("annotation %s = %q, want %q", k, m.Annotations[k], v)
		}
	}
	out := map[string]string{}
	for _, l := range m.Layers {
		title := l.Annotations[ocispec.AnnotationTitle]
		out[title] = filepath.Join(dir, title)
	}
	return out
}

type diskImage struct {
	f    *os.File
	size int64
}

// gunzip decompresses a .gz file into a temporary file.
func gunzip(t *testing.T, path string) diskImage {
	t.Helper()
	in, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	zr, err := gzip.NewReader(in)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	out, err := os.Create(filepath.Join(t.TempDir(), "disk.raw"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { out.Close() })
	n, err := io.Copy(out, zr)
	if err != nil {
		t.Fatal(err)
	}
	return diskImage{f: out, size: n}
}

// checkProvenance: every build and stage is pushed as an index holding its image and
// BuildKit's SLSA provenance (mode min: no build args), dev.sovos.hash on the index and
// the manifest, and the state records the index digest, which the tag resolves to.
// Boot media (profile.cm5) carry none.
func checkProvenance(t *testing.T, st *state.State) {
	t.Helper()
	type pushed struct{ addr, ref, digest, hash string }
	var all []pushed
	for _, addr := range []string{"kernel.k", "extension.e", "installer.i"} {
		r := st.Resource(addr)
		all = append(all, pushed{addr, r.Image + ":" + r.Tag, r.Digest, r.Hash})
		for target, s := range r.Stages {
			all = append(all, pushed{addr + " stage " + target, s.Image + ":" + r.Tag, s.Digest, r.Hash})
		}
	}
	for _, p := range all {
		got := testenv.ReadPushed(t, p.ref)
		if got.Index != p.digest {
			t.Errorf("%s: %s resolves to %s, the state records %s", p.addr, p.ref, got.Index, p.digest)
		}
		if got.IndexAnnotations[planner.AnnotationHash] != p.hash || got.ManifestAnnotations[planner.AnnotationHash] != p.hash {
			t.Errorf("%s: dev.sovos.hash on the index %q and the manifest %q, want %s on both", p.addr,
				got.IndexAnnotations[planner.AnnotationHash], got.ManifestAnnotations[planner.AnnotationHash], p.hash)
		}
		if got.Provenance == nil || got.Provenance.PredicateType != "https://slsa.dev/provenance/v1" {
			t.Errorf("%s: no SLSA provenance: %+v", p.addr, got.Provenance)
		} else if strings.Contains(string(got.ProvenanceRaw), "BUSYBOX") {
			t.Errorf("%s: the provenance records build args (mode max?)", p.addr)
		}
	}
	cm5 := st.Resource("profile.cm5")
	if cm5.ArtifactType != "application/vnd.sovos.boot-media.v1" {
		t.Errorf("profile.cm5: artifact type %q", cm5.ArtifactType)
	}
}
