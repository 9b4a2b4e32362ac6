package e2e

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/urmanac/sovos/internal/testenv"
)

// faultFactory is the miniature factory with its artifacts and its state behind a
// fault-injecting proxy in front of the real registry: SOVOS_VAR_registry (and so
// insecure_registries) names the proxy, never the registry itself.
type faultFactory struct {
	cli      *testenv.CLI
	registry string // the registry's own host:port, not listed in insecure_registries
	proxy    *testenv.FaultProxy
	state    string // -state-registry=... through the proxy
}

// newFaultFactory starts a registry and its proxy and copies the factory; with a
// BuildKit daemon when builds are to run.
func newFaultFactory(t *testing.T, withBuildkit bool) *faultFactory {
	t.Helper()
	host := testenv.StartRegistry(t)
	proxy := testenv.StartFaultProxy(t, host)
	buildkit := "unix:///nonexistent/buildkitd.sock" // failures come before any build
	if withBuildkit {
		// BuildKit pulls the busybox base from the registry and the kernel's stages
		// through the proxy.
		buildkit = testenv.StartBuildkitd(t, testenv.WithInsecureRegistries(host, proxy.Host)).Addr
	}
	c := factoryCLI(t, proxy.Host, host, buildkit)
	return &faultFactory{cli: c, registry: host, proxy: proxy, state: "-state-registry=" + proxy.Host + "/factory/state"}
}

// sovosRequests are the requests sovos itself makes (its User-Agent), not BuildKit's:
// BuildKit pushes and pulls with its own client and retry policy.
var sovosRequests = testenv.UserAgentContains("sovos/")

// TestCLIFlakyRegistry applies the factory, promotes and verifies it with a registry
// that answers 503 to half of sovos's requests: every one of them succeeds on a retry.
func TestCLIFlakyRegistry(t *testing.T) {
	f := newFaultFactory(t, true)
	// Every request fails at its first attempt, and every second attempt after. The
	// /v2/ ping and the POST opening a blob upload are left alone: concurrent calls send
	// them to one URL, and a shared count can hand all the failing turns to the same
	// retried request (see FailEveryPerURL); they are covered one at a time by
	// internal/oci's tests.
	f.proxy.FailEveryPerURL(testenv.AllOf(sovosRequests, testenv.DistinctURLs), 2, http.StatusServiceUnavailable)

	out, errOut, code := f.cli.Run("apply", f.state, "-auto-approve", "-promote", "-progress=plain")
	if code != 0 {
		t.Fatalf("apply through a flaky registry: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	for _, want := range []string{"kernel.k: built", "extension.e: built", "profile.cm5: built", "promoted", "/factory/kernel:stable"} {
		if !strings.Contains(out, want) {
			t.Errorf("apply output lacks %q:\n%s", want, out)
		}
	}
	failed := f.proxy.Failed()
	t.Logf("%d of sovos's %d requests were answered 503", failed, f.proxy.Count(sovosRequests))
	if failed < 20 {
		t.Errorf("only %d requests failed: the test did not test retries", failed)
	}

	// The state landed: the next plan reads it through the same flaky registry and has
	// nothing to do; verify reads the extension and the certificate.
	f.cli.Expect(0, "plan", f.state, "-detailed-exitcode")
	if out := f.cli.OK("verify", f.state); !strings.Contains(out, "extension.e: OK") {
		t.Errorf("verify through a flaky registry:\n%s", out)
	}
	if f.proxy.Failed() <= failed {
		t.Error("plan and verify met no failure")
	}
}

// TestCLIRegistryUnusable: a registry that never answers, a plain-HTTP registry that
// is not listed, and a bad SOVOS_REGISTRY_TIMEOUT each fail plan and apply with one
// clear message, within the deadline.
func TestCLIRegistryUnusable(t *testing.T) {
	f := newFaultFactory(t, false)
	c := f.cli.With("SOVOS_REGISTRY_TIMEOUT=1s")

	t.Run("silent registry", func(t *testing.T) {
		f.proxy.Silence(nil)
		defer f.proxy.Clear()
		for _, args := range [][]string{
			{"plan", f.state},          // reading the state
			{"apply", "-auto-approve"}, // a local state; the refresh asks the registry
			{"apply", "-auto-approve", f.state},
		} {
			start := time.Now()
			_, errOut, code := c.Run(args...)
			took := time.Since(start)
			t.Logf("sovos %s: %v\n%s", strings.Join(args, " "), took, errOut)
			// Three attempts of 1s and 0.75s of waits, plus starting the binary.
			if code != 1 || took > 10*time.Second {
				t.Errorf("sovos %s: exit %d after %v", strings.Join(args, " "), code, took)
			}
			for _, want := range []string{"the registry " + f.proxy.Host + " did not respond", "within 1s", "SOVOS_REGISTRY_TIMEOUT"} {
				if !strings.Contains(errOut, want) {
					t.Errorf("sovos %s: stderr lacks %q", strings.Join(args, " "), want)
				}
			}
		}
	})

	t.Run("plain-HTTP registry not in insecure_registries", func(t *testing.T) {
		// A second proxy, without faults, only to count what reaches the registry.
		counted := testenv.StartFaultProxy(t, f.registry)
		for _, args := range [][]string{
			{"plan", "-state-registry=" + counted.Host + "/factory/state"},
			{"apply", "-auto-approve", "-state-registry=" + counted.Host + "/factory/state"},
		} {
			_, errOut, code := c.Run(args...)
			want := "the registry " + counted.Host + " speaks plain HTTP"
			if code != 1 || !strings.Contains(errOut, want) || !strings.Contains(errOut, `add it to the sovos block: insecure_registries = ["`+counted.Host+`"]`) {
				t.Errorf("sovos %s: exit %d\n%s", strings.Join(args, " "), code, errOut)
			}
			if strings.Count(errOut, want) != 1 {
				t.Errorf("sovos %s: the message is repeated:\n%s", strings.Join(args, " "), errOut)
			}
		}
		if n := counted.Count(nil); n != 0 {
			t.Errorf("%d plain-HTTP requests reached a registry that is not listed: %v", n, counted.Requests())
		}
	})

	t.Run("bad SOVOS_REGISTRY_TIMEOUT", func(t *testing.T) {
		_, errOut, code := f.cli.With("SOVOS_REGISTRY_TIMEOUT=30").Run("plan", f.state)
		if code != 1 || !strings.Contains(errOut, `SOVOS_REGISTRY_TIMEOUT="30" is not a positive duration`) || !strings.Contains(errOut, "e.g. 30s") {
			t.Errorf("exit %d\n%s", code, errOut)
		}
	})

	// And with a registry that works, the same commands succeed: the failures above were
	// the faults, not the setup.
	if out, errOut, code := c.Run("plan", f.state, "-detailed-exitcode"); code != 2 || !strings.Contains(out, "to create") {
		t.Errorf("plan against the registry: exit %d\n%s\n%s", code, out, errOut)
	}
}
