package executor

import (
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"

	"github.com/urmanac/sovos/config"
	"github.com/urmanac/sovos/planner"
)

// UnsetSecretEnvs lists, one sentence each, the secrets that p's builds read from an
// environment variable lookup does not find: a build's secrets, and a profile's
// secureboot_keys when its imager runs. An environment variable may be set only where
// apply runs, so validate cannot tell; apply refuses such a plan before any build
// starts (rather than after every build before that one), and plan warns. The
// environment the builds see is the process's (bkdriver's secret provider), so apply
// passes os.LookupEnv.
func UnsetSecretEnvs(p *planner.Plan, lookup func(string) (string, bool)) []string {
	var out []string
	for _, c := range p.Changes {
		r := c.Resource
		if r == nil || (c.Action != planner.ActionCreate && c.Action != planner.ActionRebuild) {
			continue
		}
		var specs map[string]config.SecretSpec
		attr := "secrets"
		switch {
		case r.Build != nil:
			specs = r.Build.Secrets
		case r.Profile != nil && r.Profile.Imager != "":
			specs, attr = r.Profile.SecurebootKeys, "secureboot_keys"
		}
		if len(specs) == 0 {
			continue // most builds: no sorted copy of no keys
		}
		for _, id := range slices.Sorted(maps.Keys(specs)) {
			env := specs[id].Env
			if env == "" {
				continue
			}
			if _, ok := lookup(env); !ok {
				out = append(out, fmt.Sprintf("%s will be built, and its %s[%q] comes from the environment variable %s, which is not set", c.Address, attr, id, env))
			}
		}
	}
	return out
}

// SecretEnvError is apply's refusal of a plan whose builds need a secret from an
// environment variable that is not set (UnsetSecretEnvs with the process environment):
// nil when every one is set.
func SecretEnvError(p *planner.Plan) error {
	missing := UnsetSecretEnvs(p, os.LookupEnv)
	if len(missing) == 0 {
		return nil
	}
	them := "it"
	if len(missing) > 1 {
		them = "them"
	}
	return fmt.Errorf("%s; set %s and run apply again (nothing was built)", strings.Join(missing, "; "), them)
}
