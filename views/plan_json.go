package views

import (
	"encoding/json"
	"io"

	"github.com/urmanac/sovos/planner"
)

// The JSON representation of a plan, SPEC §4, field for field. Its version is
// planner.FormatVersion; a saved plan has a format of its own (package planfile).
type jsonPlan struct {
	FormatVersion   string        `json:"format_version"`
	SovosVersion    string        `json:"sovos_version"`
	Workspace       string        `json:"workspace"`
	State           jsonStateRef  `json:"state"`
	ResourceChanges []*jsonChange `json:"resource_changes"`
	Summary         jsonSummary   `json:"summary"`
	Applyable       bool          `json:"applyable"`
}

type jsonStateRef struct {
	Lineage string `json:"lineage"`
	Serial  uint64 `json:"serial"`
	Digest  string `json:"digest"`
}

type jsonChange struct {
	Address   string                   `json:"address"`
	Type      string                   `json:"type"`
	Name      string                   `json:"name"`
	Index     any                      `json:"index"`
	Action    planner.Action           `json:"action"`
	Reasons   []jsonReason             `json:"reasons"`
	Builder   string                   `json:"builder"`
	Tags      map[string]jsonTagChange `json:"tags"`
	Before    *jsonSnapshot            `json:"before"`
	After     *jsonSnapshot            `json:"after"`
	DependsOn []string                 `json:"depends_on"`
}

type jsonReason struct {
	Kind    string `json:"kind"`
	Message string `json:"message"`
}

type jsonTagChange struct {
	Before *string `json:"before"`
	After  string  `json:"after"`
}

type jsonSnapshot struct {
	Hash   string `json:"hash"`
	Tag    string `json:"tag"`
	Ref    string `json:"ref"`
	Digest string `json:"digest,omitempty"`
}

type jsonSummary struct {
	Create  int `json:"create"`
	Adopt   int `json:"adopt"`
	Rebuild int `json:"rebuild"`
	Promote int `json:"promote"`
	Forget  int `json:"forget"`
	NoOp    int `json:"no_op"`
}

// PlanJSON writes the plan as the JSON document of SPEC §4, alone, indented.
func PlanJSON(w io.Writer, p *planner.Plan) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(toJSON(p))
}

func toJSON(p *planner.Plan) *jsonPlan {
	jp := &jsonPlan{
		FormatVersion:   p.FormatVersion,
		SovosVersion:    p.SovosVersion,
		Workspace:       p.Workspace,
		State:           jsonStateRef(p.State),
		ResourceChanges: make([]*jsonChange, 0, len(p.Changes)),
		Summary:         jsonSummary(p.Summary),
		Applyable:       p.Applyable,
	}
	if jp.FormatVersion == "" {
		jp.FormatVersion = planner.FormatVersion
	}
	for _, c := range p.Changes {
		jp.ResourceChanges = append(jp.ResourceChanges, changeToJSON(c))
	}
	return jp
}

func changeToJSON(c *planner.ResourceChange) *jsonChange {
	jc := &jsonChange{
		Address:   c.Address,
		Type:      c.Type,
		Name:      c.Name,
		Index:     c.Index,
		Action:    c.Action,
		Reasons:   make([]jsonReason, 0, len(c.Reasons)),
		Builder:   c.Builder,
		Tags:      make(map[string]jsonTagChange, len(c.Tags)),
		Before:    (*jsonSnapshot)(c.Before),
		After:     (*jsonSnapshot)(c.After),
		DependsOn: c.DependsOn,
	}
	if jc.DependsOn == nil {
		jc.DependsOn = []string{}
	}
	for _, r := range c.Reasons {
		jc.Reasons = append(jc.Reasons, jsonReason(r))
	}
	for t, tc := range c.Tags {
		jt := jsonTagChange{After: tc.After}
		if tc.Before != "" {
			before := tc.Before
			jt.Before = &before
		}
		jc.Tags[t] = jt
	}
	return jc
}
