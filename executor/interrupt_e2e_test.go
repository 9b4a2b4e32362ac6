package executor_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/urmanac/sovos/executor"
)

// TestApplyInterrupted stops an apply while the installer's slow build runs and the
// extension's quick one has finished: by killing buildkitd, and by cancelling the
// context (what Ctrl-C does). Either way the finished extension is in the state, the
// error is clear, the profile is not built, and the next plan shows only what is left.
func TestApplyInterrupted(t *testing.T) {
	for _, tc := range []struct {
		name  string
		stop  func(f *factory, cancel context.CancelFunc)
		error []string
	}{
		{"daemon killed", func(f *factory, _ context.CancelFunc) { f.daemon.Kill() },
			[]string{"installer.i", "BuildKit daemon"}},
		{"canceled", func(_ *factory, cancel context.CancelFunc) { cancel() },
			[]string{"apply interrupted"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFactory(t)
			if _, err := f.apply(context.Background(), f.plan(false), executor.Options{}); err != nil {
				t.Fatalf("first apply: %v", err)
			}
			before := digests(f.state())

			f.write("ext/manifest.yaml", strings.Replace(readFile(t, f, "ext/manifest.yaml"), "1.0.0", "1.0.1", 1))
			f.write("installer/Dockerfile", readFile(t, f, "installer/Dockerfile")+"RUN sleep 300\n")
			p := f.plan(false)
			equalMaps(t, "plan", actions(p), map[string]string{
				"kernel.k": "no-op", "extension.e": "rebuild", "installer.i": "rebuild", "profile.cm4": "no-op", "profile.cm5": "rebuild"})

			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			type result struct {
				sum *executor.Summary
				err error
			}
			done := make(chan result, 1)
			go func() {
				sum, err := f.apply(ctx, p, executor.Options{})
				done <- result{sum, err}
			}()
			// Wait until the extension's new build is recorded in the state and verified.
			deadline := time.Now().Add(2 * time.Minute)
			for {
				if time.Now().After(deadline) {
					t.Fatal("the extension was never recorded")
				}
				s, _, err := f.backend.Read(context.Background())
				if err == nil && s != nil {
					if e := s.Resource("extension.e"); e != nil && e.Digest != before["extension.e"] && e.Verified != nil && e.Verified.Digest == e.Digest {
						break
					}
				}
				select {
				case r := <-done:
					t.Fatalf("apply ended before the interruption: %v", r.err)
				case <-time.After(200 * time.Millisecond):
				}
			}
			tc.stop(f, cancel)
			var r result
			select {
			case r = <-done:
			case <-time.After(time.Minute):
				t.Fatal("apply did not return after the interruption")
			}
			if r.err == nil {
				t.Fatal("an interrupted apply succeeded")
			}
			for _, want := range tc.error {
				if !strings.Contains(r.err.Error(), want) {
					t.Errorf("error lacks %q:\n%v", want, r.err)
				}
			}
			t.Logf("error: %v", r.err)
			got := outcomes(r.sum)
			if got["extension.e"] != "built" || got["profile.cm5"] == "built" || got["installer.i"] == "built" {
				t.Errorf("outcomes: %v", got)
			}
			after := digests(f.state())
			if after["extension.e"] == before["extension.e"] || after["installer.i"] != before["installer.i"] || after["profile.cm5"] != before["profile.cm5"] {
				t.Errorf("state after the interruption: %v (before %v)", after, before)
			}
			// The next plan shows only what is left.
			equalMaps(t, "next plan", actions(f.plan(false)), map[string]string{
				"kernel.k": "no-op", "extension.e": "no-op", "installer.i": "rebuild", "profile.cm4": "no-op", "profile.cm5": "rebuild"})
		})
	}
}

func readFile(t testing.TB, f *factory, rel string) string {
	t.Helper()
	data, err := readRel(f, rel)
	if err != nil {
		t.Fatal(err)
	}
	return data
}
