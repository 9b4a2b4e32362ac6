package planner

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"

	"github.com/urmanac/sovos/config"
)

func withVars(cfg *config.Config, plain, secret string) *config.Config {
	cfg.Variables = []*config.Variable{
		{Name: "registry", Value: cty.StringVal(plain)},
		{Name: "token", Sensitive: true, Value: cty.StringVal(secret).Mark(config.MarkSensitive)},
	}
	return cfg
}

func TestPlanFileRoundTrip(t *testing.T) {
	p := mixedPlan(t)
	withVars(p.Config, "ghcr.io/urmanac", "hunter2")
	path := filepath.Join(t.TempDir(), "plan.out")
	if err := WriteFile(path, p); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	if strings.Contains(string(data), "hunter2") {
		t.Fatal("the saved plan holds a sensitive value")
	}
	f, err := ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	opts := []cmp.Option{
		cmpopts.IgnoreFields(Plan{}, "Config", "Prior"),
		cmpopts.IgnoreFields(ResourceChange{}, "Resource", "Prior"),
		cmpopts.EquateEmpty(),
	}
	if diff := cmp.Diff(p, f.Plan, opts...); diff != "" {
		t.Errorf("read back (-wrote +read):\n%s", diff)
	}
	if err := f.Check(p.Config, p.State.Digest); err != nil {
		t.Errorf("Check of an unchanged world: %v", err)
	}
	bound, err := f.Bind(p.Config, p.Prior)
	if err != nil {
		t.Fatal(err)
	}
	if c := bound.Change("kernel.sovereign"); c.Resource == nil || c.Prior == nil {
		t.Errorf("bound kernel: resource %v prior %v", c.Resource, c.Prior)
	}
	if c := bound.Change(`extension.old["nvidia"]`); c.Resource != nil || c.Prior == nil {
		t.Errorf("bound forget: resource %v prior %v", c.Resource, c.Prior)
	}
	if !bound.Promote || bound.Change("profile.rescue").AdoptDigest == "" {
		t.Errorf("promote %v adopt digest %q", bound.Promote, bound.Change("profile.rescue").AdoptDigest)
	}
}

func TestPlanFileCheckRefuses(t *testing.T) {
	tests := []struct {
		name   string
		change func(cfg *config.Config) (stateDigest string)
		want   string
	}{
		{"stale state", func(*config.Config) string { return "sha256:moved" }, "stale plan: the state changed since this plan was made (state digest when planned: sha256:5555"},
		{"configuration", func(cfg *config.Config) string {
			cfg.Files = map[string]*hcl.File{"main.sovos.hcl": {Bytes: []byte("# edited\n")}}
			return ""
		}, "the configuration in /work/cfg changed since the plan"},
		{"variables", func(cfg *config.Config) string {
			cfg.Variables[0].Value = cty.StringVal("ghcr.io/other")
			return ""
		}, "the variables differ from those the plan"},
		{"sensitive variables", func(cfg *config.Config) string {
			cfg.Variables[1].Value = cty.StringVal("hunter3").Mark(config.MarkSensitive)
			return ""
		}, "the sensitive variables differ from those the plan"},
		{"resource inputs", func(cfg *config.Config) string {
			cfg.Resource("extension.hailort").Hash = sha("other files")
			return ""
		}, "the inputs of extension.hailort changed since the plan"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := mixedPlan(t)
			withVars(p.Config, "ghcr.io/urmanac", "hunter2")
			path := filepath.Join(t.TempDir(), "plan.out")
			if err := WriteFile(path, p); err != nil {
				t.Fatal(err)
			}
			f, err := ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			digest := p.State.Digest
			if d := tt.change(p.Config); d != "" {
				digest = d
			}
			err = f.Check(p.Config, digest)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Check: %v, want %q", err, tt.want)
			}
		})
	}
}

func TestReadFileRefusesWhatIsNotAPlan(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"text":    "hello\n",
		"json":    `{"format_version": "1.0"}`,
		"state":   `{"version": 1, "lineage": "x", "serial": 1}`,
		"future":  `{"magic": "sovos-plan", "version": 99}`,
		"garbage": "\x00\x01\x02",
	}
	for name, content := range files {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := ReadFile(path)
		want := "is not a sovos plan file"
		if name == "future" {
			want = "format version 99"
		}
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", name, err, want)
		}
	}
	if _, err := ReadFile(filepath.Join(dir, "missing")); err == nil {
		t.Error("missing file: no error")
	}
}
