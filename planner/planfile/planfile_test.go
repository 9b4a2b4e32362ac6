package planfile

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/zclconf/go-cty/cty"

	"github.com/urmanac/sovos/config"
	"github.com/urmanac/sovos/hashing"
	"github.com/urmanac/sovos/internal/testenv"
	"github.com/urmanac/sovos/planner"
	"github.com/urmanac/sovos/state"
)

const stateDigest = "sha256:5555555555555555555555555555555555555555555555555555555555555555"

// factory copies testdata/factory to a new directory and returns it.
func factory(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "factory")
	testenv.CopyTree(t, "testdata/factory", dir)
	return dir
}

// load evaluates the configuration in dir as plan and apply do, with the real hasher.
func load(t *testing.T, dir string, opts config.EvalOptions) *config.Config {
	t.Helper()
	opts.Hooks = hashing.NewHasher(hashing.HasherOptions{CacheDir: t.TempDir()})
	cfg, diags := config.Load(context.Background(), dir, opts)
	if diags.HasErrors() {
		t.Fatalf("loading %s: %v", dir, diags)
	}
	return cfg
}

// plan makes a plan of dir with the given variables, against an empty state known by
// stateDigest, with -promote and a -target.
func plan(t *testing.T, dir string, opts config.EvalOptions) *planner.Plan {
	t.Helper()
	p, err := planner.MakePlan(context.Background(), load(t, dir, opts), nil, stateDigest,
		planner.Options{Promote: true})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func vars(pin string, extra ...string) config.EvalOptions {
	return config.EvalOptions{Vars: append([]string{"registry=registry.example/me", `flavours=["arm64","rpi"]`, "pin=" + pin}, extra...)}
}

func TestRoundTrip(t *testing.T) {
	dir := factory(t)
	p := plan(t, dir, vars("4821"))
	// What a registry refresh would have added, so every field is written.
	c := p.Change(`kernel.k["rpi"]`)
	c.Action, c.AdoptDigest = planner.ActionAdopt, "sha256:"+strings.Repeat("a", 64)
	c.AdoptStages = map[string]string{"x": "sha256:" + strings.Repeat("b", 64)}
	c.Tags = map[string]planner.TagChange{"stable": {After: c.AdoptDigest}}
	c.Boots = &planner.ProfileImages{Installer: "i", Extensions: []string{"e"}}
	p.Targets = []string{"kernel.k"}

	data, err := Encode(p)
	if err != nil {
		t.Fatal(err)
	}
	f, err := Decode(data, "plan.out")
	if err != nil {
		t.Fatal(err)
	}
	opts := []cmp.Option{
		cmpopts.IgnoreFields(planner.Plan{}, "Config", "Prior"),
		cmpopts.IgnoreFields(planner.ResourceChange{}, "Resource", "Prior"),
		cmpopts.EquateEmpty(),
	}
	if diff := cmp.Diff(p, f.Plan, opts...); diff != "" {
		t.Errorf("read back (-wrote +read):\n%s", diff)
	}
	if f.SovosVersion != "0.1.0" {
		t.Errorf("sovos version %q", f.SovosVersion)
	}

	// apply FILE evaluates with the saved values alone (no -var but the sensitive one).
	cfg := load(t, dir, config.EvalOptions{Saved: f.Values(), Vars: []string{"pin=4821"}})
	if err := f.Check(cfg, stateDigest); err != nil {
		t.Fatalf("Check of an unchanged world: %v", err)
	}
	bound, err := f.Bind(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c := bound.Change(`kernel.k["arm64"]`); c.Resource == nil || c.Resource.Hash != c.After.Hash || len(c.Inputs) == 0 {
		t.Errorf("bound kernel: %+v", c)
	}
}

// SPEC §4 "Saved plans": nothing derived from a sensitive value is stored. Two plans
// that differ only by the PIN are the same bytes, and the PIN appears in none of the
// encodings or digests a brute force would test.
func TestNoSensitiveValueInThePlanFile(t *testing.T) {
	dir := factory(t)
	// The PIN comes from a variable file too: its bytes must not reach the
	// configuration digest.
	if err := os.WriteFile(filepath.Join(dir, "secret.sovosvars"), []byte("pin = \"4821\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "plan.out")
	if err := Write(path, plan(t, dir, config.EvalOptions{VarFiles: []string{"secret.sovosvars"}, Vars: []string{"registry=registry.example/me"}})); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	other, err := Encode(plan(t, dir, vars("7305", `flavours=["arm64"]`)))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(data, other) {
		t.Errorf("the plan file depends on the sensitive value:\n%s", cmp.Diff(string(other), string(data)))
	}
	for _, secret := range []string{"4821", `"4821"`, "pin = \"4821\"\n"} {
		needles := map[string][]byte{"plain": []byte(secret)}
		for name, sum := range map[string][]byte{
			"md5": md5Sum(secret), "sha1": sha1Sum(secret), "sha256": sha256Sum(secret), "sha512": sha512Sum(secret),
		} {
			needles[name+" hex"] = []byte(hex.EncodeToString(sum))
			needles[name+" base64"] = []byte(base64.StdEncoding.EncodeToString(sum))
			needles[name+" base64url"] = []byte(base64.RawURLEncoding.EncodeToString(sum))
		}
		needles["base64"] = []byte(base64.StdEncoding.EncodeToString([]byte(secret)))
		for name, n := range needles {
			if bytes.Contains(data, n) {
				t.Errorf("the plan file holds the %s of %q", name, secret)
			}
		}
	}
	if info, err := os.Stat(path); err != nil || info.Mode().Perm()&0o077 != 0 {
		t.Errorf("plan file mode: %v %v", info.Mode(), err)
	}
	f, err := Read(path)
	if err != nil {
		t.Fatal(err)
	}
	if v := f.Variables["pin"]; !v.Sensitive || v.Value != cty.NilVal {
		t.Errorf("pin saved as %+v", v)
	}
}

func md5Sum(s string) []byte    { b := md5.Sum([]byte(s)); return b[:] }
func sha1Sum(s string) []byte   { b := sha1.Sum([]byte(s)); return b[:] }
func sha256Sum(s string) []byte { b := sha256.Sum256([]byte(s)); return b[:] }
func sha512Sum(s string) []byte { b := sha512.Sum512([]byte(s)); return b[:] }

func TestCheckRefuses(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(t *testing.T, dir string) (opts config.EvalOptions, digest string)
		want  string
		clean bool
	}{
		{"stale state", func(t *testing.T, dir string) (config.EvalOptions, string) {
			return config.EvalOptions{Vars: []string{"pin=4821"}}, "sha256:" + strings.Repeat("6", 64)
		}, "stale plan: the state changed since this plan was made (state digest when planned: " + stateDigest + ", now: sha256:6666", false},
		{"no state any more", func(t *testing.T, dir string) (config.EvalOptions, string) {
			return config.EvalOptions{Vars: []string{"pin=4821"}}, ""
		}, "now: none)", false},
		{"configuration", func(t *testing.T, dir string) (config.EvalOptions, string) {
			appendFile(t, filepath.Join(dir, "main.sovos.hcl"), "\n# reviewed\n")
			return config.EvalOptions{Vars: []string{"pin=4821"}}, stateDigest
		}, "the configuration in " + "DIR" + " changed since the plan plan.out was made; run `sovos plan` again", false},
		{"a variable given again, differently", func(t *testing.T, dir string) (config.EvalOptions, string) {
			return config.EvalOptions{Vars: []string{"pin=4821", "registry=registry.example/other"}}, stateDigest
		}, `var.registry is "registry.example/other" now, but the plan plan.out was made with "registry.example/me"`, false},
		{"a variable from the environment", func(t *testing.T, dir string) (config.EvalOptions, string) {
			return config.EvalOptions{Vars: []string{"pin=4821"}, Environ: []string{`SOVOS_VAR_flavours=["arm64"]`}}, stateDigest
		}, `var.flavours is ["arm64"] now, but the plan plan.out was made with ["arm64","rpi"]`, false},
		{"the same values given again", func(t *testing.T, dir string) (config.EvalOptions, string) {
			return vars("4821"), stateDigest
		}, "", true},
		{"another sensitive value (it cannot be told)", func(t *testing.T, dir string) (config.EvalOptions, string) {
			return config.EvalOptions{Vars: []string{"pin=1111"}}, stateDigest
		}, "", true},
		{"resource inputs", func(t *testing.T, dir string) (config.EvalOptions, string) {
			appendFile(t, filepath.Join(dir, "src", "Dockerfile"), "RUN true\n")
			return config.EvalOptions{Vars: []string{"pin=4821"}}, stateDigest
		}, `the inputs of kernel.k["arm64"] changed since the plan plan.out was made`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := factory(t)
			data, err := Encode(plan(t, dir, vars("4821")))
			if err != nil {
				t.Fatal(err)
			}
			f, err := Decode(data, "plan.out")
			if err != nil {
				t.Fatal(err)
			}
			opts, digest := tt.edit(t, dir)
			opts.Saved = f.Values()
			err = f.Check(load(t, dir, opts), digest)
			want := strings.ReplaceAll(tt.want, "DIR", dir)
			switch {
			case tt.clean && err != nil:
				t.Errorf("Check: %v", err)
			case !tt.clean && (err == nil || !strings.Contains(err.Error(), want)):
				t.Errorf("Check: %v\nwant %q", err, want)
			}
		})
	}
}

func appendFile(t *testing.T, path, s string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
}

func TestDecodeRefuses(t *testing.T) {
	tests := []struct{ name, content, want string }{
		{"text", "hello\n", "plan.out is not a sovos plan file; create one with `sovos plan -out=plan.out`"},
		{"empty", "", "is not a sovos plan file"},
		{"public plan JSON", `{"format_version": "1.0", "resource_changes": []}`, "is not a sovos plan file"},
		{"state", `{"version": 1, "lineage": "x", "serial": 1}`, "is not a sovos plan file"},
		{"garbage", "\x00\x01\x02", "is not a sovos plan file"},
		{"first release", `{"magic": "sovos-plan", "version": 1, "sensitive_salt": "c2FsdA==", "sensitive_hmac": "00"}`,
			"plan.out was made by an older sovos; plan again (`sovos plan -out=plan.out`)"},
		{"format 2", `{"magic": "sovos-plan", "version": 2}`, "made by an older sovos; plan again"},
		{"future", `{"magic": "sovos-plan", "version": 99, "sovos_version": "9.0.0"}`,
			"plan.out was made by sovos 9.0.0 (plan file format 99; this sovos reads format 3); apply it with that sovos, or plan again with this one"},
		{"damaged", `{"magic": "sovos-plan", "version": 3, "changes": [{"address": "kernel.k", "index": 1.5}]}`,
			"plan.out is a damaged sovos plan file: changes: kernel.k: index 1.5 is not an integer; plan again"},
		{"no changes", `{"magic": "sovos-plan", "version": 3}`, "is a damaged sovos plan file: it holds no changes"},
		{"bad variable", `{"magic": "sovos-plan", "version": 3, "changes": [], "variables": {"x": {"type": "string", "value": [1]}}}`,
			"is a damaged sovos plan file: variable x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Decode([]byte(tt.content), "plan.out")
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Decode: %v\nwant %q", err, tt.want)
			}
		})
	}
	if _, err := Read(filepath.Join(t.TempDir(), "missing")); err == nil || !strings.Contains(err.Error(), "does not exist; create it with `sovos plan -out=") {
		t.Errorf("missing file: %v", err)
	}
}

// FuzzDecode: any bytes give a plan or an error, never a panic.
func FuzzDecode(f *testing.F) {
	dir := filepath.Join(f.TempDir(), "factory")
	testenv.CopyTree(f, "testdata/factory", dir)
	cfg, diags := config.Load(context.Background(), dir, config.EvalOptions{
		Hooks: hashing.NewHasher(hashing.HasherOptions{}), Vars: vars("4821").Vars})
	if diags.HasErrors() {
		f.Fatal(diags)
	}
	prior := state.New("default", "0.1.0")
	p, err := planner.MakePlan(context.Background(), cfg, prior, stateDigest, planner.Options{Promote: true})
	if err != nil {
		f.Fatal(err)
	}
	seed, err := Encode(p)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed)
	f.Add([]byte(`{"magic": "sovos-plan", "version": 3, "changes": [{"address": "a.b", "index": 1}], "variables": {"x": {"type": ["list", "string"], "value": ["a"]}}}`))
	f.Add([]byte(`{"magic": "sovos-plan", "version": 1}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := Decode(data, "fuzz")
		if err == nil && file.Plan == nil {
			t.Fatal("no plan and no error")
		}
	})
}

// The format is fixed by docs/planfile.md: a change to what is written shows up here,
// and one that an older reader would misread must bump Version.
func TestFormatGolden(t *testing.T) {
	data, err := Encode(plan(t, factory(t), vars("4821")))
	if err != nil {
		t.Fatal(err)
	}
	testenv.Golden(t, "testdata/factory.plan.json", data)
}
