package views

import (
	"strings"
	"testing"

	"github.com/urmanac/sovos/config"
	"github.com/urmanac/sovos/planner"
)

// A reviewer must see what a profile boots: upstream or sovereign images.
func TestPlanHumanShowsProfileImages(t *testing.T) {
	r := &config.Resource{
		Addr: config.Address{Type: "profile", Name: "talos", Key: "cm4-standard"},
		Profile: &config.ProfileSpec{
			Installer:  "ghcr.io/siderolabs/installer:v1.13.3@sha256:aaaa",
			Imager:     "ghcr.io/siderolabs/imager:v1.13.3@sha256:bbbb",
			Extensions: []string{"ghcr.io/siderolabs/hailort:4.21.0@sha256:cccc"},
		},
	}
	p := &planner.Plan{Changes: []*planner.ResourceChange{{
		Address: r.Addr.String(), Type: "profile", Action: planner.ActionCreate, Resource: r,
		Boots:   &planner.ProfileImages{Installer: r.Profile.Installer, Imager: r.Profile.Imager, Extensions: r.Profile.Extensions},
		After:   &planner.Snapshot{Ref: "r/p:0123456789abcdef"},
		Reasons: []planner.Reason{{Kind: planner.ReasonNotInState, Message: "not in the state"}},
	}}, Summary: planner.Summary{Create: 1}}
	var b strings.Builder
	if err := PlanHuman(&b, p, false); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"installer: ghcr.io/siderolabs/installer:v1.13.3@sha256:aaaa",
		"imager:    ghcr.io/siderolabs/imager:v1.13.3@sha256:bbbb",
		"extension: ghcr.io/siderolabs/hailort:4.21.0@sha256:cccc",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("plan lacks %q:\n%s", want, b.String())
		}
	}
}
