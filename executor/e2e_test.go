package executor_test

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/hashicorp/go-hclog"
	controlapi "github.com/moby/buildkit/api/services/control"
	"github.com/moby/buildkit/client"

	"github.com/urmanac/sovos/config"
	"github.com/urmanac/sovos/executor"
	"github.com/urmanac/sovos/executor/bkdriver"
	"github.com/urmanac/sovos/hashing"
	"github.com/urmanac/sovos/internal/oci"
	"github.com/urmanac/sovos/internal/testenv"
	"github.com/urmanac/sovos/planner"
	"github.com/urmanac/sovos/state"
	"github.com/urmanac/sovos/views"
)

// factory is a copy of testdata/factory wired to a private registry and BuildKit daemon.
type factory struct {
	t        testing.TB
	dir      string
	registry string // HOST
	repo     string // HOST/factory
	daemon   *testenv.Buildkitd
	vars     []string
	backend  *state.Layout
	dockerCf string
}

func TestMain(m *testing.M) { testenv.Main(m) }

func newFactory(t testing.TB) *factory {
	t.Helper()
	host := testenv.StartRegistry(t)
	bk := testenv.StartBuildkitd(t, testenv.WithInsecureRegistries(host))
	busybox := testenv.BusyboxBase(t, host)
	ref, dgst, _ := strings.Cut(busybox, "@")

	dir := t.TempDir()
	testenv.CopyTree(t, filepath.Join("testdata", "factory"), dir)
	// The kernel build signs its module with the static modsign tool, as a kernel build
	// runs sign-file; the foreign-key test signs with it in the extension too.
	testenv.CopyFile(t, testenv.Modsign(t), filepath.Join(dir, "kernel", "modsign"), 0o755)
	// The quickstart's honest stand-in imager: a disk image made on a real loop device.
	testenv.CopyFile(t, filepath.Join("..", "examples", "quickstart", "talos", "imager"), filepath.Join(dir, "installer", "imager"), 0o755)
	backend, err := state.NewLayout(filepath.Join(dir, ".sovos", "state"), "default")
	if err != nil {
		t.Fatal(err)
	}
	return &factory{
		t: t, dir: dir, registry: host, repo: host + "/factory", daemon: bk, backend: backend,
		vars:     []string{"registry=" + host + "/factory", "busybox=" + ref, "busybox_digest=" + dgst},
		dockerCf: t.TempDir(),
	}
}

func readRel(f *factory, rel string) (string, error) {
	data, err := os.ReadFile(filepath.Join(f.dir, rel))
	return string(data), err
}

func (f *factory) write(rel, content string) {
	f.t.Helper()
	if err := os.WriteFile(filepath.Join(f.dir, rel), []byte(content), 0o644); err != nil {
		f.t.Fatal(err)
	}
}

// plan evaluates the configuration with the real hasher and plans against the state.
func (f *factory) plan(promote bool) *planner.Plan {
	f.t.Helper()
	return f.planWith(planner.Options{Promote: promote})
}

// planWith is plan with more options (Targets, Replace); it always refreshes.
func (f *factory) planWith(opts planner.Options) *planner.Plan {
	f.t.Helper()
	ctx := context.Background()
	h := hashing.NewHasher(hashing.HasherOptions{CacheDir: filepath.Join(f.dir, ".sovos", "cache"), Refresh: true})
	cfg, diags := config.Load(ctx, f.dir, config.EvalOptions{Hooks: h, Vars: f.vars})
	if diags.HasErrors() {
		f.t.Fatalf("config: %s", diags.Error())
	}
	prior, digest, err := f.backend.Read(ctx)
	if err != nil {
		f.t.Fatal(err)
	}
	opts.Refresh, opts.Registry = true, oci.New(oci.WithInsecure(cfg.Settings.InsecureRegistries...))
	p, err := planner.MakePlan(ctx, cfg, prior, digest, opts)
	if err != nil {
		f.t.Fatal(err)
	}
	return p
}

// apply carries out p against the factory's daemon and state.
func (f *factory) apply(ctx context.Context, p *planner.Plan, opts executor.Options) (*executor.Summary, error) {
	f.t.Helper()
	s, _, err := f.backend.Read(context.Background())
	if err != nil {
		f.t.Fatal(err)
	}
	if s == nil {
		s = state.New("default", "test")
	}
	opts.Writer = state.NewWriter(f.backend, s, nil)
	opts.Dir = f.dir
	opts.Registry = oci.New(oci.WithInsecure(p.Config.Settings.InsecureRegistries...))
	if opts.Parallelism == 0 {
		opts.Parallelism = 4
	}
	pool := bkdriver.NewPool(func(ctx context.Context, builder string) (*bkdriver.Driver, error) {
		return bkdriver.New(ctx, f.daemon.Addr, bkdriver.WithInsecureRegistries(f.registry), bkdriver.WithDockerConfigDir(f.dockerCf))
	})
	defer pool.Close()
	opts.Builders = func(ctx context.Context, builder string) (executor.Builder, error) {
		return pool.Get(ctx, builder)
	}
	if testing.Verbose() {
		opts.Progress, opts.ProgressMode = testWriter{f.t}, "plain"
	}
	opts.Logger = hclog.New(&hclog.LoggerOptions{Level: hclog.Warn, Output: testWriter{f.t}})
	sum, err := executor.Apply(ctx, p, opts)
	if sum != nil && testing.Verbose() {
		var b strings.Builder
		views.ApplySummary(&b, sum)
		f.t.Logf("summary:\n%s", b.String())
	}
	return sum, err
}

func (f *factory) state() *state.State {
	f.t.Helper()
	s, _, err := f.backend.Read(context.Background())
	if err != nil || s == nil {
		f.t.Fatalf("reading the state: %v (state %v)", err, s)
	}
	return s
}

// solves counts the builds the daemon has a record of: the daemon's word on what ran,
// not sovos's.
func (f *factory) solves() int {
	f.t.Helper()
	ctx := context.Background()
	c, err := client.New(ctx, f.daemon.Addr)
	if err != nil {
		f.t.Fatal(err)
	}
	defer c.Close()
	stream, err := c.ControlClient().ListenBuildHistory(ctx, &controlapi.BuildHistoryRequest{EarlyExit: true})
	if err != nil {
		f.t.Fatal(err)
	}
	refs := map[string]bool{}
	for {
		ev, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			f.t.Fatal(err)
		}
		if ev.Record != nil {
			refs[ev.Record.Ref] = true
		}
	}
	return len(refs)
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	if line := strings.TrimRight(string(p), "\n"); strings.TrimSpace(line) != "" {
		w.t.Log(line)
	}
	return len(p), nil
}

func actions(p *planner.Plan) map[string]string {
	out := map[string]string{}
	for _, c := range p.Changes {
		out[c.Address] = string(c.Action)
	}
	return out
}

func outcomes(s *executor.Summary) map[string]string {
	out := map[string]string{}
	for _, r := range s.Resources {
		out[r.Address] = string(r.Outcome)
	}
	return out
}

func digests(s *state.State) map[string]string {
	out := map[string]string{}
	for _, r := range s.Resources {
		if r.Digest != "" {
			out[r.Address] = r.Digest
		}
	}
	return out
}

func registryDigest(t testing.TB, ref string) string {
	t.Helper()
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	d, err := remote.Head(r)
	if err != nil {
		t.Fatalf("HEAD %s: %v", ref, err)
	}
	return d.Digest.String()
}

func equalMaps(t testing.TB, what string, got, want map[string]string) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: got %v, want %v", what, got, want)
		return
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: got %v, want %v", what, got, want)
			return
		}
	}
}
