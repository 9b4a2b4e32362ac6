package verify_test

import (
	"strings"
	"testing"

	"github.com/urmanac/sovos/executor/verify"
)

func TestCheckTalosCompatibility(t *testing.T) {
	tests := []struct {
		constraint, version string
		ok                  bool
	}{
		{">= v1.13.0", "v1.13.0", true},
		{">= v1.13.0", "v1.13.3", true},
		{">= v1.13.0", "1.14.0", true},
		{">= v1.13.0", "v1.12.6", false},
		{">= v1.13.0", "v1.13.0-beta.1", true}, // Talos compares without the pre-release
		{">=v1.13.0", "v1.13.0", true},
		{">= 1.13.0", "v1.13.0", true},
		{">= v1.13.0 < v1.14.0", "v1.13.5", true},
		{">= v1.13.0 < v1.14.0", "v1.14.0", false},
		{"< v1.12.0 || >= v1.13.0", "v1.11.1", true},
		{"< v1.12.0 || >= v1.13.0", "v1.12.1", false},
		{"v1.13.2", "v1.13.2", true},
		{"= v1.13.2", "v1.13.3", false},
		{"!= v1.13.2", "v1.13.3", true},
		{"> v1.13", "v1.13.1", true},
		{"", "v1.2.3", true},
	}
	for _, tt := range tests {
		err := verify.CheckTalosCompatibility(tt.constraint, tt.version)
		if (err == nil) != tt.ok {
			t.Errorf("CheckTalosCompatibility(%q, %q) = %v, want ok=%v", tt.constraint, tt.version, err, tt.ok)
		}
		if err != nil && !strings.Contains(err.Error(), tt.version) {
			t.Errorf("error %q does not name the Talos version", err)
		}
	}
	for _, tt := range []struct{ constraint, version string }{
		{">= v1.13.0", "latest"},
		{"~> v1.13.0", "v1.13.0"},
		{">= banana", "v1.13.0"},
		{">= v1.13.0 ||", "v1.13.0"},
	} {
		if err := verify.CheckTalosCompatibility(tt.constraint, tt.version); err == nil {
			t.Errorf("CheckTalosCompatibility(%q, %q): no error", tt.constraint, tt.version)
		}
	}
}

func TestParseManifest(t *testing.T) {
	m, err := verify.ParseManifest([]byte(manifestYAML))
	if err != nil {
		t.Fatal(err)
	}
	if m.Version != "v1alpha1" || m.Metadata.Name != "hailort" || m.Metadata.Version != "4.23.0" ||
		m.Metadata.Compatibility.Talos.Version != ">= v1.13.0" {
		t.Errorf("ParseManifest = %+v", m)
	}
	if _, err := verify.ParseManifest([]byte("metadata: [")); err == nil {
		t.Error("broken YAML: no error")
	}
}
