package executor_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/urmanac/sovos/executor"
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
	equalMaps(t, "first apply", outcomes(sum), map[string]string{"kernel.k": "built", "extension.e": "built", "installer.i": "built", "profile.cm4": "built", "profile.cm5": "built"})
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
}

// checkProfiles checks the rendered profiles and the imager's output.
func checkProfiles(t *testing.T, f *factory, st interface {
}) {
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
		"forceInsecure: true", `kind: "image"`, "diskSize: 1306525696",
	} {
		if !strings.Contains(y, want) {
			t.Errorf("profile.cm5.yaml lacks %q:\n%s", want, y)
		}
	}
	out, err := os.ReadFile(filepath.Join(dest, "profile.cm5", "metal-arm64.raw"))
	if err != nil {
		t.Errorf("the imager's output was not exported: %v", err)
	} else if !strings.Contains(string(out), "for 2 images") {
		t.Errorf("imager output: %q", out)
	}
	if _, err := os.Stat(filepath.Join(dest, "profile.cm4.yaml")); err != nil {
		t.Error(err)
	}
}
