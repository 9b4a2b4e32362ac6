package examples_test

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/urmanac/sovos/internal/testenv"
)

// stickyRun is what testdata/harness.js prints.
type stickyRun struct {
	Result *struct {
		Action string `json:"action"`
		ID     int    `json:"id"`
		Label  string `json:"label"`
	} `json:"result"`
	Error string `json:"error"`
	Calls []struct {
		Method string         `json:"method"`
		Params map[string]any `json:"params"`
	} `json:"calls"`
	Paginated int `json:"paginated"`
	Comments  []struct {
		ID   int    `json:"id"`
		Body string `json:"body"`
	} `json:"comments"`
	Labels   []string `json:"labels"`
	Warnings []string `json:"warnings"`
}

func (r *stickyRun) body(id int) string {
	for _, c := range r.Comments {
		if c.ID == id {
			return c.Body
		}
	}
	return ""
}

func (r *stickyRun) called(method string) int {
	n := 0
	for _, c := range r.Calls {
		if c.Method == method {
			n++
		}
	}
	return n
}

func runSticky(t *testing.T, fixture map[string]any) *stickyRun {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		testenv.SkipOrFail(t, "node is needed to test sticky-comment.js (apt-get install nodejs)")
	}
	data, err := json.Marshal(fixture)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "fixture.json")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(node, filepath.Join("github-actions", "testdata", "harness.js"),
		filepath.Join("github-actions", "sticky-comment.js"), path)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node harness: %v\n%s", err, stderr.String())
	}
	var run stickyRun
	if err := json.Unmarshal(out, &run); err != nil {
		t.Fatalf("harness output: %v\n%s", err, out)
	}
	return &run
}

func TestStickyComment(t *testing.T) {
	const (
		mine  = "<!-- sovos-plan workspace=main dir=examples/sovereign-os -->"
		other = "<!-- sovos-plan workspace=main dir=examples/quickstart -->"
		newWS = "<!-- sovos-plan workspace=staging dir=examples/sovereign-os -->"
	)
	plan := mine + "\n**Plan:** 1 to rebuild.\n"
	opts := map[string]any{"body": plan, "workspace": "main", "dir": "examples/sovereign-os", "exitcode": "2"}

	// filler returns n unrelated comments with ids from start.
	filler := func(start, n int) []map[string]any {
		var cs []map[string]any
		for i := 0; i < n; i++ {
			cs = append(cs, map[string]any{"id": start + i, "body": "LGTM"})
		}
		return cs
	}

	tests := []struct {
		name        string
		comments    []map[string]any
		labels      []string
		options     map[string]any
		wantAction  string
		wantID      int    // updated comment (0: created)
		wantLabel   string // result.label
		wantLabels  []string
		untouched   map[int]string // comment id -> body that must not change
		wantCreated int
	}{
		{
			name: "updates its own comment",
			comments: []map[string]any{
				{"id": 1, "body": "LGTM"},
				{"id": 2, "body": other + "\nold quickstart plan"},
				{"id": 3, "body": mine + "\nold plan"},
			},
			options:    opts,
			wantAction: "updated", wantID: 3, wantLabel: "added",
			wantLabels: []string{"sovos: changes"},
			untouched:  map[int]string{2: other + "\nold quickstart plan", 1: "LGTM"},
		},
		{
			name: "another dir or workspace is not ours",
			comments: []map[string]any{
				{"id": 2, "body": other + "\nquickstart plan"},
				{"id": 4, "body": newWS + "\nstaging plan"},
				{"id": 5, "body": "> " + mine + "\nquoted by a reviewer"},
			},
			options:    opts,
			wantAction: "created", wantLabel: "added", wantCreated: 1,
			wantLabels: []string{"sovos: changes"},
			untouched: map[int]string{
				2: other + "\nquickstart plan",
				4: newWS + "\nstaging plan",
				5: "> " + mine + "\nquoted by a reviewer",
			},
		},
		{
			name:       "none found: created",
			options:    opts,
			wantAction: "created", wantLabel: "added", wantCreated: 1,
			wantLabels: []string{"sovos: changes"},
		},
		{
			// 250 comments: ours is on the third page of 100, so only a paginated
			// listing finds it.
			name:       "paginates to find it",
			comments:   append(filler(1, 230), map[string]any{"id": 900, "body": mine + "\nold plan"}),
			options:    opts,
			wantAction: "updated", wantID: 900, wantLabel: "added",
			wantLabels: []string{"sovos: changes"},
		},
		{
			name:     "no changes removes the label",
			comments: []map[string]any{{"id": 3, "body": mine + "\nold plan"}},
			labels:   []string{"sovos: changes", "area: os"},
			options: map[string]any{"body": mine + "\nNo changes.\n", "workspace": "main",
				"dir": "examples/sovereign-os", "exitcode": "0"},
			wantAction: "updated", wantID: 3, wantLabel: "removed",
			wantLabels: []string{"area: os"},
		},
		{
			name:     "no changes and no label",
			comments: []map[string]any{{"id": 3, "body": mine + "\nold plan"}},
			options: map[string]any{"body": "No changes.\n", "workspace": "main",
				"dir": "examples/sovereign-os", "exitcode": "0"},
			wantAction: "updated", wantID: 3, wantLabel: "absent",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			run := runSticky(t, map[string]any{"comments": tc.comments, "labels": tc.labels, "options": tc.options})
			if run.Error != "" {
				t.Fatalf("script failed: %s", run.Error)
			}
			if run.Result == nil {
				t.Fatal("script returned nothing")
			}
			if run.Paginated == 0 {
				t.Errorf("listComments was not called through github.paginate")
			}
			if run.Result.Action != tc.wantAction {
				t.Errorf("action = %q, want %q", run.Result.Action, tc.wantAction)
			}
			if tc.wantID != 0 && run.Result.ID != tc.wantID {
				t.Errorf("updated comment %d, want %d", run.Result.ID, tc.wantID)
			}
			if got := run.called("createComment"); got != tc.wantCreated {
				t.Errorf("createComment called %d times, want %d", got, tc.wantCreated)
			}
			if got := run.called("updateComment"); tc.wantAction == "updated" && got != 1 {
				t.Errorf("updateComment called %d times, want 1", got)
			}
			// The posted comment carries the marker on its first line, so the next run
			// finds it again.
			if got := run.body(run.Result.ID); !strings.HasPrefix(got, mine+"\n") {
				t.Errorf("posted body does not start with the marker:\n%s", got)
			}
			for id, body := range tc.untouched {
				if got := run.body(id); got != body {
					t.Errorf("comment %d changed to %q", id, got)
				}
			}
			if run.Result.Label != tc.wantLabel {
				t.Errorf("label action = %q, want %q", run.Result.Label, tc.wantLabel)
			}
			if !slices.Equal(run.Labels, tc.wantLabels) && !(len(run.Labels) == 0 && len(tc.wantLabels) == 0) {
				t.Errorf("labels = %v, want %v", run.Labels, tc.wantLabels)
			}
		})
	}
}

// TestStickyCommentMarkerOfThePlan: the marker sovos wrote wins over the workflow's
// workspace/dir (with a warning), since the next run writes the same one again.
func TestStickyCommentMarkerOfThePlan(t *testing.T) {
	const planMark = "<!-- sovos-plan workspace=main dir=./examples/sovereign-os -->"
	run := runSticky(t, map[string]any{
		"comments": []map[string]any{{"id": 7, "body": planMark + "\nold"}},
		"options": map[string]any{
			"body":      planMark + "\nnew",
			"workspace": "main", "dir": "examples/sovereign-os", "exitcode": "2",
		},
	})
	if run.Error != "" {
		t.Fatalf("script failed: %s", run.Error)
	}
	if run.Result.Action != "updated" || run.Result.ID != 7 || run.body(7) != planMark+"\nnew" {
		t.Errorf("want comment 7 updated in place, got %+v, body %q", run.Result, run.body(7))
	}
	if len(run.Warnings) != 1 || !strings.Contains(run.Warnings[0], "./examples/sovereign-os") {
		t.Errorf("want one warning naming the plan's marker, got %q", run.Warnings)
	}
}

func TestStickyCommentNeedsAMarker(t *testing.T) {
	run := runSticky(t, map[string]any{"options": map[string]any{"body": "sovos plan failed", "exitcode": "1"}})
	if !strings.Contains(run.Error, "workspace and dir are required") || len(run.Calls) != 0 {
		t.Errorf("want an error and no API call, got error %q, calls %v", run.Error, run.Calls)
	}
}

// A configuration directory with a space: the script builds the marker the way sovos
// writes it (percent-encoded), so it finds the plan's own comment without a warning.
func TestStickyCommentDirWithSpace(t *testing.T) {
	const planMark = "<!-- sovos-plan workspace=main dir=configs/my%20factory -->"
	run := runSticky(t, map[string]any{
		"comments": []map[string]any{{"id": 7, "body": planMark + "\nold"}},
		"options": map[string]any{
			"body":      planMark + "\nnew",
			"workspace": "main", "dir": "configs/my factory", "exitcode": "2",
		},
	})
	if run.Error != "" || len(run.Warnings) != 0 {
		t.Fatalf("error %q, warnings %q", run.Error, run.Warnings)
	}
	if run.Result.Action != "updated" || run.Result.ID != 7 {
		t.Errorf("want comment 7 updated in place, got %+v", run.Result)
	}
}
