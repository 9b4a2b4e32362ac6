package bkdriver

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/moby/buildkit/client"
	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/util/progress/progressui"
	"github.com/urmanac/sovos/internal/testenv"
)

// kernelDockerfile mimics a Talos kernel build: kernel-build generates a signing
// key once, and both the kernel image and a module package carry it.
const kernelDockerfile = `
FROM scratch AS kernel-build
COPY genkey /genkey
RUN ["/genkey", "key", "/src/certs/signing_key.x509"]

FROM scratch AS module-pkg
COPY --from=kernel-build /src/certs/signing_key.x509 /lib/modules/signed-by

FROM scratch AS kernel
COPY --from=kernel-build /src/certs/signing_key.x509 /boot/signing_key.x509
`

// The key requirement of the driver: one Build shares the kernel-build step
// between the kernel image, its module stage and the certificate read back;
// after a prune, a new Build generates a new key (which is why the three must
// never be built separately).
func TestBuildSharesStepsInOneSession(t *testing.T) {
	e := newEnv(t)
	src := t.TempDir()
	writeFiles(t, src, map[string]string{"Dockerfile": kernelDockerfile})
	buildHelper(t, src, "genkey")

	req := Request{
		Address:     "kernel.sovereign",
		ContextDir:  src,
		Target:      "kernel",
		Platform:    "linux/" + runtime.GOARCH,
		Image:       e.registry + "/test/kernel",
		Tag:         "0123456789abcdef",
		Stages:      []Stage{{Target: "module-pkg", Image: e.registry + "/test/module-pkg"}},
		Annotations: map[string]string{"dev.sovos.hash": "0123456789abcdef0123"},
		ReadFile:    &FileRef{Target: "kernel-build", Path: "/src/certs/signing_key.x509"},
	}
	start := time.Now()
	res, err := e.build(t, req)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("first build: %s", time.Since(start))

	key := res.File
	if len(key) != 32 {
		t.Fatalf("ReadFile returned %d bytes, want the 32-byte key", len(key))
	}
	kernel := imageFiles(t, req.Image+":"+req.Tag)["/boot/signing_key.x509"]
	module := imageFiles(t, req.Stages[0].Image+":"+req.Tag)["/lib/modules/signed-by"]
	if !bytes.Equal(kernel, key) || !bytes.Equal(module, key) {
		t.Fatalf("one session must give one key:\n read back %x\n kernel    %x\n module    %x", key, kernel, module)
	}

	// The digests come from the exporter and match what the registry serves.
	for ref, want := range map[string]string{
		req.Image + ":" + req.Tag:           res.Digest,
		req.Stages[0].Image + ":" + req.Tag: res.Stages["module-pkg"],
	} {
		m, got := manifestOf(t, ref)
		if got != want {
			t.Errorf("%s: registry digest %s, Build reported %s", ref, got, want)
		}
		if m.Annotations["dev.sovos.hash"] != req.Annotations["dev.sovos.hash"] {
			t.Errorf("%s: manifest annotations %v, want dev.sovos.hash", ref, m.Annotations)
		}
	}

	// One outer build and one nested build for the stage, as the daemon saw them.
	if n := e.daemon.Solves(t); n != 2 {
		t.Errorf("daemon recorded %d solves, want 2", n)
	}

	// Same request again: everything is cached, nothing changes.
	start = time.Now()
	res2, err := e.build(t, req)
	t.Logf("cached rebuild: %s", time.Since(start))
	if err != nil {
		t.Fatal(err)
	}
	// The image is the same; only its provenance (which records when the build ran)
	// and so the index holding both are new.
	image := func(dgst string) string { return testenv.ReadPushed(t, req.Image+"@"+dgst).Image }
	if image(res2.Digest) != image(res.Digest) || !bytes.Equal(res2.File, key) {
		t.Errorf("a cached rebuild changed the result: %s/%x -> %s/%x", image(res.Digest), key, image(res2.Digest), res2.File)
	}

	// After a prune the step runs again and yields a new key, consistently
	// across the three outputs of the new session.
	start = time.Now()
	if err := e.driver.Client().Prune(context.Background(), nil, client.PruneAll); err != nil {
		t.Fatal(err)
	}
	t.Logf("prune: %s", time.Since(start))
	start = time.Now()
	res3, err := e.build(t, req)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("build after prune: %s", time.Since(start))
	if bytes.Equal(res3.File, key) {
		t.Fatalf("after a prune the key should be regenerated")
	}
	if image(res3.Digest) == image(res.Digest) {
		t.Errorf("a new key should give a new kernel image")
	}
	kernel = imageFiles(t, req.Image+"@"+res3.Digest)["/boot/signing_key.x509"]
	module = imageFiles(t, req.Stages[0].Image+"@"+res3.Stages["module-pkg"])["/lib/modules/signed-by"]
	if !bytes.Equal(kernel, res3.File) || !bytes.Equal(module, res3.File) {
		t.Fatalf("after prune, one session must still give one key:\n read back %x\n kernel    %x\n module    %x", res3.File, kernel, module)
	}

	// NoCache (what -replace asks for) regenerates the key without a prune, and the
	// session still shares it between the three outputs.
	req.NoCache = true
	res4, err := e.build(t, req)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(res4.File, res3.File) {
		t.Fatalf("a no-cache build should regenerate the key")
	}
	kernel = imageFiles(t, req.Image+"@"+res4.Digest)["/boot/signing_key.x509"]
	module = imageFiles(t, req.Stages[0].Image+"@"+res4.Stages["module-pkg"])["/lib/modules/signed-by"]
	if !bytes.Equal(kernel, res4.File) || !bytes.Equal(module, res4.File) {
		t.Fatalf("no-cache, one session must still give one key:\n read back %x\n kernel    %x\n module    %x", res4.File, kernel, module)
	}
}

// The planner's hash leaves .git and .sovos out of a path source, so the build context
// must too: a build may depend only on what is hashed.
func TestBuildContextLeavesOutGitAndSovos(t *testing.T) {
	e := newEnv(t)
	src := t.TempDir()
	writeFiles(t, src, map[string]string{
		"Dockerfile":         "FROM scratch\nCOPY . /ctx/\n",
		"keep.txt":           "kept\n",
		"sub/keep.txt":       "kept too\n",
		".git/HEAD":          "ref: refs/heads/main\n",
		"sub/.git/config":    "[core]\n",
		".sovos/cache/x":     "cache\n",
		"sub/.sovos/state/y": "state\n",
	})
	req := Request{Address: "kernel.k", ContextDir: src, Platform: "linux/" + runtime.GOARCH,
		Image: e.registry + "/test/ctx", Tag: "0123456789abcdef"}
	res, err := e.build(t, req)
	if err != nil {
		t.Fatal(err)
	}
	files := imageFiles(t, req.Image+"@"+res.Digest)
	for _, want := range []string{"/ctx/keep.txt", "/ctx/sub/keep.txt"} {
		if _, ok := files[want]; !ok {
			t.Errorf("%s missing from the image", want)
		}
	}
	for p := range files {
		if strings.Contains(p, "/.git") || strings.Contains(p, "/.sovos") {
			t.Errorf("%s reached the build context", p)
		}
	}
}

// Build args, named contexts (a local directory and an image), a secret, a
// base image pulled from the plain-HTTP test registry and a registry cache.
func TestBuildArgsContextsSecrets(t *testing.T) {
	e := newEnv(t)
	base := testenv.BusyboxBase(t, e.registry)

	const secret = "s3cr3t-value-never-stored"
	t.Setenv("SOVOS_TEST_TOKEN", secret)
	sum := sha256.Sum256([]byte(secret))

	src := t.TempDir()
	writeFiles(t, src, map[string]string{
		"build/Containerfile": `
FROM base
ARG GREETING
RUN echo "$GREETING" > /greeting
COPY --from=extra data.txt /extra.txt
COPY local.txt /local.txt
RUN --mount=type=secret,id=token sha256sum /run/secrets/token | cut -d' ' -f1 > /token.sha
`,
		"local.txt": "from the main context\n",
	})
	extra := t.TempDir()
	writeFiles(t, extra, map[string]string{"data.txt": "from a named context\n"})

	req := Request{
		Address:    "installer.test",
		ContextDir: src,
		Dockerfile: "build/Containerfile",
		Args:       map[string]string{"GREETING": "hello sovos"},
		Contexts: map[string]Context{
			"extra": {Dir: extra},
			"base":  {Image: base},
		},
		Secrets: map[string]Secret{"token": {Env: "SOVOS_TEST_TOKEN"}},
		Image:   e.registry + "/test/installer",
		Tag:     "t1",
		Cache:   &Cache{Ref: e.registry + "/test/cache:installer", Mode: "max"},
	}
	start := time.Now()
	res, err := e.build(t, req)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("build: %s", time.Since(start))

	files := imageFiles(t, req.Image+"@"+res.Digest)
	for path, want := range map[string]string{
		"/greeting":  "hello sovos\n",
		"/extra.txt": "from a named context\n",
		"/local.txt": "from the main context\n",
		"/token.sha": hex.EncodeToString(sum[:]) + "\n",
	} {
		if got := string(files[path]); got != want {
			t.Errorf("%s = %q, want %q", path, got, want)
		}
	}
	for path, dt := range files {
		if bytes.Contains(dt, []byte(secret)) {
			t.Errorf("the secret leaked into %s", path)
		}
	}
	m, _ := manifestOf(t, req.Image+"@"+res.Digest)
	r, err := name.ParseReference(req.Image+"@"+res.Digest, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	img, err := remote.Image(r)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := img.RawConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(cfg, []byte(secret)) {
		t.Errorf("the secret leaked into the image config %s (history)", m.Config.Digest)
	}
	if !bytes.Contains(cfg, []byte("GREETING")) {
		t.Errorf("expected the build arg in the image history, to be sure history is what we searched")
	}

	// The registry cache was exported.
	if _, d := manifestOf(t, req.Cache.Ref); d == "" {
		t.Errorf("no cache manifest at %s", req.Cache.Ref)
	}
}

// The profile imager path: an LLB run of an image over a generated file,
// pushed to the registry and exported to a local directory.
func TestSolveLLB(t *testing.T) {
	e := newEnv(t)
	base := testenv.BusyboxBase(t, e.registry)

	profile := llb.Scratch().File(llb.Mkfile("/profile.yaml", 0o644, []byte("arch: amd64\n")))
	run := llb.Image(base).Run(
		llb.Args([]string{"/bin/sh", "-c", "mkdir -p /out && sed s/amd64/imaged/ /in/profile.yaml > /out/result.yaml"}),
		llb.AddMount("/in", profile, llb.Readonly),
	)
	out := run.AddMount("/out", llb.Scratch())
	def, err := out.Marshal(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	export := Export{
		Address:     "profile.test",
		Image:       e.registry + "/test/profile:t1",
		Annotations: map[string]string{"dev.sovos.hash": "feed"},
		Dir:         dir,
	}
	ch := make(chan *client.SolveStatus)
	go func() {
		for range ch {
		}
	}()
	dgst, err := e.driver.Solve(context.Background(), def, export, ch)
	close(ch)
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(dir, "result.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != "arch: imaged\n" {
		t.Errorf("local export: result.yaml = %q", got)
	}
	if files := imageFiles(t, export.Image); string(files["/result.yaml"]) != "arch: imaged\n" {
		t.Errorf("pushed image: result.yaml = %q", files["/result.yaml"])
	}
	m, regDigest := manifestOf(t, export.Image)
	if regDigest != dgst {
		t.Errorf("registry digest %s, Solve reported %s", regDigest, dgst)
	}
	if m.Annotations["dev.sovos.hash"] != "feed" {
		t.Errorf("annotations %v", m.Annotations)
	}
}

// A failing step names the resource, and a daemon killed mid-build gives an
// error rather than a hang.
func TestBuildFailures(t *testing.T) {
	e := newEnv(t)
	src := t.TempDir()
	writeFiles(t, src, map[string]string{"Dockerfile": "FROM scratch\nCOPY genkey /genkey\nRUN [\"/genkey\", \"bad-usage\"]\n"})
	buildHelper(t, src, "genkey")
	_, err := e.build(t, Request{Address: "extension.broken", ContextDir: src, Image: e.registry + "/test/broken", Tag: "t"})
	if err == nil {
		t.Fatal("want an error from a failing RUN")
	}
	for _, want := range []string{"extension.broken", "exit code: 2"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}

	writeFiles(t, src, map[string]string{"Dockerfile.slow": "FROM scratch\nCOPY genkey /genkey\nRUN [\"/genkey\", \"sleep\"]\n"})
	slow := Request{Address: "kernel.slow", ContextDir: src, Dockerfile: "Dockerfile.slow", Image: e.registry + "/test/slow", Tag: "t"}

	// Cancelling the context (Ctrl-C) stops a build promptly.
	cctx, ccancel := context.WithCancel(context.Background())
	time.AfterFunc(time.Second, ccancel)
	start := time.Now()
	_, err = e.driver.Build(cctx, slow, nil)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled build: error %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > 15*time.Second {
		t.Errorf("cancelled build returned after %s", d)
	}

	// Kill the daemon while a build waits on a long step.
	go func() {
		time.Sleep(1500 * time.Millisecond)
		e.daemon.Kill()
	}()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ch := make(chan *client.SolveStatus)
	go func() {
		for range ch {
		}
	}()
	_, err = e.driver.Build(ctx, slow, ch)
	close(ch)
	if err == nil {
		t.Fatal("want an error when the daemon dies")
	}
	if ctx.Err() != nil {
		t.Fatalf("the build hung until the deadline after the daemon died: %v", err)
	}
	if !strings.Contains(err.Error(), "kernel.slow") {
		t.Errorf("error %q does not name the resource", err)
	}
	t.Logf("error after kill: %v", err)
}

func TestNewUnreachableDaemon(t *testing.T) {
	addr := "unix://" + filepath.Join(t.TempDir(), "nobody-listens.sock")
	start := time.Now()
	_, err := New(context.Background(), addr, WithConnectTimeout(5*time.Second))
	if err == nil {
		t.Fatal("want an error")
	}
	t.Logf("error after %s: %v", time.Since(start), err)
	for _, want := range []string{"cannot reach BuildKit daemon at " + addr, "BUILDKIT_HOST"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

// Requests a user can get wrong fail before any daemon work, naming the resource.
func TestBuildRequestErrors(t *testing.T) {
	src := t.TempDir()
	writeFiles(t, src, map[string]string{"Dockerfile": "FROM scratch\n"})
	t.Setenv("SOVOS_SET", "x")
	tests := []struct {
		name string
		req  Request
		want string
	}{
		{"no image", Request{ContextDir: src}, "no image to push to"},
		{"missing context", Request{Image: "r/i", ContextDir: filepath.Join(src, "nope")}, "build context"},
		{"missing dockerfile", Request{Image: "r/i", ContextDir: src, Dockerfile: "Pkgfile"}, "dockerfile Pkgfile not found"},
		{"stage without image", Request{Image: "r/i", ContextDir: src, Stages: []Stage{{Target: "x"}}}, `stage "x"`},
		{"context both", Request{Image: "r/i", ContextDir: src, Contexts: map[string]Context{"c": {Dir: src, Image: "a/b"}}}, "not both"},
		{"secret env unset", Request{Image: "r/i", ContextDir: src, Secrets: map[string]Secret{"tok": {Env: "SOVOS_UNSET_FOR_TEST"}}}, "SOVOS_UNSET_FOR_TEST is not set"},
		{"secret file missing", Request{Image: "r/i", ContextDir: src, Secrets: map[string]Secret{"tok": {File: filepath.Join(src, "none")}}}, `secret "tok"`},
	}
	d := &Driver{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.req.Address = "kernel.k"
			_, err := d.Build(context.Background(), tt.req, nil)
			if err == nil {
				t.Fatal("want an error")
			}
			if !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "kernel.k: ") {
				t.Errorf("error %q, want it to start with the address and mention %q", err, tt.want)
			}
		})
	}
}

// Concurrent builds share one caller-owned progress channel and one progressui
// display; each vertex carries its resource's address.
func TestConcurrentBuildsOneDisplay(t *testing.T) {
	e := newEnv(t)
	var out bytes.Buffer
	display, err := progressui.NewDisplay(&out, progressui.PlainMode)
	if err != nil {
		t.Fatal(err)
	}
	ch := make(chan *client.SolveStatus)
	displayed := make(chan error, 1)
	go func() {
		_, err := display.UpdateFrom(context.Background(), ch)
		displayed <- err
	}()

	addrs := []string{"extension.a", "extension.b", "extension.c"}
	errs := make(chan error, len(addrs))
	for _, a := range addrs {
		src := t.TempDir()
		writeFiles(t, src, map[string]string{"Dockerfile": "FROM scratch\nCOPY f /f\n", "f": a})
		go func() {
			_, err := e.driver.Build(context.Background(), Request{
				Address: a, ContextDir: src, Image: e.registry + "/test/" + a, Tag: "t",
			}, ch)
			errs <- err
		}()
	}
	for range addrs {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	close(ch) // ours; every Build has returned, so none sends any more
	if err := <-displayed; err != nil {
		t.Fatal(err)
	}
	t.Logf("progress:\n%s", out.String())
	for _, a := range addrs {
		if !strings.Contains(out.String(), "["+a+"] ") {
			t.Errorf("progress has no line for %s:\n%s", a, out.String())
		}
	}
}
