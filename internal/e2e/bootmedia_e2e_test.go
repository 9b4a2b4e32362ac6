package e2e

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/urmanac/sovos/internal/testenv"
	"github.com/urmanac/sovos/state"
)

// imagerApplets are the busybox applets the imagers below need besides the base image's.
var imagerApplets = []string{"awk", "mktemp", "truncate", "losetup", "mke2fs", "mount", "umount", "sync"}

// pushImager pushes an imager image: the busybox base, the applets the scripts use, and
// script as /bin/imager (no entrypoint: sovos then runs `imager -`). It returns the image
// as "ref" and "digest".
func pushImager(t *testing.T, host, repo string, script []byte) (string, string) {
	t.Helper()
	return pushImagerWith(t, host, repo, script, nil)
}

// pushImagerWith is pushImager with more files in the image, by path from its root.
func pushImagerWith(t *testing.T, host, repo string, script []byte, files map[string][]byte) (string, string) {
	t.Helper()
	baseRef, err := name.ParseReference(testenv.BusyboxBase(t, host), name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	base, err := remote.Image(baseRef)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	mtime := time.Unix(0, 0)
	for _, a := range imagerApplets {
		if err := tw.WriteHeader(&tar.Header{Name: "bin/" + a, Typeflag: tar.TypeSymlink, Linkname: "busybox", Mode: 0o777, ModTime: mtime}); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.WriteHeader(&tar.Header{Name: "bin/imager", Typeflag: tar.TypeReg, Mode: 0o755, Size: int64(len(script)), ModTime: mtime}); err != nil {
		t.Fatal(err)
	}
	if _, err := tw.Write(script); err != nil {
		t.Fatal(err)
	}
	for _, p := range slices.Sorted(maps.Keys(files)) {
		if err := tw.WriteHeader(&tar.Header{Name: p, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(files[p])), ModTime: mtime}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(files[p]); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	data := buf.Bytes()
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil })
	if err != nil {
		t.Fatal(err)
	}
	img, err := mutate.AppendLayers(base, layer)
	if err != nil {
		t.Fatal(err)
	}
	ref := host + "/" + repo + ":v1"
	tag, err := name.NewTag(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(tag, img); err != nil {
		t.Fatal(err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return ref, d.String()
}

// standIn is the quickstart's stand-in imager: an ext2 disk image on a real loop device.
func standIn(t *testing.T) []byte {
	t.Helper()
	data, err := os.ReadFile("../../examples/quickstart/talos/imager")
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// bootConfig is a configuration with one build and profiles run by the imager image
// var.imager on builder.imaging, so a refusal can be told from a success per resource.
const bootConfig = `variable "registry" { type = string }
variable "imager" { type = string }
variable "imager_digest" { type = string }
variable "bk" { type = string }

sovos {
  insecure_registries = [split("/", var.registry)[0]]
}

builder "imaging" {
  address   = var.bk
  platforms = ["linux/amd64"]
}

source "k" { path = "./k" }

kernel "k" {
  source = source.k
  image  = "${var.registry}/k"
}

image "imager" {
  ref    = var.imager
  digest = var.imager_digest
}

# Only its YAML is written: it runs nothing.
profile "plain" {
  arch    = "amd64"
  version = "v1.13.3"
  output { kind = "installer" }
}
`

// bootCLI starts a registry, pushes the imager script as an image, and writes
// bootConfig plus extra into a configuration whose builder is bk.
func bootCLI(t *testing.T, bk *testenv.Buildkitd, host string, script []byte, extra string, files map[string]string) *testenv.CLI {
	t.Helper()
	ref, dgst := pushImager(t, host, "e2e/imager", script)
	all := map[string]string{"main.sovos.hcl": bootConfig + extra}
	for k, v := range builderKernel {
		all[k] = v
	}
	for k, v := range files {
		all[k] = v
	}
	return builderCLI(t, all,
		"SOVOS_VAR_registry="+host+"/e2e", "SOVOS_VAR_imager="+ref, "SOVOS_VAR_imager_digest="+dgst, "SOVOS_VAR_bk="+bk.Addr)
}

const boardProfile = `
profile "board" {
  arch   = "amd64"
  version = "v1.13.3"
  imager = image.imager.ref
  image  = "${var.registry}/board"
  output {
    kind       = "image"
    out_format = ".gz"
    disk_size  = 16777216
  }
}
`

// A daemon that does not allow security.insecure fails the profile whose imager needs it,
// saying which builder and which flag; the build and the YAML-only profile land, and
// the state records them.
func TestImagerOnADaemonWithoutTheEntitlement(t *testing.T) {
	host := testenv.StartRegistry(t)
	bk := testenv.StartBuildkitd(t, testenv.WithInsecureRegistries(host), testenv.WithoutPrivileged())
	c := bootCLI(t, bk, host, standIn(t), boardProfile, nil)

	out, errOut, code := c.Run("apply", "-auto-approve", "-progress=quiet")
	want := "profile.board: failed: the imager runs privileged (BuildKit's security.insecure entitlement, for the loop devices it partitions and formats disk images on), and builder.imaging at " +
		bk.Addr + " does not allow that: start its buildkitd with --allow-insecure-entitlement security.insecure"
	if code != 1 || !strings.Contains(out, want) || !strings.Contains(out, "kernel.k: built sha256:") ||
		!strings.Contains(out, "profile.plain: rendered") || strings.Contains(out+errOut, "goroutine") {
		t.Fatalf("apply on a daemon without the entitlement: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	t.Logf("the refusal:\n%s\nstderr:\n%s", out, errOut)
	// BuildKit's session serves its gRPC over an http2 server that logs through Go's
	// standard logger when the daemon drops the refused session: never onto the user's
	// terminal (sovos routes it to its debug log).
	if strings.Contains(errOut, "http2:") || strings.Contains(errOut, "PROTOCOL_ERROR") {
		t.Errorf("a raw Go log line reached standard error:\n%s", errOut)
	}
	list := c.OK("state", "list")
	if !strings.Contains(list, "kernel.k") || !strings.Contains(list, "profile.plain") || strings.Contains(list, "profile.board") {
		t.Errorf("state after the refusal:\n%s", list)
	}
	// The next plan has the profile (only) left to do.
	if plan := c.Expect(2, "plan", "-detailed-exitcode"); !strings.Contains(plan, "Plan: 1 to create, 0 to rebuild") || !strings.Contains(plan, "+ profile.board") {
		t.Errorf("plan after the refusal:\n%s", plan)
	}
}

// Secure Boot keys reach the imager (it records their SHA-256 in the disk image) and
// nothing else: not a layer or manifest in the registry, the plan (human, JSON, saved),
// the state, sovos's trace log, BuildKit's progress or the daemon's log, or the files
// sovos writes.
func TestSecureBootKeysLeakNowhere(t *testing.T) {
	host := testenv.StartRegistry(t)
	bk := testenv.StartBuildkitd(t, testenv.WithInsecureRegistries(host))
	keys := map[string]string{}
	for _, n := range []string{"uki-signing-key.pem", "uki-signing-cert.pem", "pcr-signing-key.pem"} {
		b := make([]byte, 24)
		if _, err := rand.Read(b); err != nil {
			t.Fatal(err)
		}
		keys[n] = "-----BEGIN SOVOS TEST KEY-----\n" + hex.EncodeToString(b) + "\n-----END SOVOS TEST KEY-----\n"
	}
	files := map[string]string{
		"keys/uki.key": keys["uki-signing-key.pem"],
		"keys/uki.crt": keys["uki-signing-cert.pem"],
	}
	c := bootCLI(t, bk, host, standIn(t), `
profile "sb" {
  arch       = "amd64"
  version    = "v1.13.3"
  secureboot = true
  secureboot_keys = {
    "uki-signing-key.pem"  = { file = "keys/uki.key" }
    "uki-signing-cert.pem" = { file = "keys/uki.crt" }
    "pcr-signing-key.pem"  = { env = "SB_PCR_KEY" }
  }
  imager = image.imager.ref
  image  = "${var.registry}/sb"
  output {
    kind       = "image"
    out_format = ".gz"
    disk_size  = 16777216
  }
}
`, files)
	logPath := filepath.Join(t.TempDir(), "sovos.log")
	c = c.With("SB_PCR_KEY="+keys["pcr-signing-key.pem"], "SOVOS_LOG=trace", "SOVOS_LOG_PATH="+logPath)

	var seen strings.Builder
	record := func(args ...string) {
		t.Helper()
		out, errOut, code := c.Run(args...)
		if code != 0 && code != 2 {
			t.Fatalf("sovos %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, out, errOut)
		}
		seen.WriteString(out + errOut)
	}
	record("validate")
	record("plan", "-out=sb.plan")
	record("plan", "-format=json")
	record("show", "-format=markdown", "sb.plan")
	record("apply", "-auto-approve", "-progress=plain")
	record("state", "pull")
	record("output")
	record("fetch", "profile.sb", "-o", "fetched")
	// -replace runs the imager again (a new filesystem, so a new digest), not BuildKit's
	// cached result.
	before := readState(t, c).Resource("profile.sb").Digest
	record("apply", "-auto-approve", "-replace=profile.sb", "-progress=plain")
	if after := readState(t, c).Resource("profile.sb").Digest; after == before {
		t.Errorf("apply -replace=profile.sb published the same artifact %s: the imager did not run again", after)
	}

	// The keys did reach the imager.
	disk := gunzipFile(t, filepath.Join(c.Dir, "fetched", "metal-amd64.raw.gz"))
	sums := string(testenv.Ext2File(t, bytes.NewReader(disk), "secureboot.sha256"))
	for n, k := range keys {
		s := sha256.Sum256([]byte(k))
		if !strings.Contains(sums, hex.EncodeToString(s[:])+"  "+n) {
			t.Errorf("the imager did not see %s (its secureboot.sha256:\n%s)", n, sums)
		}
	}

	// Where they must not be.
	places := map[string][]byte{"sovos's output": []byte(seen.String()), "the fetched disk image": disk, "buildkitd's log": []byte(bk.Log())}
	if data, err := os.ReadFile(logPath); err != nil || len(data) == 0 {
		t.Errorf("no trace log at %s (%v)", logPath, err)
	} else {
		places["sovos's trace log"] = data
	}
	for _, dir := range []string{".sovos", "_out"} {
		filepath.Walk(filepath.Join(c.Dir, dir), func(p string, info os.FileInfo, err error) error {
			if err == nil && info.Mode().IsRegular() {
				data, _ := os.ReadFile(p)
				places[p] = data
			}
			return nil
		})
	}
	for _, p := range []string{"sb.plan"} {
		data, err := os.ReadFile(filepath.Join(c.Dir, p))
		if err != nil {
			t.Fatal(err)
		}
		places[p] = data
	}
	for where, data := range registryBlobs(t, host) {
		places[where] = data
	}
	// The search itself finds a key where there is one.
	if leaks(map[string][]byte{"a key file": []byte(files["keys/uki.key"])}, keys) == nil {
		t.Fatal("the leak search does not find a key in the key's own file")
	}
	for _, l := range leaks(places, keys) {
		t.Error(l)
	}
	t.Logf("searched %d places (registry blobs decompressed, logs, plan files, state, outputs) for %d keys", len(places), len(keys))
}

// leaks lists every place holding one of the keys' secret lines.
func leaks(places map[string][]byte, keys map[string]string) []string {
	var out []string
	for where, data := range places {
		for n, k := range keys {
			secret := strings.Split(k, "\n")[1]
			if bytes.Contains(data, []byte(secret)) {
				out = append(out, fmt.Sprintf("%s holds %s", where, n))
			}
		}
	}
	return out
}

// registryBlobs returns every manifest and blob of every repository of the registry,
// gzip layers decompressed (and a gzipped disk image's contents too).
func registryBlobs(t *testing.T, host string) map[string][]byte {
	t.Helper()
	get := func(path string, v any) []byte {
		t.Helper()
		req, _ := http.NewRequest("GET", "http://"+host+path, nil)
		req.Header.Set("Accept", strings.Join([]string{ocispec.MediaTypeImageManifest, ocispec.MediaTypeImageIndex,
			"application/vnd.docker.distribution.manifest.v2+json", "application/vnd.docker.distribution.manifest.list.v2+json"}, ","))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		data, err := io.ReadAll(resp.Body)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("GET %s: %d %v", path, resp.StatusCode, err)
		}
		if v != nil {
			if err := json.Unmarshal(data, v); err != nil {
				t.Fatalf("GET %s: %v", path, err)
			}
		}
		return data
	}
	var catalog struct{ Repositories []string }
	get("/v2/_catalog?n=1000", &catalog)
	out := map[string][]byte{}
	for _, repo := range catalog.Repositories {
		var tags struct{ Tags []string }
		get("/v2/"+repo+"/tags/list", &tags)
		var manifests []string
		manifests = append(manifests, tags.Tags...)
		for i := 0; i < len(manifests); i++ {
			var m struct {
				Config    *v1.Descriptor
				Layers    []v1.Descriptor
				Manifests []v1.Descriptor
			}
			out[repo+":"+manifests[i]] = get("/v2/"+repo+"/manifests/"+manifests[i], &m)
			for _, d := range m.Manifests {
				manifests = append(manifests, d.Digest.String())
			}
			blobs := m.Layers
			if m.Config != nil {
				blobs = append(blobs, *m.Config)
			}
			for _, d := range blobs {
				data := get("/v2/"+repo+"/blobs/"+d.Digest.String(), nil)
				for len(data) > 2 && data[0] == 0x1f && data[1] == 0x8b {
					zr, err := gzip.NewReader(bytes.NewReader(data))
					if err != nil {
						break
					}
					if data, err = io.ReadAll(zr); err != nil {
						t.Fatal(err)
					}
				}
				out[repo+"@"+d.Digest.String()] = data
			}
		}
	}
	if len(out) == 0 {
		t.Fatal("the registry holds nothing: the search would prove nothing")
	}
	return out
}

func gunzipFile(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// bigImager writes the profile's diskSize bytes of random data: an image that neither
// compresses nor dedupes, to measure what publishing and fetching it costs in memory.
var bigImager = []byte(`#!/bin/sh
set -eu
size=$(sed -n 's/^ *diskSize: \([0-9]*\)$/\1/p')
head -c "$size" /dev/urandom >/out/metal-amd64.raw
`)

// maxRSS runs one sovos command under `busybox time -v` and returns its peak resident
// memory. Not the child's own rusage: Linux starts a child's maxrss at its parent's high
// water mark, so a child of this test process would report the test's size; busybox,
// small itself, in between, makes it sovos's own.
func maxRSS(t *testing.T, c *testenv.CLI, args ...string) int64 {
	t.Helper()
	sovos := c.Command(args...)
	return busyboxMaxRSS(t, sovos.Dir, sovos.Env, sovos.Args...) / busyboxRSSScale(t)
}

// busyboxMaxRSS runs argv under `busybox time -v` and returns the maximum resident set
// size it prints, in bytes as busybox counts them (see busyboxRSSScale).
func busyboxMaxRSS(t *testing.T, dir string, env []string, argv ...string) int64 {
	t.Helper()
	cmd := exec.Command("/bin/busybox", append([]string{"time", "-v"}, argv...)...)
	cmd.Dir, cmd.Env = dir, env
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(argv, " "), err, out.String(), errOut.String())
	}
	const label = "Maximum resident set size (kbytes): "
	i := strings.LastIndex(errOut.String(), label)
	if i < 0 {
		t.Fatalf("busybox time printed no maximum resident set size:\n%s", errOut.String())
	}
	var kib int64
	if _, err := fmt.Sscanf(errOut.String()[i+len(label):], "%d", &kib); err != nil {
		t.Fatal(err)
	}
	return kib << 10
}

var rssScale struct {
	once  sync.Once
	scale int64
}

// busyboxRSSScale is how many times too large `busybox time -v` prints the maximum
// resident set size: Debian's busybox 1.35 takes the kernel's kilobytes for pages and
// multiplies them by 4 (pagesize/1024). It is measured, not assumed: busybox dd with a
// 64 MiB block touches 64 MiB.
func busyboxRSSScale(t *testing.T) int64 {
	t.Helper()
	rssScale.once.Do(func() {
		got := busyboxMaxRSS(t, "", nil, "/bin/busybox", "dd", "if=/dev/zero", "of=/dev/null", "bs=64M", "count=1")
		rssScale.scale = max(1, (got+32<<20)/(64<<20))
		t.Logf("busybox time reports %d MiB for a 64 MiB process: its figures are divided by %d", got>>20, rssScale.scale)
	})
	return rssScale.scale
}

// A 200 MiB output is published and fetched in bounded memory: sovos's peak resident
// memory grows by a bounded amount over an 8 MiB one, far less than the file. What sovos
// fetches is byte for byte what oras-go pulls.
func TestBootMediaBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("publishes 200 MiB")
	}
	host := testenv.StartRegistry(t)
	bk := testenv.StartBuildkitd(t, testenv.WithInsecureRegistries(host))
	profiles := ""
	for _, p := range []struct {
		name string
		size int
	}{{"small", 8 << 20}, {"big", 200 << 20}} {
		profiles += fmt.Sprintf(`
profile %q {
  arch    = "amd64"
  version = "v1.13.3"
  imager  = image.imager.ref
  image   = "${var.registry}/%s"
  output {
    kind       = "image"
    out_format = "raw"
    disk_size  = %d
  }
}
`, p.name, p.name, p.size)
	}
	c := bootCLI(t, bk, host, bigImager, profiles, nil)
	c.OK("apply", "-auto-approve", "-target=kernel.k", "-progress=quiet")

	rss := map[string]int64{}
	rss["plan"] = maxRSS(t, c, "plan")
	rss["noop"] = maxRSS(t, c, "apply", "-auto-approve", "-target=kernel.k", "-progress=quiet")
	t.Logf("peak RSS of sovos: plan %d MiB, apply with nothing to build %d MiB", rss["plan"]>>20, rss["noop"]>>20)
	for _, p := range []string{"small", "big"} {
		rss["apply "+p] = maxRSS(t, c, "apply", "-auto-approve", "-target=profile."+p, "-progress=quiet")
		rss["fetch "+p] = maxRSS(t, c, "fetch", "profile."+p, "-o", "fetched-"+p)
	}
	info, err := os.Stat(filepath.Join(c.Dir, "fetched-big", "metal-amd64.raw"))
	if err != nil || info.Size() != 200<<20 {
		t.Fatalf("fetched big: %v, %v", info, err)
	}
	const mib = 1 << 20
	t.Logf("peak RSS of sovos: apply 8 MiB output %d MiB, apply 200 MiB output %d MiB (%.2fx); fetch 8 MiB %d MiB, fetch 200 MiB %d MiB (%.2fx)",
		rss["apply small"]/mib, rss["apply big"]/mib, float64(rss["apply big"])/float64(rss["apply small"]),
		rss["fetch small"]/mib, rss["fetch big"]/mib, float64(rss["fetch big"])/float64(rss["fetch small"]))
	// BuildKit's client receives a local export through a flow-controlled stream whose
	// buffers fill up with a large file (here 9 to 20 MiB more for 200 MiB than for
	// 8 MiB): bounded, and far below the 192 MiB between the two files.
	for _, op := range []string{"apply", "fetch"} {
		small, big := rss[op+" small"], rss[op+" big"]
		if big > small+64*mib || big > 256*mib {
			t.Errorf("%s of a 200 MiB output peaks at %d MiB of RSS, against %d MiB for 8 MiB: memory grows with the file", op, big/mib, small/mib)
		}
	}

	// Byte for byte what a third-party client pulls.
	st := readState(t, c)
	r := st.Resource("profile.big")
	pulled, desc, _ := testenv.OrasPull(t, host+"/e2e/big", r.Tag)
	if desc.Digest.String() != r.Digest {
		t.Errorf("the tag is %s, the state records %s", desc.Digest, r.Digest)
	}
	if a, b := fileSHA256(t, filepath.Join(pulled, "metal-amd64.raw")), fileSHA256(t, filepath.Join(c.Dir, "fetched-big", "metal-amd64.raw")); a != b {
		t.Errorf("sovos fetch and oras pull differ: %s, %s", b, a)
	}
}

func readState(t *testing.T, c *testenv.CLI) *state.State {
	t.Helper()
	var st state.State
	if err := json.Unmarshal([]byte(c.OK("state", "pull")), &st); err != nil {
		t.Fatal(err)
	}
	return &st
}

func fileSHA256(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}
