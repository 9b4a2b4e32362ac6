package config

import (
	"strings"
	"testing"
)

func TestResolveWorkspace(t *testing.T) {
	for _, tc := range []struct {
		flag       string
		env        []string
		configured string
		want, err  string
	}{
		{want: "default"},
		{configured: "main", want: "main"},
		{env: []string{"SOVOS_WORKSPACE=ci"}, configured: "main", want: "ci"},
		{flag: "pr-7", env: []string{"SOVOS_WORKSPACE=ci"}, configured: "main", want: "pr-7"},
		{env: []string{"SOVOS_WORKSPACE=a", "SOVOS_WORKSPACE=b"}, want: "b"},
		{flag: strings.Repeat("w", 64), want: strings.Repeat("w", 64)},
		{flag: strings.Repeat("w", 65), err: "-workspace names the workspace"},
		{flag: "feature/x", err: `-workspace names the workspace "feature/x"`},
		{env: []string{"SOVOS_WORKSPACE=v1.2"}, err: `SOVOS_WORKSPACE names the workspace "v1.2"`},
		{configured: "main.lock", err: "sovos.state.workspace names"},
	} {
		got, err := ResolveWorkspace(tc.flag, tc.env, tc.configured)
		switch {
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%+v: error %v, want %q", tc, err, tc.err)
		case tc.err == "" && (err != nil || got != tc.want):
			t.Errorf("%+v: %q, %v; want %q", tc, got, err, tc.want)
		}
	}
}
