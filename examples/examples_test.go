// Package examples_test checks that the shipped examples stay usable, one concern per
// file: the GitHub Actions workflows parse and keep the shape their README describes
// (workflows_test.go); the sticky-comment script finds and replaces its own comment
// (sticky_comment_test.go); the sovereign-os configuration evaluates to its matrix
// (sovereign_os_test.go) and plans offline as the PR workflow runs it
// (sovereign_os_plan_test.go); the quickstart runs end to end as `make demo` and the
// README's tour do (quickstart_test.go). This file holds what they share.
package examples_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclwrite"

	"github.com/urmanac/sovos/config"
	"github.com/urmanac/sovos/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// loadCleanly evaluates the configuration in dir as `sovos validate` does and fails on
// any diagnostic, warnings included: the examples are what users copy first.
func loadCleanly(t *testing.T, dir string, opts config.EvalOptions) *config.Config {
	t.Helper()
	cfg, diags := config.Load(context.Background(), dir, opts)
	if len(diags) > 0 {
		var buf bytes.Buffer
		files := map[string]*hcl.File{}
		if cfg != nil {
			files = cfg.Files
		}
		if err := config.WriteDiagnostics(&buf, files, diags, false); err != nil {
			t.Fatal(err)
		}
		t.Fatalf("%s does not validate cleanly:\n%s", dir, buf.String())
	}
	return cfg
}

// checkFormatted fails for every file that is not in canonical form (`sovos fmt -check`).
func checkFormatted(t *testing.T, files []string) {
	t.Helper()
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(hclwrite.Format(src), src) {
			t.Errorf("%s is not formatted; run sovos fmt", f)
		}
	}
}

// offlineEnv is an environment in which any network call fails: a dead proxy for
// HTTP(S), no registry credentials, a scratch home and cache.
func offlineEnv(t *testing.T) []string {
	home := t.TempDir()
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch strings.ToUpper(k) {
		case "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "HOME", "DOCKER_CONFIG", "XDG_CACHE_HOME", "BUILDKIT_HOST":
			continue
		}
		if strings.HasPrefix(k, "SOVOS_") {
			continue
		}
		env = append(env, kv)
	}
	return append(env,
		"HTTP_PROXY=http://127.0.0.1:1", "HTTPS_PROXY=http://127.0.0.1:1", "NO_PROXY=",
		"HOME="+home, "XDG_CACHE_HOME="+filepath.Join(home, ".cache"),
		"DOCKER_CONFIG="+filepath.Join(home, ".docker"),
		"BUILDKIT_HOST=unix:///nonexistent/buildkitd.sock")
}

// planChange is one entry of a JSON plan's resource_changes.
type planChange struct {
	Address string `json:"address"`
	Type    string `json:"type"`
	Action  string `json:"action"`
	Reasons []struct {
		Kind    string `json:"kind"`
		Message string `json:"message"`
	} `json:"reasons"`
	DependsOn []string `json:"depends_on"`
	After     *struct {
		Hash string `json:"hash"`
		Tag  string `json:"tag"`
		Ref  string `json:"ref"`
	} `json:"after"`
}

// checkActions fails for every address whose action in the JSON plan out (`plan
// -format=json`) is not the one wanted; an address the plan leaves out is a no-op.
// after names the change planned, for the messages.
func checkActions(t *testing.T, out, after string, want map[string]string) {
	t.Helper()
	var plan struct {
		Changes []planChange `json:"resource_changes"`
	}
	if err := json.Unmarshal([]byte(out), &plan); err != nil {
		t.Fatalf("plan -format=json: %v\n%s", err, out)
	}
	actions := map[string]string{}
	for _, c := range plan.Changes {
		actions[c.Address] = c.Action
	}
	for addr, w := range want {
		got := actions[addr]
		if got == "" {
			got = "no-op" // the JSON plan may leave out no-ops
		}
		if got != w {
			t.Errorf("%s: %s is %s, want %s", after, addr, got, w)
		}
	}
}
