package executor

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/urmanac/sovos/config"
	"github.com/urmanac/sovos/planner"
)

// TestUnsetSecretEnvs: only what apply will build or run needs its environment
// secrets: a build's secrets and the secureboot keys of a profile whose imager runs.
func TestUnsetSecretEnvs(t *testing.T) {
	env := map[string]string{"SET": "x"}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	build := func(addr string, action planner.Action, secrets map[string]config.SecretSpec) *planner.ResourceChange {
		return &planner.ResourceChange{Address: addr, Action: action, Resource: &config.Resource{Build: &config.BuildSpec{Secrets: secrets}}}
	}
	profile := func(addr, imager string, keys map[string]config.SecretSpec) *planner.ResourceChange {
		return &planner.ResourceChange{Address: addr, Action: planner.ActionRebuild,
			Resource: &config.Resource{Profile: &config.ProfileSpec{Imager: imager, SecurebootKeys: keys}}}
	}
	p := &planner.Plan{Changes: []*planner.ResourceChange{
		build("kernel.k", planner.ActionCreate, map[string]config.SecretSpec{"b": {Env: "UNSET_B"}, "a": {Env: "UNSET_A"}, "s": {Env: "SET"}, "f": {File: "/x"}}),
		build("kernel.adopted", planner.ActionAdopt, map[string]config.SecretSpec{"a": {Env: "UNSET_A"}}),
		build("kernel.same", planner.ActionNoop, map[string]config.SecretSpec{"a": {Env: "UNSET_A"}}),
		profile("profile.imaged", "r/imager:1", map[string]config.SecretSpec{"uki-signing-key.pem": {Env: "UNSET_KEY"}}),
		profile("profile.rendered", "", map[string]config.SecretSpec{"uki-signing-key.pem": {Env: "UNSET_KEY"}}),
	}}
	want := []string{
		`kernel.k will be built, and its secrets["a"] comes from the environment variable UNSET_A, which is not set`,
		`kernel.k will be built, and its secrets["b"] comes from the environment variable UNSET_B, which is not set`,
		`profile.imaged will be built, and its secureboot_keys["uki-signing-key.pem"] comes from the environment variable UNSET_KEY, which is not set`,
	}
	if diff := cmp.Diff(want, UnsetSecretEnvs(p, lookup)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
