package pin_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/urmanac/sovos/config"
	"github.com/urmanac/sovos/internal/testenv"
	"github.com/urmanac/sovos/pin"
)

// fakeRemotes answers lookups from maps and counts them. The byte-preservation tests use
// it; the resolution itself is tested against real repositories and a real registry.
type fakeRemotes struct {
	mu      sync.Mutex
	commits map[string]string // "URL REF" -> commit
	digests map[string]string // image reference -> digest
	asked   []string
}

func (f *fakeRemotes) Commit(_ context.Context, url, ref string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.asked = append(f.asked, url+" "+ref)
	if c, ok := f.commits[url+" "+ref]; ok {
		return c, nil
	}
	return "", fmt.Errorf("%s has no branch, tag or ref named %s: %w", url, ref, pin.ErrNotFound)
}

func (f *fakeRemotes) Digest(_ context.Context, ref string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.asked = append(f.asked, ref)
	if d, ok := f.digests[ref]; ok {
		return d, nil
	}
	return "", fmt.Errorf("manifest unknown: %w", pin.ErrNotFound)
}

func hex40(c byte) string { return strings.Repeat(string(c), 40) }
func dgst(c byte) string  { return "sha256:" + strings.Repeat(string(c), 64) }

// preserveRemotes is what the refs of testdata/preserve point at.
func preserveRemotes() *fakeRemotes {
	return &fakeRemotes{
		commits: map[string]string{
			"https://example.invalid/siderolabs/pkgs.git v1.13.0":       "1c2d3e4f" + hex40('1')[8:],
			"https://example.invalid/siderolabs/talos.git main":         hex40('2'),
			"https://example.invalid/x.git v1.0.0":                      hex40('3'),
			"https://example.invalid/siderolabs/extensions.git v1.13.0": hex40('4'),
			"https://example.invalid/json.git v2":                       hex40('5'),
		},
		digests: map[string]string{
			"ghcr.io/siderolabs/installer:v1.13.3":      "sha256:41aa" + dgst('6')[11:],
			"ghcr.io/siderolabs/imager:v1.13.3":         "sha256:" + strings.Repeat("1", 64), // current
			"ghcr.io/siderolabs/sbc-raspberrypi:v0.1.6": dgst('7'),
			"ghcr.io/example/json:v1":                   dgst('8'),
			"ghcr.io/example/new:v1":                    dgst('9'),
		},
	}
}

func copyDir(t *testing.T, from string) string {
	t.Helper()
	dir := t.TempDir()
	testenv.CopyTree(t, from, dir)
	return dir
}

func load(t *testing.T, dir string) *config.Config {
	t.Helper()
	cfg, diags := config.Load(context.Background(), dir, config.EvalOptions{Pinning: true})
	if diags.HasErrors() {
		t.Fatalf("loading %s: %s", dir, diags.Error())
	}
	return cfg
}

func run(t *testing.T, dir string, req pin.Request) (*pin.Result, hcl.Diagnostics) {
	t.Helper()
	req.Config = load(t, dir)
	return pin.Run(context.Background(), req)
}

func lines(changes []pin.Change) string {
	var b strings.Builder
	for _, c := range changes {
		b.WriteString(c.String() + "\n")
	}
	return b.String()
}

func readDir(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out[e.Name()] = b
	}
	return out
}

// pinLine is a line that holds a pin: the only kind of line sovos pin may add or change
// in a native-syntax file.
var pinLine = regexp.MustCompile(`^\s*(commit|digest)\s*=\s*"[^"]*"`)

// withoutPinLines drops the pin lines, keeping every other byte (line endings included).
func withoutPinLines(b []byte) string {
	var out strings.Builder
	for _, l := range strings.SplitAfter(string(b), "\n") {
		if !pinLine.MatchString(l) {
			out.WriteString(l)
		}
	}
	return out.String()
}

// TestPreservesEveryOtherByte upgrades the pins of a configuration full of comments, tabs,
// odd spacing and CRLF line endings and compares the result with golden files; apart from
// the golden comparison it checks the property directly: with the pin lines left out, a
// native file is byte for byte what it was, and a JSON file parses to the same document
// but for the pins.
func TestPreservesEveryOtherByte(t *testing.T) {
	dir := copyDir(t, "testdata/preserve/in")
	before := readDir(t, dir)
	remotes := preserveRemotes()
	res, diags := run(t, dir, pin.Request{Upgrade: true, Git: remotes, Images: remotes})
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	testenv.Golden(t, "testdata/preserve/changes.txt", []byte(lines(res.Changes)))
	after := readDir(t, dir)
	for name, b := range after {
		testenv.Golden(t, filepath.Join("testdata/preserve/want", name), b)
	}
	if len(after) != len(before) {
		t.Errorf("files before %d, after %d (a temporary file left behind?)", len(before), len(after))
	}
	for _, name := range []string{"main.sovos.hcl", "crlf.sovos.hcl"} {
		if withoutPinLines(before[name]) != withoutPinLines(after[name]) {
			t.Errorf("%s: a line other than a pin changed:\n%q\n%q", name, before[name], after[name])
		}
	}
	if strings.Count(string(after["crlf.sovos.hcl"]), "\n") != strings.Count(string(after["crlf.sovos.hcl"]), "\r\n") {
		t.Errorf("crlf.sovos.hcl: a line lost its CR:\n%q", after["crlf.sovos.hcl"])
	}
	checkJSONOnlyPins(t, before["more.sovos.json"], after["more.sovos.json"], map[string]string{
		"source.json_src.commit":    hex40('5'),
		"source.json_pinned.commit": hex40('5'),
		"image.json_img.digest":     dgst('8'),
		"image.json_new.digest":     dgst('9'),
	})

	// The expression is reported, once, where it is, and left alone.
	var warned int
	for _, d := range diags {
		if d.Severity == hcl.DiagWarning && strings.Contains(d.Detail, "source.by_expr: commit is not a literal; left alone") &&
			d.Subject != nil && d.Subject.Start.Line == 28 {
			warned++
		}
	}
	if warned != 1 || len(diags) != 1 {
		t.Errorf("diagnostics: %v", diags)
	}
	if len(res.Files) != 3 {
		t.Errorf("files written: %v", res.Files)
	}

	// Pinned now: a second run asks again and changes nothing, byte for byte.
	res, diags = run(t, dir, pin.Request{Upgrade: true, Git: remotes, Images: remotes})
	if diags.HasErrors() || len(res.Changes) != 0 || len(res.Files) != 0 {
		t.Fatalf("second run: %v %v %v", res.Changes, res.Files, diags)
	}
	again := readDir(t, dir)
	for name := range after {
		if !bytes.Equal(after[name], again[name]) {
			t.Errorf("%s changed on a run with nothing to do", name)
		}
	}
}

// checkJSONOnlyPins checks that after parses to before with the pins set (paths are
// TYPE.NAME.ATTR, whichever of HCL JSON's shapes holds the block).
func checkJSONOnlyPins(t *testing.T, before, after []byte, pins map[string]string) {
	t.Helper()
	var b, a any
	if err := json.Unmarshal(before, &b); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(after, &a); err != nil {
		t.Fatalf("the JSON file no longer parses: %v\n%s", err, after)
	}
	for path, v := range pins {
		p := strings.Split(path, ".")
		if !setJSONAttr(b, p[0], p[1], p[2], v) {
			t.Fatalf("%s not found in the JSON document", path)
		}
	}
	bj, _ := json.Marshal(b)
	aj, _ := json.Marshal(a)
	if !bytes.Equal(bj, aj) {
		t.Errorf("the JSON document changed by more than its pins:\nwant %s\ngot  %s", bj, aj)
	}
}

func setJSONAttr(doc any, typ, name, attr, v string) bool {
	root, _ := doc.(map[string]any)
	var blocks []map[string]any
	switch x := root[typ].(type) {
	case map[string]any:
		blocks = append(blocks, x)
	case []any:
		for _, e := range x {
			if m, ok := e.(map[string]any); ok {
				blocks = append(blocks, m)
			}
		}
	}
	for _, m := range blocks {
		if body, ok := m[name].(map[string]any); ok {
			body[attr] = v
			return true
		}
	}
	return false
}

// TestFillsOnlyMissingPins: without -upgrade only missing pins are looked up and written;
// a pin behind its ref stays.
func TestFillsOnlyMissingPins(t *testing.T) {
	dir := copyDir(t, "testdata/preserve/in")
	remotes := preserveRemotes()
	res, diags := run(t, dir, pin.Request{Git: remotes, Images: remotes})
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	want := `source.talos: commit (none) -> 22222222 (main)
image.installer: digest (none) -> sha256:41aa66666666 (ghcr.io/siderolabs/installer:v1.13.3)
source.extensions: commit (none) -> 44444444 (v1.13.0)
source.json_src: commit (none) -> 55555555 (v2)
image.json_new: digest (none) -> sha256:999999999999 (ghcr.io/example/new:v1)
`
	if got := lines(res.Changes); got != sortedLike(got, want) {
		t.Errorf("changes:\n%s\nwant (in any file order):\n%s", got, want)
	}
	if len(remotes.asked) != 5 {
		t.Errorf("looked up %d refs, want only the 5 missing pins: %q", len(remotes.asked), remotes.asked)
	}
	main, _ := os.ReadFile(filepath.Join(dir, "main.sovos.hcl"))
	if !bytes.Contains(main, []byte(`commit = "8b9fad9a8dd320b4f9aa69f557dd2981d05a12fb"   # behind the tag`)) {
		t.Errorf("the pin behind its ref moved without -upgrade:\n%s", main)
	}
	for _, want := range []string{
		"    ref=\"main\"    /* a block comment\n                     that runs on */\n    commit = \"" + hex40('2') + "\"\n    subdir",
		"  ref     = \"ghcr.io/siderolabs/installer:${local.talos}\"\n  digest  = \"sha256:41aa",
	} {
		if !bytes.Contains(main, []byte(want)) {
			t.Errorf("main.sovos.hcl lacks %q:\n%s", want, main)
		}
	}
}

// sortedLike returns want when got has the same lines in any order (so the test does not
// depend on the file order of the changes), else got's complement.
func sortedLike(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	if len(g) != len(w) {
		return want + "(different count)"
	}
	seen := map[string]int{}
	for _, l := range w {
		seen[l]++
	}
	for _, l := range g {
		if seen[l] == 0 {
			return want + "(missing " + l + ")"
		}
		seen[l]--
	}
	return got
}

// TestCheck lists every pin missing or behind its ref and writes nothing.
func TestCheck(t *testing.T) {
	dir := copyDir(t, "testdata/preserve/in")
	before := readDir(t, dir)
	remotes := preserveRemotes()
	res, diags := run(t, dir, pin.Request{Check: true, Git: remotes, Images: remotes})
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	got := lines(res.Changes)
	for _, want := range []string{
		"source.pkgs: commit 8b9fad9a -> 1c2d3e4f (v1.13.0)\n",
		"source.talos: commit (none) -> 22222222 (main)\n",
		"image.overlay: digest sha256:f850dff80c7e -> sha256:777777777777 (ghcr.io/siderolabs/sbc-raspberrypi:v0.1.6)\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("check lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "image.current") || strings.Contains(got, "by_expr") || len(res.Changes) != 9 {
		t.Errorf("check lists %d:\n%s", len(res.Changes), got)
	}
	if len(res.Files) != 0 {
		t.Errorf("check wrote %v", res.Files)
	}
	for name, b := range readDir(t, dir) {
		if !bytes.Equal(before[name], b) {
			t.Errorf("check changed %s", name)
		}
	}
}

// TestMissingRefWritesNothing: one ref that does not exist fails the whole run, naming the
// block and its file:line, and no file changes, even those whose pins resolved.
func TestMissingRefWritesNothing(t *testing.T) {
	dir := copyDir(t, "testdata/preserve/in")
	before := readDir(t, dir)
	remotes := preserveRemotes()
	delete(remotes.commits, "https://example.invalid/siderolabs/extensions.git v1.13.0")
	delete(remotes.digests, "ghcr.io/example/json:v1")
	res, diags := run(t, dir, pin.Request{Upgrade: true, Git: remotes, Images: remotes})
	if !diags.HasErrors() {
		t.Fatal("no error for refs that do not exist")
	}
	var errs []string
	for _, d := range diags {
		if d.Severity == hcl.DiagError {
			errs = append(errs, d.Summary+": "+d.Detail)
		}
	}
	joined := strings.Join(errs, "\n")
	ext := filepath.Join(dir, "crlf.sovos.hcl")
	js := filepath.Join(dir, "more.sovos.json")
	if len(errs) != 2 ||
		!strings.Contains(joined, "Ref not found: source.extensions ("+ext+":3): ref v1.13.0 does not exist") ||
		!strings.Contains(joined, "Ref not found: image.json_img ("+js+":12): ref ghcr.io/example/json:v1 does not exist") ||
		!strings.Contains(joined, "Nothing was written") {
		t.Errorf("errors:\n%s", joined)
	}
	if len(res.Files) != 0 || len(res.Changes) != 0 {
		t.Errorf("result on error: %v %v", res.Files, res.Changes)
	}
	for name, b := range readDir(t, dir) {
		if !bytes.Equal(before[name], b) {
			t.Errorf("%s was written although a ref does not exist", name)
		}
	}
}

const gitConfig = `source "tagged" {
  git = "%[1]s"
  ref = "v1.0.0"
}

source "light" {
  git    = "%[1]s"
  ref    = "light"
  commit = "%[2]s"
}

source "branch" {
  git    = "%[1]s"
  ref    = "main"
  commit = "%[2]s"
}

source "full" {
  git = "%[1]s"
  ref = "refs/heads/release"
}
`

// TestGitRemote pins against a real repository (file://): an annotated tag pins the
// commit it peels to, never the tag object; tags and a branch that move are followed by
// -upgrade only.
func TestGitRemote(t *testing.T) {
	r := testenv.NewGitRemote(t)
	first := r.Git("rev-parse", "HEAD")
	tagObject := r.Tag("v1.0.0", true)
	r.Tag("light", false)
	r.Branch("release")
	dir := t.TempDir()
	path := filepath.Join(dir, "main.sovos.hcl")
	if err := os.WriteFile(path, []byte(fmt.Sprintf(gitConfig, r.URL, first)), 0o644); err != nil {
		t.Fatal(err)
	}

	res, diags := run(t, dir, pin.Request{})
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	want := "source.tagged: commit (none) -> " + first[:8] + " (v1.0.0)\nsource.full: commit (none) -> " + first[:8] + " (refs/heads/release)\n"
	if got := lines(res.Changes); got != want {
		t.Errorf("fill:\n%s\nwant\n%s", got, want)
	}
	b, _ := os.ReadFile(path)
	if bytes.Contains(b, []byte(tagObject)) || !bytes.Contains(b, []byte("  ref = \"v1.0.0\"\n  commit = \""+first+"\"\n}")) {
		t.Errorf("the annotated tag is not pinned to its commit:\n%s", b)
	}

	// Everything moves on: a new commit on main, both tags re-tagged there, release too.
	second := r.Commit("second")
	r.Tag("v1.0.0", true)
	r.Tag("light", false)
	r.Branch("release")
	res, diags = run(t, dir, pin.Request{Check: true})
	if diags.HasErrors() || len(res.Changes) != 4 {
		t.Fatalf("check after the move: %s %v", lines(res.Changes), diags)
	}
	res, diags = run(t, dir, pin.Request{})
	if diags.HasErrors() || len(res.Changes) != 0 {
		t.Fatalf("fill with nothing missing: %s %v", lines(res.Changes), diags)
	}
	res, diags = run(t, dir, pin.Request{Upgrade: true, Addrs: []string{"source.tagged", "source.branch"}})
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	want = "source.tagged: commit " + first[:8] + " -> " + second[:8] + " (v1.0.0)\nsource.branch: commit " + first[:8] + " -> " + second[:8] + " (main)\n"
	if got := lines(res.Changes); got != want {
		t.Errorf("upgrade of two blocks:\n%s\nwant\n%s", got, want)
	}
	res, diags = run(t, dir, pin.Request{Upgrade: true})
	if diags.HasErrors() || len(res.Changes) != 2 {
		t.Fatalf("upgrade of the rest: %s %v", lines(res.Changes), diags)
	}
	res, diags = run(t, dir, pin.Request{Check: true})
	if diags.HasErrors() || len(res.Changes) != 0 {
		t.Fatalf("check when current: %s %v", lines(res.Changes), diags)
	}
	b, _ = os.ReadFile(path)
	if got := strings.Count(string(b), second); got != 4 {
		t.Errorf("%d pins at the new commit:\n%s", got, b)
	}
	// The result is a configuration the other commands accept.
	if _, diags := config.Load(context.Background(), dir, config.EvalOptions{}); diags.HasErrors() {
		t.Errorf("the pinned configuration does not load: %s", diags.Error())
	}
}

// TestMissingRemoteRef: the real resolver's "no such ref" is reported as such.
func TestMissingRemoteRef(t *testing.T) {
	r := testenv.NewGitRemote(t)
	dir := t.TempDir()
	src := fmt.Sprintf("source \"s\" {\n  git = %q\n  ref = \"v9.9.9\"\n}\n", r.URL)
	if err := os.WriteFile(filepath.Join(dir, "main.sovos.hcl"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	_, diags := run(t, dir, pin.Request{})
	if len(diags) != 1 || diags[0].Summary != "Ref not found" || !strings.Contains(diags[0].Detail, "source.s ("+filepath.Join(dir, "main.sovos.hcl")+":3): ref v9.9.9 does not exist") {
		t.Errorf("diagnostics: %v", diags)
	}
}

func TestAddresses(t *testing.T) {
	dir := copyDir(t, "testdata/preserve/in")
	remotes := preserveRemotes()
	for _, tc := range []struct {
		addrs []string
		want  string
	}{
		{[]string{"source.nope"}, "source.nope is not declared"},
		{[]string{"source.local"}, "source.local cannot be pinned: it is a local path"},
		{[]string{"kernel"}, "invalid address"},
		{[]string{"local.talos"}, "local.talos is not declared"},
	} {
		_, diags := run(t, dir, pin.Request{Addrs: tc.addrs, Git: remotes, Images: remotes})
		if !diags.HasErrors() || !strings.Contains(diags.Error(), tc.want) {
			t.Errorf("%v: %v", tc.addrs, diags)
		}
	}
	res, diags := run(t, dir, pin.Request{Check: true, Addrs: []string{"source.pkgs", "image.overlay"}, Git: remotes, Images: remotes})
	if diags.HasErrors() || len(res.Changes) != 2 || len(remotes.asked) != 2 {
		t.Errorf("limited check: %s %v asked %q", lines(res.Changes), diags, remotes.asked)
	}
}

func TestForEachInstances(t *testing.T) {
	dir := t.TempDir()
	src := `source "same" {
  for_each = toset(["a", "b"])
  git      = "https://example.invalid/s.git"
  ref      = "main"
}

source "differ" {
  for_each = toset(["a", "b"])
  git      = "https://example.invalid/s.git"
  ref      = each.key
}
`
	if err := os.WriteFile(filepath.Join(dir, "main.sovos.hcl"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	remotes := &fakeRemotes{commits: map[string]string{
		"https://example.invalid/s.git main": hex40('a'),
		"https://example.invalid/s.git a":    hex40('b'),
		"https://example.invalid/s.git b":    hex40('c'),
	}}
	res, diags := run(t, dir, pin.Request{Git: remotes})
	if diags.HasErrors() || lines(res.Changes) != "source.same: commit (none) -> aaaaaaaa (main)\n" {
		t.Fatalf("%s %v", lines(res.Changes), diags)
	}
	if len(diags) != 1 || !strings.Contains(diags[0].Detail, "source.differ: its instances (for_each or count) name different refs") {
		t.Errorf("diagnostics: %v", diags)
	}
}

func TestGitSourceWithoutRef(t *testing.T) {
	dir := t.TempDir()
	src := "source \"s\" {\n  git = \"https://example.invalid/s.git\"\n}\n"
	if err := os.WriteFile(filepath.Join(dir, "main.sovos.hcl"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	_, diags := run(t, dir, pin.Request{Git: &fakeRemotes{}})
	if !diags.HasErrors() || !strings.Contains(diags.Error(), "source.s has neither a commit nor a ref") {
		t.Errorf("diagnostics: %v", diags)
	}
}

// TestWritesThroughSymlinksKeepingModes: a configuration file that is a symlink stays one
// (its target gets the pin), and a written file keeps its permissions.
func TestWritesThroughSymlinksKeepingModes(t *testing.T) {
	dir, elsewhere := t.TempDir(), t.TempDir()
	src := "source \"s\" {\n  git = \"https://example.invalid/s.git\"\n  ref = \"main\"\n}\n"
	target := filepath.Join(elsewhere, "shared.sovos.hcl")
	if err := os.WriteFile(target, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "shared.sovos.hcl")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	plain := filepath.Join(dir, "img.sovos.hcl")
	if err := os.WriteFile(plain, []byte("image \"i\" {\n  ref = \"r.invalid/i:v1\"\n}\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(plain, 0o640); err != nil { // whatever the umask
		t.Fatal(err)
	}
	remotes := &fakeRemotes{commits: map[string]string{"https://example.invalid/s.git main": hex40('a')},
		digests: map[string]string{"r.invalid/i:v1": dgst('b')}}
	if _, diags := run(t, dir, pin.Request{Git: remotes, Images: remotes}); diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("the symlink was replaced by a file: %v %v", fi.Mode(), err)
	}
	b, _ := os.ReadFile(target)
	if !strings.Contains(string(b), `commit = "`+hex40('a')+`"`) {
		t.Errorf("the symlink's target lacks the pin:\n%s", b)
	}
	for path, mode := range map[string]os.FileMode{target: 0o600, plain: 0o640} {
		if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != mode {
			t.Errorf("%s: mode %v, want %v (%v)", path, fi.Mode().Perm(), mode, err)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 2 {
		t.Errorf("left behind in the directory: %v", entries)
	}
}

// TestOneLineBlock: a one-line block (`image "x" { ref = "..." }`) has no line after its
// ref, and HCL allows one argument in it, so its own bytes, from { to }, become a
// multi-line block holding ref and the pin, indented by the file's convention (two
// spaces, a tab) and with its line endings; every byte outside the braces stays, a
// comment after } included. The golden files in testdata/oneline/want are the result.
func TestOneLineBlock(t *testing.T) {
	dir := copyDir(t, "testdata/oneline/in")
	before := readDir(t, dir)
	remotes := &fakeRemotes{digests: map[string]string{}}
	for _, n := range []string{"one", "two", "three", "four", "five", "six"} {
		remotes.digests["r.invalid/"+n+":v1"] = dgst(byte('0' + len(remotes.digests) + 1))
	}
	res, diags := run(t, dir, pin.Request{Check: true, Images: remotes})
	if diags.HasErrors() || len(res.Changes) != 5 || len(diags) != 0 {
		t.Fatalf("check: %s %v", lines(res.Changes), diags)
	}
	res, diags = run(t, dir, pin.Request{Images: remotes})
	if diags.HasErrors() || len(res.Changes) != 5 || len(res.LeftOut) != 0 || len(diags) != 0 {
		t.Fatalf("fill: %s left out %v, %v", lines(res.Changes), res.LeftOut, diags)
	}
	after := readDir(t, dir)
	for name, b := range after {
		testenv.Golden(t, filepath.Join("testdata/oneline/want", name), b)
	}
	if len(after) != len(before) {
		t.Errorf("files before %d, after %d", len(before), len(after))
	}
	if strings.Count(string(after["crlf.sovos.hcl"]), "\n") != strings.Count(string(after["crlf.sovos.hcl"]), "\r\n") {
		t.Errorf("crlf.sovos.hcl: a line lost its CR:\n%q", after["crlf.sovos.hcl"])
	}
	// Nothing is missing now: -check exits clean, and a run writes nothing.
	if res, diags = run(t, dir, pin.Request{Check: true, Images: remotes}); diags.HasErrors() || len(res.Changes) != 0 {
		t.Errorf("check after the fill: %s %v", lines(res.Changes), diags)
	}
}
