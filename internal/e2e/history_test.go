package e2e

import (
	"context"
	"encoding/json"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/v1/random"

	"github.com/urmanac/sovos/internal/oci"
	"github.com/urmanac/sovos/internal/testenv"
	"github.com/urmanac/sovos/state"
)

// historyFactory is the factory with its state in the registry, and a client to look at
// the registry as a person would.
type historyFactory struct {
	cli   *testenv.CLI
	host  string
	state string // the -state-registry flag
	reg   *oci.Client
}

func (f *historyFactory) pull(t *testing.T) *state.State {
	t.Helper()
	s, err := state.Decode([]byte(f.cli.OK("state", "pull", f.state)), "state pull")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// digest is what ref points at in the registry, "" when it does not exist.
func (f *historyFactory) digest(t *testing.T, ref string) string {
	t.Helper()
	return digestIn(t, f.reg, ref)
}

// digestIn is what ref points at in reg's registry, "" when it does not exist.
func digestIn(t *testing.T, reg *oci.Client, ref string) string {
	t.Helper()
	r, err := reg.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	d, err := reg.Digest(context.Background(), r)
	if oci.IsNotFound(err) {
		return ""
	}
	if err != nil {
		t.Fatal(err)
	}
	return d.String()
}

func (f *historyFactory) write(t *testing.T, file, content string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(f.cli.Dir, file), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// historyEntry is an entry of `sovos state history -json`.
type historyEntry struct {
	Serial       uint64
	Operation    string
	Built        []string
	Promoted     map[string]string
	RolledBackTo uint64 `json:"rolled_back_to"`
	Deleted      []string
}

func (f *historyFactory) history(t *testing.T) []historyEntry {
	t.Helper()
	var entries []historyEntry
	out := f.cli.OK("state", "history", "-json", f.state)
	if err := json.Unmarshal([]byte(out), &entries); err != nil {
		t.Fatalf("state history -json: %v\n%s", err, out)
	}
	return entries
}

// stableTags maps every stable tag s records (image:tag) to its digest.
func stableTags(s *state.State) map[string]string {
	out := map[string]string{}
	for _, r := range s.Resources {
		for t, d := range r.Tags {
			out[r.Image+":"+t] = d
		}
	}
	return out
}

// contentRefs maps each resource s records with a content tag to image:tag@digest.
func contentRefs(s *state.State) map[string]string {
	out := map[string]string{}
	for _, r := range s.Resources {
		if r.Image != "" && r.Tag != "" && r.Digest != "" {
			out[r.Address] = r.Image + ":" + r.Tag + "@" + r.Digest
		}
	}
	return out
}

// TestCLIHistoryRollbackGC operates the factory after day one (SPEC §10): two promoted
// applies in the history; a rollback with every builder down; a third apply, then gc
// (dry run, a registry refusing DELETE, the real thing) and verify; an extension that
// failed verification refused by rollback; a version-1 state upgraded on write.
func TestCLIHistoryRollbackGC(t *testing.T) {
	host := testenv.StartRegistry(t)
	bk := testenv.StartBuildkitd(t, testenv.WithInsecureRegistries(host))
	f := &historyFactory{
		cli:   factoryCLI(t, host, host, bk.Addr),
		host:  host,
		state: "-state-registry=" + host + "/factory/state",
		reg:   oci.New(oci.WithInsecure(host), oci.WithKeychain(authn.NewMultiKeychain())),
	}
	c := f.cli
	apply := func(args ...string) string {
		t.Helper()
		return c.OK(append([]string{"apply", "-auto-approve", "-progress=quiet", f.state}, args...)...)
	}

	// 1. Two promoted applies, the second after a kernel change (everything rebuilt).
	apply("-promote")
	first := f.pull(t)
	f.write(t, "kernel/vmlinuz", "a kernel, second build\n")
	apply("-promote")
	second := f.pull(t)
	if first.History == nil || second.History == nil || second.Serial <= first.Serial {
		t.Fatalf("serials %d, %d; history %+v, %+v", first.Serial, second.Serial, first.History, second.History)
	}
	h := f.history(t)
	if len(h) != 2 || h[0].Serial != second.Serial || h[1].Serial != first.Serial {
		t.Fatalf("history after two applies: %+v", h)
	}
	for i, s := range []*state.State{second, first} {
		e := h[i]
		if e.Operation != "apply" || !slices.Equal(e.Built, []string{"extension.e", "installer.i", "kernel.k", "profile.cm5"}) {
			t.Errorf("entry %d: %s built %v", e.Serial, e.Operation, e.Built)
		}
		if want := stableTags(s); len(e.Promoted) != 4 || !maps.Equal(e.Promoted, want) {
			t.Errorf("entry %d promoted %v, want %v", e.Serial, e.Promoted, want)
		}
		// The history entry is a tag of the state repository.
		if d := f.digest(t, host+"/factory/state:default.v"+strconv.FormatUint(e.Serial, 10)); d == "" {
			t.Errorf("no history tag for serial %d", e.Serial)
		}
	}
	human := c.OK("state", "history", f.state)
	if !strings.HasPrefix(human, "serial "+strconv.FormatUint(second.Serial, 10)+"  ") || !strings.Contains(human, "promoted:  "+host+"/factory/cm5:stable -> "+shortDigest(stableTags(second)[host+"/factory/cm5:stable"])+"\n") {
		t.Errorf("state history:\n%s", human)
	}

	// 2. Every builder down: rollback to the first apply moves every stable tag back.
	bk.Stop()
	out := c.OK("rollback", "-to="+strconv.FormatUint(first.Serial, 10), "-auto-approve", f.state)
	moved := 0
	for ref, d := range stableTags(first) {
		if got := f.digest(t, ref); got != d {
			t.Errorf("after rollback %s -> %s, want %s", ref, got, d)
		}
		if strings.Contains(out, "  > "+ref+": "+shortDigest(stableTags(second)[ref])+" -> "+shortDigest(d)+" (serial "+strconv.FormatUint(first.Serial, 10)+", ") {
			moved++
		}
	}
	if moved != 4 || !strings.Contains(out, "Rollback: 4 tags to move back") || !strings.Contains(out, "Rollback complete!") {
		t.Errorf("rollback output (%d > lines found):\n%s", moved, out)
	}
	third := f.pull(t)
	if third.Serial != second.Serial+1 || third.History.Operation != "rollback" || third.History.RolledBackTo != first.Serial {
		t.Errorf("after rollback: serial %d, history %+v", third.Serial, third.History)
	}
	if !maps.Equal(stableTags(third), stableTags(first)) {
		t.Errorf("the state records tags %v, want %v", stableTags(third), stableTags(first))
	}
	if h := f.history(t); h[0].Serial != third.Serial || h[0].Operation != "rollback" || len(h[0].Promoted) != 4 {
		t.Errorf("history after rollback: %+v", h[0])
	}
	// A promoting plan shows the tags moving forward again, and why; without -promote
	// nothing changes.
	var plan struct {
		ResourceChanges []struct {
			Address, Action string
			Reasons         []struct{ Kind, Message string }
		} `json:"resource_changes"`
	}
	if err := json.Unmarshal([]byte(c.OK("plan", "-promote", "-format=json", f.state)), &plan); err != nil {
		t.Fatal(err)
	}
	forward := 0
	for _, rc := range plan.ResourceChanges {
		if rc.Action == "promote" && len(rc.Reasons) == 1 && rc.Reasons[0].Kind == "rolled_back" &&
			strings.Contains(rc.Reasons[0].Message, "rolled back to serial "+strconv.FormatUint(first.Serial, 10)) {
			forward++
		}
	}
	if forward != 4 {
		t.Errorf("plan -promote after rollback: %+v", plan.ResourceChanges)
	}
	if out := c.OK("plan", f.state); !strings.Contains(out, "No changes.") {
		t.Errorf("plan without -promote after rollback:\n%s", out)
	}

	// 3. A third apply, not promoted: the extension changes, so it and the profile are
	// rebuilt; the second apply's extension and profile are now referred to by nothing
	// but the history.
	bk2 := testenv.StartBuildkitd(t, testenv.WithInsecureRegistries(host))
	c = c.With("BUILDKIT_HOST=" + bk2.Addr)
	f.cli = c
	dockerfile, err := os.ReadFile(filepath.Join(c.Dir, "ext", "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	f.write(t, "ext/Dockerfile", string(dockerfile)+"# third build\n")
	apply()
	fourth := f.pull(t)
	secondRefs, fourthRefs := contentRefs(second), contentRefs(fourth)
	garbage := []string{secondRefs["extension.e"], secondRefs["profile.cm5"]}
	slices.Sort(garbage)
	if secondRefs["extension.e"] == fourthRefs["extension.e"] || secondRefs["kernel.k"] != fourthRefs["kernel.k"] {
		t.Fatalf("the third apply rebuilt %v", fourth.History.Built)
	}
	// An image of someone else's, tagged like a content tag: never touched.
	foreign, err := random.Image(64, 1)
	if err != nil {
		t.Fatal(err)
	}
	foreignRef, _ := f.reg.NewTag(host + "/factory/ext:0123456789abcdef")
	if err := f.reg.Write(context.Background(), foreignRef, foreign); err != nil {
		t.Fatal(err)
	}

	gcArgs := []string{"gc", "-keep=1", "-min-age=0"}
	out = c.OK(append(gcArgs, "-dry-run", f.state)...)
	if got := listed(out); !slices.Equal(got, garbage) {
		t.Errorf("gc -dry-run lists\n  %v\nwant\n  %v\n%s", got, garbage, out)
	}
	if !strings.Contains(out, "Dry run: nothing was deleted.") {
		t.Errorf("gc -dry-run:\n%s", out)
	}
	for _, ref := range garbage {
		if f.digest(t, ref) == "" {
			t.Errorf("gc -dry-run deleted %s", ref)
		}
	}
	// What refers to the second extension (its module-signature attestation, through the
	// sha256-<hex> fallback index this registry needs) goes with it, listed under it.
	ext2 := second.Resource("extension.e")
	fallback := ext2.Image + ":sha256-" + strings.TrimPrefix(ext2.Digest, "sha256:")
	var referrers []string
	for _, d := range ext2.Attestations {
		referrers = append(referrers, ext2.Image+"@"+d)
	}
	if len(referrers) == 0 || f.digest(t, fallback) == "" {
		t.Fatalf("the second extension has attestations %v and fallback index %q: nothing to check gc against", ext2.Attestations, f.digest(t, fallback))
	}
	for _, r := range append(referrers, ext2.Image+"@"+f.digest(t, fallback)) {
		if !strings.Contains(out, "      with "+r+"\n") {
			t.Errorf("gc -dry-run does not list %s with the extension:\n%s", r, out)
		}
	}

	// A registry that answers 405 to DELETE (as GHCR does): gc says so, lists what to
	// delete by hand, and deletes nothing.
	proxy := testenv.StartFaultProxy(t, host)
	proxy.FailEvery(testenv.AllOf(testenv.Methods(http.MethodDelete), testenv.PathContains("/manifests/")), 1, http.StatusMethodNotAllowed)
	viaProxy := c.With("SOVOS_VAR_registry=" + proxy.Host + "/factory")
	stdout, stderr, code := viaProxy.Run(append(gcArgs, "-auto-approve", "-state-registry="+proxy.Host+"/factory/state")...)
	if code != 1 || !strings.Contains(stderr, "refuses to delete manifests") || !strings.Contains(stderr, "405 Method Not Allowed") ||
		!strings.Contains(stderr, "Delete these by hand") || strings.Contains(stdout, "GC complete") {
		t.Errorf("gc on a registry refusing DELETE: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	for _, ref := range garbage {
		tagged, digest, _ := strings.Cut(ref, "@")
		byHand := strings.Replace(tagged[:strings.LastIndex(tagged, ":")], host, proxy.Host, 1) + "@" + digest
		if !strings.Contains(stderr, "  "+byHand+"\n") {
			t.Errorf("the by-hand list lacks %s:\n%s", byHand, stderr)
		}
		if f.digest(t, ref) == "" {
			t.Errorf("%s was deleted although the registry refused", ref)
		}
	}

	// The real thing: exactly those go; verify still passes.
	out = c.OK(append(gcArgs, "-auto-approve", f.state)...)
	if got := listed(out); !slices.Equal(got, garbage) || !strings.Contains(out, "GC complete! 2 artifacts deleted") {
		t.Errorf("gc lists %v, want %v\n%s", got, garbage, out)
	}
	for _, ref := range append(garbage, referrers...) {
		if f.digest(t, ref) != "" {
			t.Errorf("%s survived gc", ref)
		}
	}
	for _, ref := range garbage {
		if tag, _, _ := strings.Cut(ref, "@"); f.digest(t, tag) != "" {
			t.Errorf("the content tag %s survived gc", tag)
		}
	}
	if d := f.digest(t, fallback); d != "" {
		t.Errorf("the referrers fallback tag %s survived gc (-> %s)", fallback, d)
	}
	for _, refs := range []map[string]string{contentRefs(first), fourthRefs} {
		for addr, ref := range refs {
			if f.digest(t, ref) == "" {
				t.Errorf("gc deleted %s (%s), which a kept state refers to", ref, addr)
			}
		}
	}
	for ref, d := range stableTags(first) {
		if got := f.digest(t, ref); got != d {
			t.Errorf("after gc %s -> %q, want %s", ref, got, d)
		}
	}
	if f.digest(t, foreignRef.String()) == "" {
		t.Error("gc deleted an image without the dev.sovos.hash annotation")
	}
	c.OK("verify", f.state)
	if h := f.history(t); h[0].Operation != "gc" || len(h[0].Deleted) != 2 {
		t.Errorf("history after gc: %+v", h[0])
	}

	// 4. An extension whose modules a foreign key signed fails verification; a state
	// whose stable tag names it (pushed by hand) cannot be rolled back to.
	if err := os.WriteFile(filepath.Join(c.Dir, "ext", "modsign"), mustRead(t, filepath.Join(c.Dir, "kernel", "modsign")), 0o755); err != nil {
		t.Fatal(err)
	}
	f.write(t, "ext/foreign.ko", string(mustRead(t, filepath.Join(c.Dir, "kernel", "hello.ko"))))
	f.write(t, "ext/Dockerfile", `ARG BUSYBOX
FROM ${BUSYBOX} AS sign
COPY modsign /usr/bin/modsign
COPY foreign.ko /foreign.ko
RUN /usr/bin/modsign genkey /k && /usr/bin/modsign sign /k/signing_key.pem /k/signing_key.x509 /foreign.ko

`+string(dockerfile)+`COPY --from=sign /foreign.ko /rootfs/usr/lib/modules/extras/foreign.ko
`)
	if _, stderr, code := c.Run("apply", "-auto-approve", "-progress=quiet", f.state); code != 1 || !strings.Contains(stderr, "foreign_key") {
		t.Fatalf("apply with a foreign-key module: exit %d\n%s", code, stderr)
	}
	bad := f.pull(t)
	ext := bad.Resource("extension.e")
	if ext.Verified == nil || ext.Verified.OK || ext.Verified.Digest != ext.Digest {
		t.Fatalf("the failed extension is recorded as %+v", ext.Verified)
	}
	ext.Tags["stable"] = ext.Digest
	data, err := state.Encode(bad)
	if err != nil {
		t.Fatal(err)
	}
	f.write(t, "bad.json", string(data))
	c.OK("state", "push", "bad.json", f.state)
	pushed := f.pull(t)
	stdout, stderr, code = c.Run("rollback", "-to="+strconv.FormatUint(pushed.Serial, 10), "-auto-approve", f.state)
	if code != 1 || !strings.Contains(stderr, "refused, nothing was moved") || !strings.Contains(stderr, "extension.e: "+ext.Image+"@"+ext.Digest+" has no passing module-signature attestation") ||
		!strings.Contains(stderr, "failed verification") {
		t.Errorf("rollback to a failed extension: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	for ref, d := range stableTags(first) {
		if got := f.digest(t, ref); got != d {
			t.Errorf("a refused rollback moved %s to %s", ref, got)
		}
	}
	if s := f.pull(t); s.Serial != pushed.Serial {
		t.Errorf("a refused rollback wrote serial %d", s.Serial)
	}

	// 5. A version-1 state (a first-release sovos's) is read, and written as version 2.
	var doc map[string]any
	if err := json.Unmarshal([]byte(c.OK("state", "pull", f.state)), &doc); err != nil {
		t.Fatal(err)
	}
	doc["version"] = 1
	delete(doc, "history")
	v1, _ := json.Marshal(doc)
	f.write(t, "v1.json", string(v1))
	c.OK("state", "push", "v1.json", f.state)
	if err := json.Unmarshal([]byte(c.OK("state", "pull", f.state)), &doc); err != nil {
		t.Fatal(err)
	}
	if doc["version"] != float64(2) || doc["history"] == nil {
		t.Errorf("a version-1 state pushed is stored as version %v, history %v", doc["version"], doc["history"])
	}
}

// listed returns the artifacts a gc output lists to delete (its "  - " lines), sorted.
func listed(out string) []string {
	var refs []string
	for _, l := range strings.Split(out, "\n") {
		if rest, ok := strings.CutPrefix(l, "  - "); ok {
			refs = append(refs, strings.Fields(rest)[0])
		}
	}
	slices.Sort(refs)
	return refs
}

func shortDigest(d string) string { return d[:min(len(d), 7+12)] }

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}
