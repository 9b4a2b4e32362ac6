package verify

import (
	"fmt"
	"strings"

	"golang.org/x/mod/semver"
	"gopkg.in/yaml.v3"
)

// Manifest is the part of a Talos system extension's /manifest.yaml that sovos reads.
type Manifest struct {
	Version  string `yaml:"version" json:"version"`
	Metadata struct {
		Name          string `yaml:"name" json:"name"`
		Version       string `yaml:"version" json:"version"`
		Compatibility struct {
			Talos struct {
				Version string `yaml:"version" json:"version"`
			} `yaml:"talos" json:"talos"`
		} `yaml:"compatibility" json:"compatibility"`
	} `yaml:"metadata" json:"metadata"`
}

// ParseManifest reads an extension's manifest.yaml.
func ParseManifest(data []byte) (*Manifest, error) {
	var m Manifest
	if err := yaml.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("manifest.yaml: %w", err)
	}
	return &m, nil
}

// CheckTalosCompatibility reports whether talosVersion satisfies an extension's
// compatibility.talos.version constraint, the way Talos itself decides when it loads the
// extension: comparators such as ">= v1.13.0" separated by spaces must all hold, "||"
// separates alternatives, and the Talos version counts without its pre-release part (so
// v1.13.0-beta.1 satisfies ">= v1.13.0"). An empty constraint is always satisfied.
func CheckTalosCompatibility(constraint, talosVersion string) error {
	if strings.TrimSpace(constraint) == "" {
		return nil
	}
	v, err := coreVersion(talosVersion)
	if err != nil {
		return err
	}
	alternatives, err := parseConstraint(constraint)
	if err != nil {
		return err
	}
	for _, all := range alternatives {
		ok := true
		for _, c := range all {
			if !c.holds(v) {
				ok = false
				break
			}
		}
		if ok {
			return nil
		}
	}
	return fmt.Errorf("the extension requires Talos %s, which Talos version %s does not satisfy", constraint, talosVersion)
}

// coreVersion turns "v1.13.0-beta.1", "1.13.0" or "v1.13" into "v1.13.0".
func coreVersion(s string) (string, error) {
	v := strings.TrimSpace(s)
	if !strings.HasPrefix(v, "v") {
		v = "v" + v
	}
	if !semver.IsValid(v) {
		return "", fmt.Errorf("talos version %q is not a semantic version", s)
	}
	v = semver.Canonical(v)
	if i := strings.IndexAny(v, "-+"); i >= 0 {
		v = v[:i]
	}
	return v, nil
}

type comparator struct {
	op      string
	version string
}

func (c comparator) holds(v string) bool {
	n := semver.Compare(v, c.version)
	switch c.op {
	case ">":
		return n > 0
	case ">=":
		return n >= 0
	case "<":
		return n < 0
	case "<=":
		return n <= 0
	case "!=":
		return n != 0
	default: // "=", "=="
		return n == 0
	}
}

// parseConstraint parses "A B || C" into [[A B] [C]]; an operator may be followed by
// spaces (">= v1.13.0").
func parseConstraint(s string) ([][]comparator, error) {
	var out [][]comparator
	for _, alt := range strings.Split(s, "||") {
		fields := strings.Fields(alt)
		var all []comparator
		for i := 0; i < len(fields); i++ {
			f := fields[i]
			op := f[:len(f)-len(strings.TrimLeft(f, "<>=!"))]
			ver := f[len(op):]
			if ver == "" && i+1 < len(fields) {
				i++
				ver = fields[i]
			}
			switch op {
			case "", "=", "==", "!=", ">", ">=", "<", "<=":
			default:
				return nil, fmt.Errorf("talos version constraint %q: unknown operator %q", s, op)
			}
			if !strings.HasPrefix(ver, "v") {
				ver = "v" + ver
			}
			if !semver.IsValid(ver) {
				return nil, fmt.Errorf("talos version constraint %q: %q is not a semantic version", s, ver)
			}
			all = append(all, comparator{op: op, version: semver.Canonical(ver)})
		}
		if len(all) == 0 {
			return nil, fmt.Errorf("talos version constraint %q has an empty alternative", s)
		}
		out = append(out, all)
	}
	return out, nil
}
