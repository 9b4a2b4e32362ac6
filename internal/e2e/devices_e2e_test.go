package e2e

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/moby/buildkit/client"
	"github.com/moby/buildkit/client/llb"

	"github.com/urmanac/sovos/executor/bkdriver"
	"github.com/urmanac/sovos/internal/imagerinit"
	"github.com/urmanac/sovos/internal/testenv"
)

// BuildKit's security.insecure entitlement alone is not `docker run --privileged -v
// /dev:/dev`: its /dev is a tmpfs with a few loop nodes, so the quickstart's stand-in
// imager refuses to run there, as the real one would fail on its partition nodes
// (SPEC §2 Boot media). The same privileged step run through imager-init, which mounts
// the host's devices, makes the disk image: the helper is what makes the difference.
func TestStandInNeedsTheHostsDevices(t *testing.T) {
	if runtime.GOARCH != "amd64" && runtime.GOARCH != "arm64" {
		t.Skip("imager-init is built for amd64 and arm64")
	}
	host := testenv.StartRegistry(t)
	bk := testenv.StartBuildkitd(t, testenv.WithInsecureRegistries(host))
	ref, _ := pushImager(t, host, "e2e/imager", standIn(t))
	ctx := context.Background()
	drv, err := bkdriver.New(ctx, bk.Addr, bkdriver.WithInsecureRegistries(host), bkdriver.WithDockerConfigDir(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { drv.Close() })

	input := t.TempDir()
	helper, err := imagerinit.Binary(runtime.GOARCH)
	if err != nil {
		t.Fatal(err)
	}
	profile := "arch: \"" + runtime.GOARCH + "\"\nplatform: \"metal\"\noutput:\n  kind: \"image\"\n  outFormat: \"raw\"\n  imageOptions:\n    diskSize: 8388608\n"
	if err := os.WriteFile(filepath.Join(input, "imager-init"), helper, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(input, "profile.yaml"), []byte(profile), 0o644); err != nil {
		t.Fatal(err)
	}

	// run solves the stand-in's step, privileged, with args, and returns its output
	// directory, the step's log and the solve's error.
	run := func(args ...string) (string, string, error) {
		t.Helper()
		st := llb.Image(ref).Run(llb.Args(args), llb.Security(llb.SecurityModeInsecure),
			llb.AddMount("/sovos", llb.Local("input"), llb.Readonly)).AddMount("/out", llb.Scratch())
		def, err := st.Marshal(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var log strings.Builder
		var mu sync.Mutex
		ch := make(chan *client.SolveStatus)
		done := make(chan struct{})
		go func() {
			defer close(done)
			for s := range ch {
				mu.Lock()
				for _, l := range s.Logs {
					log.Write(l.Data)
				}
				mu.Unlock()
			}
		}()
		out := t.TempDir()
		_, err = drv.Solve(ctx, def, bkdriver.Export{Address: "test", Dir: out, LocalDirs: map[string]string{"input": input}}, ch, bkdriver.Privileged())
		close(ch)
		<-done
		return out, log.String(), err
	}

	// BuildKit's /dev: the stand-in refuses, naming what it needs.
	_, log, err := run("/bin/sh", "-c", "exec /bin/imager - </sovos/profile.yaml")
	if err == nil || !strings.Contains(log, "/dev is a tmpfs, not the host's devices (devtmpfs)") {
		t.Errorf("the stand-in in BuildKit's own /dev: %v\n%s", err, log)
	}

	// Through imager-init: the host's devices, a loop device, an ext2 disk image.
	out, log, err := run("/sovos/imager-init", "/sovos/profile.yaml", "imager", "-")
	if err != nil {
		t.Fatalf("the stand-in through imager-init: %v\n%s", err, log)
	}
	data, err := os.ReadFile(filepath.Join(out, "metal-"+runtime.GOARCH+".raw"))
	if err != nil || len(data) != 8388608 {
		t.Fatalf("the disk image: %d bytes, %v\n%s", len(data), err, log)
	}
	if got := testenv.Ext2File(t, bytes.NewReader(data), "profile.yaml"); string(got) != profile {
		t.Errorf("the disk image holds %q, not the profile", got)
	}
	if !strings.Contains(log, "imager: /dev/loop") {
		t.Errorf("the stand-in names no loop device:\n%s", log)
	}
}
