package config

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/hashicorp/hcl/v2"
)

// FileSafe makes an address usable as a file name (SPEC §2): every character outside
// [A-Za-z0-9._-] becomes '_', so profile.talos["cm5"] is profile.talos__cm5__. A
// profile's YAML (DEST/NAME.yaml) and its exported files (DEST/NAME/) are named so.
func FileSafe(addr string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'A' && r <= 'Z', r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '.', r == '_', r == '-':
			return r
		}
		return '_'
	}, addr)
}

// ProfileFileName is the file a profile's YAML is written to inside its dest directory.
func ProfileFileName(addr string) string { return FileSafe(addr) + ".yaml" }

// checkProfileFiles rejects two profiles whose files would be the same: the file-safe
// rule maps profile.p["a/b"] and profile.p["a_b"] to one name, and each apply would
// overwrite the other's YAML and output.
func checkProfileFiles(resources []*Resource) hcl.Diagnostics {
	var diags hcl.Diagnostics
	seen := map[string]*Resource{}
	for _, r := range resources {
		if r.Profile == nil {
			continue
		}
		key := filepath.Join(r.Profile.Dest, FileSafe(r.Addr.String()))
		first, ok := seen[key]
		if !ok {
			seen[key] = r
			continue
		}
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Profile file names collide",
			Detail: fmt.Sprintf("%s and %s would both be written to %s (in a file name every character outside A-Z, a-z, 0-9, '.', '_' and '-' becomes '_'); rename one of them or give it another dest.",
				first.Addr, r.Addr, ProfileFileName(r.Addr.String())),
			Subject: r.DeclRange.Ptr()})
	}
	return diags
}
