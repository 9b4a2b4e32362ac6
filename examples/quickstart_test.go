package examples_test

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/urmanac/sovos/config"
	"github.com/urmanac/sovos/internal/testenv"
)

// TestQuickstartValidates keeps the quickstart in the ADR-005 shape the README and
// demo.sh describe.
func TestQuickstartValidates(t *testing.T) {
	cfg := loadCleanly(t, "quickstart", config.EvalOptions{})

	files, err := filepath.Glob(filepath.Join("quickstart", "*.sovos.hcl"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no *.sovos.hcl in quickstart (%v)", err)
	}
	checkFormatted(t, files)

	if got := cfg.Settings.State.Registry; got != "127.0.0.1:5000/quickstart/sovos-state" {
		t.Errorf("state registry = %q", got)
	}
	if !slices.Equal(cfg.Settings.InsecureRegistries, []string{"127.0.0.1:5000"}) {
		t.Errorf("insecure_registries = %v", cfg.Settings.InsecureRegistries)
	}

	k := cfg.Resource("kernel.sovereign")
	if k == nil || k.Build.SigningCert == nil || k.Build.SigningCert.Target != "kernel-build" {
		t.Fatalf("kernel.sovereign has no signing_cert from kernel-build: %+v", k)
	}
	if len(k.Build.Stages) != 1 || k.Build.Stages[0].Target != "hailort-pkg" {
		t.Errorf("kernel stages = %+v, want hailort-pkg", k.Build.Stages)
	}
	ext := cfg.Resource("extension.hailort")
	if ext == nil || !slices.Equal(ext.Build.Tags, []string{"5.3.0-v1.13.3", "5.3.0"}) {
		t.Fatalf("extension.hailort = %+v", ext)
	}
	inst := cfg.Resource("installer.sovereign")
	if inst == nil || len(inst.Build.Stages) != 1 || inst.Build.Stages[0].Target != "imager" {
		t.Fatalf("installer.sovereign = %+v", inst)
	}
	for _, addr := range []string{"profile.cm4-standard", "profile.cm5-hailo10h"} {
		if cfg.Resource(addr) == nil {
			t.Errorf("no %s", addr)
		}
	}
	if img := cfg.Resource("image.upstream_installer"); img == nil || !strings.HasPrefix(img.Image.Digest, "sha256:") {
		t.Errorf("image.upstream_installer is not pinned: %+v", img)
	}
}

// TestQuickstartEndToEnd runs what `make demo` runs, against a private registry and
// buildkitd: plan, apply -promote, a plan with no changes, verify, and a one-file
// change whose plan rebuilds the extension and the profile using it, never the kernel.
// It also checks that the stand-in upstream installer is reproducible, i.e. that the
// digest pinned in main.sovos.hcl is what demo.sh pushes.
func TestQuickstartEndToEnd(t *testing.T) {
	cli := testenv.SovosCLI(t)
	if st, err := os.Stat("/bin/busybox"); err != nil || st.Size() < 1<<20 {
		testenv.SkipOrFail(t, "a static /bin/busybox is needed (apt-get install busybox-static)")
	}
	host := testenv.StartRegistry(t)
	bk := testenv.StartBuildkitd(t, testenv.WithInsecureRegistries(host))
	buildctl := testenv.ToolPath(t, "buildctl")

	tmp := t.TempDir()
	dir := filepath.Join(tmp, "quickstart")
	testenv.CopyTree(t, "quickstart", dir, ".sovos", "_out", "kernel/busybox", "kernel/modsign", "talos/busybox")
	testenv.CopyFile(t, testenv.Modsign(t), filepath.Join(dir, "kernel", "modsign"), 0o755)
	for _, dst := range []string{"kernel/busybox", "talos/busybox"} {
		testenv.CopyFile(t, "/bin/busybox", filepath.Join(dir, dst), 0o755)
	}

	env := append(offlineEnv(t),
		"BUILDKIT_HOST="+bk.Addr,
		"SOVOS_VAR_registry="+host,
		"SOVOS_VAR_platform=linux/"+runtime.GOARCH)

	// The stand-in upstream installer, pushed as demo.sh pushes it.
	meta := filepath.Join(tmp, "upstream.json")
	push := exec.Command(buildctl, "--addr", bk.Addr, "build", "--progress=quiet",
		"--frontend", "dockerfile.v0",
		"--local", "context="+filepath.Join(dir, "upstream"), "--local", "dockerfile="+filepath.Join(dir, "upstream"),
		"--opt", "platform=linux/arm64", "--opt", "build-arg:SOURCE_DATE_EPOCH=0",
		"--output", "type=image,name="+host+"/siderolabs/installer:v1.13.3,push=true,registry.insecure=true,rewrite-timestamp=true",
		"--metadata-file", meta)
	if out, err := push.CombinedOutput(); err != nil {
		t.Fatalf("pushing the upstream installer: %v\n%s", err, out)
	}
	var pushed struct {
		Digest string `json:"containerimage.digest"`
	}
	if data, err := os.ReadFile(meta); err != nil || json.Unmarshal(data, &pushed) != nil {
		t.Fatalf("reading %s: %v", meta, err)
	}
	cfg := loadCleanly(t, dir, config.EvalOptions{Environ: env})
	if pin := cfg.Resource("image.upstream_installer").Image.Digest; pin != pushed.Digest {
		t.Fatalf("the stand-in upstream installer is %s, but main.sovos.hcl pins %s: update the pin (and the README)", pushed.Digest, pin)
	}

	// Run from the configuration directory, as the README's tour does after
	// `cd examples/quickstart`, and keep standard output for checkReadme.
	cli.Dir = dir
	cli.Args = []string{"-no-color"}
	cli.Env = env
	var transcript strings.Builder
	sovos := func(wantCode int, args ...string) string {
		t.Helper()
		out := cli.Expect(wantCode, args...)
		transcript.WriteString(out)
		return out
	}

	if out := sovos(2, "plan", "-detailed-exitcode"); !strings.Contains(out, "Plan: 5 to create, 0 to rebuild, 0 to promote, 0 to forget.") {
		t.Errorf("first plan:\n%s", out)
	}
	if out := sovos(0, "apply", "-auto-approve", "-promote", "-progress=plain"); !strings.Contains(out, "Apply complete!") {
		t.Errorf("apply:\n%s", out)
	}
	if out := sovos(0, "plan", "-detailed-exitcode"); !strings.Contains(out, "No changes.") {
		t.Errorf("second plan has changes:\n%s", out)
	}
	if out := sovos(0, "verify"); !strings.Contains(out, "extension.hailort: OK") {
		t.Errorf("verify:\n%s", out)
	}
	for _, f := range []string{"profile.cm4-standard.yaml", "profile.cm5-hailo10h.yaml"} {
		if _, err := os.Stat(filepath.Join(dir, "_out", "profiles", f)); err != nil {
			t.Errorf("profile not rendered: %v", err)
		}
	}

	// The cm5 board's boot media, as the README's tour and demo.sh fetch it.
	if out := sovos(0, "output"); !strings.Contains(out, "profile.cm5-hailo10h = "+host+"/quickstart/talos-cm5-hailo10h:") {
		t.Errorf("output does not list cm5's artifact:\n%s", out)
	}
	if out := sovos(0, "fetch", "profile.cm5-hailo10h", "-o", "_out/cm5"); !strings.Contains(out, "metal-arm64.raw.gz") {
		t.Errorf("fetch:\n%s", out)
	}
	checkBootMedia(t, host, dir, filepath.Join(dir, "_out", "cm5", "metal-arm64.raw.gz"))

	manifest := filepath.Join(dir, "extension", "manifest.yaml")
	data, err := os.ReadFile(manifest)
	if err != nil {
		t.Fatal(err)
	}
	// The README's one-file change.
	changed := strings.Replace(string(data), "\n  author: quickstart\n", "\n  author: you\n", 1)
	if changed == string(data) {
		t.Fatal("extension/manifest.yaml has no `author: quickstart` line for the README's one-file change")
	}
	if err := os.WriteFile(manifest, []byte(changed), 0o644); err != nil {
		t.Fatal(err)
	}
	checkActions(t, sovos(2, "plan", "-detailed-exitcode", "-format=json"), "after changing extension/manifest.yaml", map[string]string{
		"kernel.sovereign":     "no-op",
		"installer.sovereign":  "no-op",
		"extension.hailort":    "rebuild",
		"profile.cm5-hailo10h": "rebuild",
		"profile.cm4-standard": "no-op",
	})

	// The rest of the README's tour: the saved plan, its PR comment, applying it,
	// promoting, verifying, a kernel rebuilt under the same hash, and a new workspace
	// adopting everything.
	sovos(2, "plan", "-out=change.plan", "-detailed-exitcode")
	sovos(0, "show", "-format=markdown", "change.plan")
	sovos(0, "apply", "change.plan")
	sovos(0, "apply", "-promote", "-auto-approve")
	sovos(0, "verify")
	before := sovos(0, "state", "show", "kernel.sovereign")
	sovos(0, "apply", "-auto-approve", "-replace=kernel.sovereign")
	// -replace bypasses BuildKit's cache: a new kernel-build, a new key, a new digest,
	// and the extension rebuilt on it still verifies.
	digestLine := func(show string) string {
		for _, l := range strings.Split(show, "\n") {
			if strings.HasPrefix(strings.TrimSpace(l), "digest ") {
				return l
			}
		}
		t.Fatalf("no digest in `state show`:\n%s", show)
		return ""
	}
	if after := sovos(0, "state", "show", "kernel.sovereign"); digestLine(after) == digestLine(before) {
		t.Errorf("-replace=kernel.sovereign left the kernel's digest as it was: %s", digestLine(after))
	}
	sovos(0, "verify")
	if out := sovos(2, "plan", "-workspace=fresh", "-detailed-exitcode"); !strings.Contains(out, "4 to adopt") {
		t.Errorf("a new workspace does not adopt the four pushed artifacts:\n%s", out)
	}
	sovos(0, "apply", "-workspace=fresh", "-auto-approve")

	// Operating the factory (the README's section): the history; what gc would delete
	// keeping one history entry (the first promotion's extension and boot media: their
	// content tags were not rebuilt since); a rollback to that promotion with no
	// builder; the plan that would promote again; gc, which the rolled-back tags now stop.
	sovos(0, "state", "history")
	var entries []struct {
		Serial   uint64
		Promoted map[string]string
	}
	if err := json.Unmarshal([]byte(cli.OK("state", "history", "-json")), &entries); err != nil {
		t.Fatal(err)
	}
	first := uint64(0)
	for _, e := range entries {
		if len(e.Promoted) > 0 {
			first = e.Serial // the oldest promotion: entries are newest first
		}
	}
	if out := sovos(0, "gc", "-keep=1", "-min-age=0", "-dry-run"); !strings.Contains(out, "GC: 2 artifacts to delete") {
		t.Errorf("gc -dry-run:\n%s", out)
	}
	noBuilder := cli.With("BUILDKIT_HOST=unix:///nonexistent/buildkitd.sock")
	out := noBuilder.OK("rollback", "-to="+strconv.FormatUint(first, 10), "-auto-approve")
	transcript.WriteString(out)
	if !strings.Contains(out, "Rollback: 3 tags to move back, 1 already in place.") || !strings.Contains(out, "Rollback complete!") {
		t.Errorf("rollback to serial %d:\n%s", first, out)
	}
	if out := sovos(2, "plan", "-promote", "-detailed-exitcode"); strings.Count(out, "rolled back to serial") != 3 {
		t.Errorf("plan -promote after the rollback:\n%s", out)
	}
	if out := sovos(0, "gc", "-keep=1", "-min-age=0", "-auto-approve"); !strings.Contains(out, "Nothing to delete") {
		t.Errorf("gc after the rollback:\n%s", out)
	}
	sovos(0, "verify")

	// The README's "Checking what sovos built, without sovos": signing turned on, the
	// next apply signs what is built, and cosign checks the extension with the public
	// key alone.
	transcript.WriteString(checkWithCosign(t, cli, dir, host))

	checkReadme(t, strings.ReplaceAll(transcript.String(), host, "127.0.0.1:5000"))
}

// checkWithCosign runs the README's cosign section: a key pair (as `cosign
// generate-key-pair` writes it), the signing block added, `sovos apply -auto-approve
// -promote`, then `cosign verify` and `cosign verify-attestation` (its predicate decoded
// as `jq -r .payload | base64 -d | jq .predicate` prints it). It returns what they print.
func checkWithCosign(t *testing.T, cli *testenv.CLI, dir, host string) string {
	t.Helper()
	testenv.CosignKeyPair(t, dir, "quickstart")
	path := filepath.Join(dir, "main.sovos.hcl")
	hcl, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	signed := strings.Replace(string(hcl), "\nsovos {\n", "\nsovos {\n  signing {\n    key        = \"cosign.key\"\n    public_key = \"cosign.pub\"\n  }\n", 1)
	if signed == string(hcl) {
		t.Fatal("main.sovos.hcl has no sovos block to add signing to")
	}
	if err := os.WriteFile(path, []byte(signed), 0o644); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	out.WriteString(cli.With("COSIGN_PASSWORD=quickstart").Expect(0, "apply", "-auto-approve", "-promote"))

	ref := host + "/quickstart/hailort:5.3.0"
	pub := filepath.Join(dir, "cosign.pub")
	got, code := testenv.CosignRun(t, "verify", "--key", pub, "--insecure-ignore-tlog=true", "--allow-http-registry=true", ref)
	if code != 0 || !strings.Contains(got, "The signatures were verified against the specified public key") {
		t.Fatalf("cosign verify: exit %d\n%s", code, got)
	}
	// cosign lists what it verified in the order of the referrers, which varies: by
	// type, as the README shows it.
	for _, l := range strings.SplitAfter(got, "\n") {
		var checked []map[string]any
		if json.Unmarshal([]byte(l), &checked) == nil && len(checked) > 1 {
			slices.SortFunc(checked, func(a, b map[string]any) int {
				return strings.Compare(fmt.Sprint(a["critical"].(map[string]any)["type"]), fmt.Sprint(b["critical"].(map[string]any)["type"]))
			})
			sorted, _ := json.Marshal(checked)
			l = string(sorted) + "\n"
		}
		out.WriteString(l)
	}
	got, code = testenv.CosignRun(t, "verify-attestation", "--key", pub, "--insecure-ignore-tlog=true", "--allow-http-registry=true",
		"--type", "https://github.com/urmanac/sovos/attestation/module-signatures/v1", ref)
	if code != 0 {
		t.Fatalf("cosign verify-attestation: exit %d\n%s", code, got)
	}
	for _, l := range strings.Split(got, "\n") {
		var env struct{ Payload string }
		if json.Unmarshal([]byte(l), &env) != nil || env.Payload == "" {
			out.WriteString(l + "\n") // what cosign says on standard error
			continue
		}
		stmt, err := base64.StdEncoding.DecodeString(env.Payload)
		if err != nil {
			t.Fatal(err)
		}
		var st struct {
			Predicate map[string]any `json:"predicate"`
		}
		if err := json.Unmarshal(stmt, &st); err != nil {
			t.Fatal(err)
		}
		k, _ := st.Predicate["kernel"].(map[string]any)
		if k["address"] != "kernel.sovereign" {
			t.Errorf("the attestation names kernel %v", k)
		}
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		if err := enc.Encode(st.Predicate); err != nil {
			t.Fatal(err)
		}
		out.Write(b.Bytes())
	}
	return out.String()
}

// checkBootMedia checks what `sovos fetch` wrote against what a third-party client
// (oras-go, as `oras pull`) gets from the registry, byte for byte, and that it is a
// 64 MiB ext2 disk image holding the profile sovos rendered.
func checkBootMedia(t *testing.T, host, dir, fetched string) {
	t.Helper()
	pulled, _, _ := testenv.OrasPull(t, host+"/quickstart/talos-cm5-hailo10h", "v1.13.3-hailort")
	want, err := os.ReadFile(filepath.Join(pulled, "metal-arm64.raw.gz"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(fetched)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("sovos fetch wrote %d bytes, oras pull %d: not the same file", len(got), len(want))
	}
	// The oras CLI too, when it is installed (go install oras.land/oras/cmd/oras@v1.3.6).
	if oras, err := exec.LookPath("oras"); err == nil {
		out := t.TempDir()
		cmd := exec.Command(oras, "pull", "--plain-http", "-o", out, host+"/quickstart/talos-cm5-hailo10h:v1.13.3-hailort")
		if msg, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("oras pull: %v\n%s", err, msg)
		} else if cli, err := os.ReadFile(filepath.Join(out, "metal-arm64.raw.gz")); err != nil || !bytes.Equal(cli, got) {
			t.Errorf("the oras CLI pulled %d bytes (%v), sovos fetch wrote %d", len(cli), err, len(got))
		}
	} else {
		t.Log("the oras CLI is not installed: checked with oras-go only")
	}
	zr, err := gzip.NewReader(bytes.NewReader(got))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	if len(raw) != 67108864 {
		t.Errorf("the disk image is %d bytes, the profile's disk_size is 67108864", len(raw))
	}
	rendered, err := os.ReadFile(filepath.Join(dir, "_out", "profiles", "profile.cm5-hailo10h.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if inImage := testenv.Ext2File(t, bytes.NewReader(raw), "profile.yaml"); !bytes.Equal(inImage, rendered) {
		t.Errorf("the disk image holds another profile than the one rendered:\n%s", inImage)
	}
	if k := testenv.Ext2File(t, bytes.NewReader(raw), "boot/vmlinuz"); len(k) == 0 {
		t.Error("the disk image holds no kernel")
	}
}

// checkReadme fails for every line of the README's captured output (```console
// blocks) that the commands no longer print, hashes, digests, ids, durations and file sizes aside:
// the tour must show what sovos prints today.
func checkReadme(t *testing.T, transcript string) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	printed := map[string]bool{}
	for _, l := range strings.Split(transcript, "\n") {
		printed[normalizeOutput(l)] = true
	}
	blocks := regexp.MustCompile("(?s)```console\n(.*?)```").FindAllStringSubmatch(string(data), -1)
	if len(blocks) == 0 {
		t.Fatal("README.md has no ```console blocks")
	}
	for _, b := range blocks {
		lines := strings.Split(b[1], "\n")
		// A block inside a list item is indented as a whole.
		indent := -1
		for _, l := range lines {
			if strings.TrimSpace(l) != "" {
				if n := len(l) - len(strings.TrimLeft(l, " ")); indent < 0 || n < indent {
					indent = n
				}
			}
		}
		continued := false // the line before is a command ending in a backslash
		for _, l := range lines {
			if len(l) >= indent && indent > 0 {
				l = l[indent:]
			}
			trimmed := strings.TrimSpace(l)
			command := continued || strings.HasPrefix(trimmed, "$ ")
			continued = command && strings.HasSuffix(trimmed, "\\")
			switch {
			case trimmed == "", command, strings.HasPrefix(trimmed, "..."):
				continue // commands, and the README's own elisions
			case strings.HasPrefix(trimmed, "Error: locking"):
				continue // needs a concurrent apply; not reproduced here
			case strings.HasPrefix(trimmed, "<!-- sovos-plan"):
				continue // names the directory relative to the git root; this copy has none
			}
			if !printed[normalizeOutput(l)] {
				t.Errorf("README.md shows a line sovos no longer prints:\n%s", l)
			}
		}
	}
}

var (
	hexRun   = regexp.MustCompile(`\b[0-9a-f]{8,64}\b`)
	duration = regexp.MustCompile(`\(\d+(\.\d+)?(ms|s|m\d+(\.\d+)?s)\)`)
	// A compressed disk image's size varies with its filesystem's random UUID.
	size = regexp.MustCompile(`\b\d+(\.\d+)? (B|KiB|MiB|GiB)\b`)
	// History entries: when, who, and serials (apply's intermediate writes vary).
	timestamp = regexp.MustCompile(`\b\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z\b`)
	who       = regexp.MustCompile(`\bby [^ @]+@[^ ]+$`)
	serial    = regexp.MustCompile(`\bserial \d+\b`)
	// A kernel key's certificate serial varies by run.
	certSerial = regexp.MustCompile(`\b0x[0-9a-f]+\b`)
)

func normalizeOutput(l string) string {
	l = timestamp.ReplaceAllString(l, "TIME")
	l = who.ReplaceAllString(l, "by WHO")
	l = serial.ReplaceAllString(l, "serial N")
	l = certSerial.ReplaceAllString(l, "0xH")
	l = hexRun.ReplaceAllString(l, "H")
	l = duration.ReplaceAllString(l, "(T)")
	l = size.ReplaceAllString(l, "SIZE")
	return strings.TrimRight(l, " \t")
}
