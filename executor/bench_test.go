package executor_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/moby/buildkit/client"
	"github.com/tonistiigi/fsutil"

	"github.com/urmanac/sovos/config"
	"github.com/urmanac/sovos/executor"
	"github.com/urmanac/sovos/executor/bkdriver"
	"github.com/urmanac/sovos/hashing"
	"github.com/urmanac/sovos/internal/oci"
	"github.com/urmanac/sovos/internal/testenv"
	"github.com/urmanac/sovos/planner"
	"github.com/urmanac/sovos/state"
)

// benchConfig is 8 independent small builds; var.n changes every iteration so each one
// really runs (a new build arg misses BuildKit's cache).
const benchConfig = `
variable "registry" { type = string }
variable "busybox" { type = string }
variable "n" { type = string }

sovos { insecure_registries = [split("/", var.registry)[0]] }

source "s" {
  for_each = toset(["0", "1", "2", "3", "4", "5", "6", "7"])
  path     = "./src/${each.key}"
}

kernel "k" {
  for_each = toset(["0", "1", "2", "3", "4", "5", "6", "7"])
  source   = source.s[each.key]
  image    = "${var.registry}/bench${each.key}"
  args     = { BUSYBOX = var.busybox, N = var.n }
}
`

const benchDockerfile = `ARG BUSYBOX
FROM ${BUSYBOX}
ARG N
COPY data.txt /data.txt
RUN echo "$N" > /n.txt && sha256sum /data.txt >> /n.txt
`

type benchEnv struct {
	dir, registry, busybox string
	daemon                 *testenv.Buildkitd
	driver                 *bkdriver.Driver
	dockerCf               string
}

func newBenchEnv(b *testing.B) *benchEnv {
	host := testenv.StartRegistry(b)
	bk := testenv.StartBuildkitd(b, testenv.WithInsecureRegistries(host))
	e := &benchEnv{dir: b.TempDir(), registry: host, busybox: testenv.BusyboxBase(b, host), daemon: bk, dockerCf: b.TempDir()}
	if err := os.WriteFile(filepath.Join(e.dir, "main.sovos.hcl"), []byte(benchConfig), 0o644); err != nil {
		b.Fatal(err)
	}
	for i := range 8 {
		d := filepath.Join(e.dir, "src", strconv.Itoa(i))
		os.MkdirAll(d, 0o755)
		os.WriteFile(filepath.Join(d, "Dockerfile"), []byte(benchDockerfile), 0o644)
		os.WriteFile(filepath.Join(d, "data.txt"), []byte(fmt.Sprintf("source %d\n", i)), 0o644)
	}
	drv, err := bkdriver.New(context.Background(), bk.Addr, bkdriver.WithInsecureRegistries(host), bkdriver.WithDockerConfigDir(e.dockerCf))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { drv.Close() })
	e.driver = drv
	return e
}

// plan makes the plan of iteration n against the state in backend.
func (e *benchEnv) plan(b *testing.B, backend state.Backend, n string) (*planner.Plan, *state.State) {
	ctx := context.Background()
	h := hashing.NewHasher(hashing.HasherOptions{CacheDir: filepath.Join(e.dir, ".sovos", "cache")})
	cfg, diags := config.Load(ctx, e.dir, config.EvalOptions{Hooks: h, Vars: []string{
		"registry=" + e.registry + "/bench", "busybox=" + e.busybox, "n=" + n}})
	if diags.HasErrors() {
		b.Fatal(diags.Error())
	}
	prior, digest, err := backend.Read(ctx)
	if err != nil {
		b.Fatal(err)
	}
	p, err := planner.MakePlan(ctx, cfg, prior, digest, planner.Options{})
	if err != nil {
		b.Fatal(err)
	}
	if p.Summary.Create+p.Summary.Rebuild != 8 {
		b.Fatalf("plan builds %d resources, want 8", p.Summary.Create+p.Summary.Rebuild)
	}
	working, _, _ := backend.Read(ctx)
	if working == nil {
		working = state.New("default", "bench")
	}
	return p, working
}

// BenchmarkApply8 applies 8 independent small builds, interleaving in every iteration
// (so the shared machine's noise hits all alike):
//   - sovos at parallelism 1 and 4 (executor.Apply of a plan; planning is not timed),
//   - the same builds through the BuildKit driver alone, one after the other,
//   - the same builds issued directly through the BuildKit client (Solve with the
//     Dockerfile frontend, push by tag), sequentially and 4 at a time.
//
// It reports the ratios: p4/p1 (what parallelism buys), sovos-p1/direct-p1 (sovos's whole
// overhead per node, the driver's one-session gateway build included) and
// sovos-p1/driver-p1 (the executor's own overhead).
func BenchmarkApply8(b *testing.B) {
	e := newBenchEnv(b)
	backend, err := state.NewLayout(filepath.Join(b.TempDir(), "state"), "default")
	if err != nil {
		b.Fatal(err)
	}
	iter := 0
	next := func() string { iter++; return strconv.Itoa(iter) }
	sovos := func(par int) time.Duration {
		p, working := e.plan(b, backend, next())
		t0 := time.Now()
		_, err := executor.Apply(context.Background(), p, executor.Options{
			Parallelism: par,
			Builders: func(context.Context, string) (executor.Builder, error) {
				return e.driver, nil
			},
			Writer:   state.NewWriter(backend, working, nil),
			Dir:      e.dir,
			Registry: oci.New(oci.WithInsecure(e.registry)),
		})
		if err != nil {
			b.Fatal(err)
		}
		return time.Since(t0)
	}
	driver := func() time.Duration {
		n := next()
		t0 := time.Now()
		for k := range 8 {
			ch := make(chan *client.SolveStatus)
			go func() {
				for range ch {
				}
			}()
			_, err := e.driver.Build(context.Background(), bkdriver.Request{
				Address:    "k" + strconv.Itoa(k),
				ContextDir: filepath.Join(e.dir, "src", strconv.Itoa(k)),
				Args:       map[string]string{"BUSYBOX": e.busybox, "N": n},
				Image:      fmt.Sprintf("%s/driver/bench%d", e.registry, k),
				Tag:        n,
			}, ch)
			close(ch)
			if err != nil {
				b.Fatal(err)
			}
		}
		return time.Since(t0)
	}
	direct := func(par int) time.Duration {
		n := next()
		c := e.driver.Client()
		t0 := time.Now()
		sem := make(chan struct{}, par)
		errs := make(chan error, 8)
		for k := range 8 {
			sem <- struct{}{}
			go func() {
				defer func() { <-sem }()
				errs <- e.direct(c, k, n)
			}()
		}
		for range 8 {
			if err := <-errs; err != nil {
				b.Fatal(err)
			}
		}
		return time.Since(t0)
	}

	// Warm the daemon (base image, frontend) outside the measurements.
	sovos(4)
	direct(4)
	var s1, s4, d1, d4, dr time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		s1 += sovos(1)
		s4 += sovos(4)
		dr += driver()
		d1 += direct(1)
		d4 += direct(4)
		b.StartTimer()
	}
	per := func(d time.Duration) float64 { return float64(d.Milliseconds()) / float64(b.N) / 8 }
	b.ReportMetric(per(s1), "sovos-p1-ms/node")
	b.ReportMetric(per(s4), "sovos-p4-ms/node")
	b.ReportMetric(per(dr), "driver-p1-ms/node")
	b.ReportMetric(per(d1), "direct-p1-ms/node")
	b.ReportMetric(per(d4), "direct-p4-ms/node")
	b.ReportMetric(float64(s4)/float64(s1), "sovos-p4/p1")
	b.ReportMetric(float64(s1)/float64(d1), "sovos/direct")
	b.ReportMetric(float64(s1)/float64(dr), "sovos/driver")
	b.ReportMetric(float64(d4)/float64(d1), "direct-p4/p1")
}

// direct builds source k with build arg N=n and pushes it, with nothing but the BuildKit
// client: the baseline sovos's overhead is measured against.
func (e *benchEnv) direct(c *client.Client, k int, n string) error {
	dir := filepath.Join(e.dir, "src", strconv.Itoa(k))
	fs, err := fsutil.NewFS(dir)
	if err != nil {
		return err
	}
	ch := make(chan *client.SolveStatus)
	go func() {
		for range ch {
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	_, err = c.Solve(ctx, nil, client.SolveOpt{
		Frontend: "dockerfile.v0",
		FrontendAttrs: map[string]string{
			"build-arg:BUSYBOX": e.busybox,
			"build-arg:N":       n,
		},
		LocalMounts: map[string]fsutil.FS{"context": fs, "dockerfile": fs},
		Exports: []client.ExportEntry{{Type: client.ExporterImage, Attrs: map[string]string{
			"name": fmt.Sprintf("%s/direct/bench%d:%s", e.registry, k, n), "push": "true", "registry.insecure": "true",
		}}},
	}, ch)
	return err
}
