package executor_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/urmanac/sovos/executor"
	"github.com/urmanac/sovos/executor/verify"
	"github.com/urmanac/sovos/planner"
)

// TestApplyHostileExtensions builds two extensions of the factory's kernel through a
// real BuildKit daemon and registry: one holds no module at all (firmware), the other a
// symbolic link named like a module that points at an unsigned file. Both fail their
// apply, naming what is wrong; `modules = false` then lets the first one pass.
func TestApplyHostileExtensions(t *testing.T) {
	f := newFactory(t)
	ctx := context.Background()
	manifest, err := os.ReadFile(filepath.Join(f.dir, "ext", "manifest.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for dir, files := range map[string]map[string]string{
		"fw": {
			"Dockerfile":   "FROM scratch\nCOPY manifest.yaml /manifest.yaml\nCOPY firmware.bin /rootfs/usr/lib/firmware/hello/firmware.bin\n",
			"firmware.bin": "not a module\n",
		},
		"sym": {"Dockerfile": `ARG BUSYBOX
FROM ${BUSYBOX} AS links
RUN mkdir -p /out/rootfs/usr/lib/modules/extras /out/rootfs/usr/lib/firmware && \
    echo unsigned > /out/rootfs/usr/lib/firmware/evil.bin && \
    ln -s ../../firmware/evil.bin /out/rootfs/usr/lib/modules/extras/evil.ko

FROM scratch
COPY --from=links /out/ /
COPY manifest.yaml /manifest.yaml
`},
	} {
		if err := os.MkdirAll(filepath.Join(f.dir, dir), 0o755); err != nil {
			t.Fatal(err)
		}
		files["manifest.yaml"] = string(manifest)
		for name, content := range files {
			f.write(filepath.Join(dir, name), content)
		}
	}
	extensions := func(fwAttrs string) string {
		return `
source "fw" { path = "./fw" }
source "sym" { path = "./sym" }

extension "fw" {
  source = source.fw
  kernel = kernel.k
  image  = "${var.registry}/fw"
  ` + fwAttrs + `
}

extension "sym" {
  source = source.sym
  kernel = kernel.k
  image  = "${var.registry}/sym"
  args   = { BUSYBOX = image.busybox.ref }
}
`
	}
	f.write("hostile.sovos.hcl", extensions(""))

	// 1. Neither passes: the apply fails naming each extension and why.
	p := f.planWith(planner.Options{Targets: []string{"extension.fw", "extension.sym"}})
	equalMaps(t, "first plan", actions(p), map[string]string{"kernel.k": "create", "extension.fw": "create", "extension.sym": "create"})
	sum, err := f.apply(ctx, p, executor.Options{})
	if err == nil {
		t.Fatal("apply of an extension without modules and one with a symlinked unsigned module succeeded")
	}
	msg := err.Error()
	for _, want := range []string{
		"extension.fw", verify.NoModulesProblem,
		"extension.sym", "/rootfs/usr/lib/modules/extras/evil.ko: unsigned (symbolic link to /rootfs/usr/lib/firmware/evil.bin: no module signature appended)",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("apply error lacks %q:\n%s", want, msg)
		}
	}
	t.Logf("apply error:\n%s", msg)
	equalMaps(t, "first apply", outcomes(sum), map[string]string{"kernel.k": "built", "extension.fw": "failed", "extension.sym": "failed"})
	st := f.state()
	for _, addr := range []string{"extension.fw", "extension.sym"} {
		if r := st.Resource(addr); r == nil || r.Verified == nil || r.Verified.OK {
			t.Errorf("%s: the failed verification is not recorded: %+v", addr, r)
		}
	}

	// 2. modules = false: the firmware extension is rebuilt (the attribute is hashed)
	// and passes; the symlinked module still fails.
	f.write("hostile.sovos.hcl", extensions("modules = false"))
	p = f.planWith(planner.Options{Targets: []string{"extension.fw"}})
	c := p.Change("extension.fw")
	if c == nil || c.Action != planner.ActionRebuild {
		t.Fatalf("plan after modules = false: %v", actions(p))
	}
	if _, err := f.apply(ctx, p, executor.Options{}); err != nil {
		t.Fatalf("apply of an extension with modules = false: %v", err)
	}
	if r := f.state().Resource("extension.fw"); r.Verified == nil || !r.Verified.OK || r.Verified.Digest != r.Digest || len(r.Verified.Modules) != 0 {
		t.Errorf("extension.fw after modules = false: %+v", r.Verified)
	}
	p = f.planWith(planner.Options{Targets: []string{"extension.sym"}})
	if c := p.Change("extension.sym"); c == nil || c.Action != planner.ActionRebuild {
		t.Fatalf("plan of the failed symlink extension: %v", actions(p))
	}
	if _, err := f.apply(ctx, p, executor.Options{}); err == nil || !strings.Contains(err.Error(), "evil.ko: unsigned") {
		t.Errorf("second apply of the symlinked unsigned module: %v", err)
	}
}
