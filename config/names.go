package config

import (
	"fmt"
	"strings"
	"unicode"

	"github.com/containerd/platforms"
	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"

	"github.com/urmanac/sovos/internal/grammar"
)

// maxNameLength is the longest repository name (distribution/reference's
// NameTotalLengthMax).
const maxNameLength = 255

// checkRepository checks where a build is pushed: a repository name without a tag or
// digest (the content tag is added to it).
func checkRepository(s string) error {
	switch {
	case s == "":
		return fmt.Errorf("the repository is empty; give one such as ghcr.io/OWNER/NAME")
	case strings.Contains(s, "@"):
		return fmt.Errorf("%q names a digest; give the repository alone (sovos pushes it as REPOSITORY:CONTENT_TAG)", s)
	case len(s) > maxNameLength:
		return fmt.Errorf("%q is longer than the %d characters a repository name may have", s, maxNameLength)
	case grammar.IsRepository(s):
		return nil
	}
	if _, ok := grammar.ParseReference(s); ok && strings.Contains(s[strings.LastIndex(s, "/")+1:], ":") {
		return fmt.Errorf("%q has a tag; give the repository alone (sovos pushes it as REPOSITORY:CONTENT_TAG; stable tags go in tags)", s)
	}
	return fmt.Errorf("%q is not a valid repository name: lowercase letters, digits and separators (. _ __ -) in /-separated parts, after an optional registry host[:port]/", s)
}

// checkReference checks an image reference: NAME[:TAG], and @DIGEST where digests are
// allowed.
func checkReference(s string, digest bool) error {
	if err := checkNoSpace(s, "image reference"); err != nil {
		return err
	}
	name, ok := grammar.ParseReference(s)
	switch {
	case s == "":
		return fmt.Errorf("the image reference is empty")
	case !ok:
		return fmt.Errorf("%q is not a valid image reference (REGISTRY/REPOSITORY[:TAG], lowercase repository)", s)
	case len(name) > maxNameLength:
		return fmt.Errorf("%q has a name longer than the %d characters a repository name may have", s, maxNameLength)
	case !digest && strings.Contains(s, "@"):
		return fmt.Errorf("%q names a digest here; give the digest in the digest attribute", s)
	}
	return nil
}

// checkNoSpace refuses whitespace and control characters, which no git ref or image
// reference holds, with a message saying which one (a heredoc ends with a newline).
func checkNoSpace(s, what string) error {
	for _, c := range s {
		if !unicode.IsSpace(c) && !unicode.IsControl(c) {
			continue
		}
		name := fmt.Sprintf("the character %U", c)
		switch c {
		case '\n':
			name = "a newline"
		case '\r':
			name = "a carriage return"
		case '\t':
			name = "a tab"
		case ' ':
			name = "a space"
		}
		hint := ""
		if strings.HasSuffix(s, "\n") {
			hint = " (a heredoc ends with a newline: write a quoted string, or trim it with chomp())"
		}
		return fmt.Errorf("%q contains %s, which no %s has%s", s, name, what, hint)
	}
	return nil
}

// checkGitRef checks a git source's ref as `git check-ref-format` would a branch or tag
// name (a full ref such as refs/heads/main passes too), and refuses a leading '-', which
// git would read as an option.
func checkGitRef(s string) error {
	if err := checkNoSpace(s, "git ref"); err != nil {
		return err
	}
	switch {
	case s == "":
		return fmt.Errorf("the ref is empty; name a tag or a branch, or remove ref")
	case strings.HasPrefix(s, "-"):
		return fmt.Errorf("%q starts with '-', which no git ref does", s)
	case strings.ContainsAny(s, "~^:?*[\\"), strings.Contains(s, ".."), strings.Contains(s, "@{"), strings.Contains(s, "//"),
		strings.HasSuffix(s, "."), strings.HasSuffix(s, "/"), strings.HasSuffix(s, ".lock"), s == "@":
		return fmt.Errorf("%q is not a valid git ref name (git check-ref-format: no ~ ^ : ? * [ \\, \"..\", \"@{\" or \"//\", no trailing '.', '/' or \".lock\")", s)
	}
	return nil
}

// checkTag checks a stable tag against the OCI tag grammar.
func checkTag(s string) error {
	if !grammar.IsTag(s) {
		return fmt.Errorf("%q is not a valid tag: up to 128 letters, digits, '_', '.' and '-', not starting with '.' or '-'", s)
	}
	return nil
}

// knownOS and knownArch are containerd's platforms database (database.go, from Go's
// syslist): a platform naming anything else is a typo, not a machine.
var (
	knownOS = map[string]bool{"aix": true, "android": true, "darwin": true, "dragonfly": true, "freebsd": true, "hurd": true,
		"illumos": true, "ios": true, "js": true, "linux": true, "nacl": true, "netbsd": true, "openbsd": true, "plan9": true,
		"solaris": true, "windows": true, "zos": true}
	knownArch = map[string]bool{"386": true, "amd64": true, "amd64p32": true, "arm": true, "armbe": true, "arm64": true,
		"arm64be": true, "ppc64": true, "ppc64le": true, "loong64": true, "mips": true, "mipsle": true, "mips64": true,
		"mips64le": true, "mips64p32": true, "mips64p32le": true, "ppc": true, "riscv": true, "riscv64": true, "s390": true,
		"s390x": true, "sparc": true, "sparc64": true, "wasm": true}
)

// NormalizePlatform checks a platform as containerd's platforms package parses it and
// returns its one spelling: linux/aarch64, linux/arm64/v8 and LINUX/ARM64 are all
// linux/arm64, so they are one platform and one hash. The spelling is the shortest
// that names the platform (the variant only when it is not the architecture's
// default), which is how the platforms users already write are spelt: their hashes do
// not move. An OS alone or an architecture alone is refused, as containerd would fill
// in the machine's own and a plan must hash the same on every machine.
func NormalizePlatform(s string) (string, error) {
	if strings.Count(s, "/") < 1 {
		return "", fmt.Errorf("%q is not a platform: write OS/ARCH[/VARIANT], e.g. linux/arm64", s)
	}
	p, err := platforms.Parse(s)
	if err != nil {
		return "", fmt.Errorf("%q is not a platform: write OS/ARCH[/VARIANT], e.g. linux/arm64", s)
	}
	p = platforms.Normalize(p)
	switch {
	case !knownOS[p.OS]:
		return "", fmt.Errorf("%q is not a platform: %q is not an operating system containerd knows (e.g. linux)", s, p.OS)
	case !knownArch[p.Architecture]:
		return "", fmt.Errorf("%q is not a platform: %q is not an architecture containerd knows (e.g. amd64, arm64)", s, p.Architecture)
	}
	if p.Variant != "" {
		short := p
		short.Variant = ""
		if d, err := platforms.Parse(platforms.FormatAll(short)); err == nil && platforms.Normalize(d).Variant == p.Variant {
			p.Variant = ""
		}
	}
	return platforms.FormatAll(p), nil
}

// knownString returns an attribute's string value when it is given and known.
func knownString(vals map[string]cty.Value, name string) (string, bool) {
	v, ok := vals[name]
	if !ok {
		return "", false
	}
	v, _ = v.Unmark()
	if !v.IsKnown() || v.IsNull() || v.Type() != cty.String {
		return "", false
	}
	return v.AsString(), true
}

// checkAttr runs check on a string attribute (or each known element of a list of them)
// of vals and reports a failure at the attribute, as summary.
func checkAttr(vals map[string]cty.Value, attrs hcl.Attributes, fallback hcl.Range, name, summary string, check func(string) error) hcl.Diagnostics {
	v, ok := vals[name]
	if !ok {
		return nil
	}
	rng := fallback
	if a, ok := attrs[name]; ok {
		rng = a.Expr.Range()
	}
	var diags hcl.Diagnostics
	one := func(e cty.Value) {
		e, _ = e.Unmark()
		if !e.IsKnown() || e.IsNull() || e.Type() != cty.String {
			return
		}
		if err := check(e.AsString()); err != nil {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: summary,
				Detail: fmt.Sprintf("%s: %s.", name, err), Subject: rng.Ptr()})
		}
	}
	uv, _ := v.Unmark()
	if uv.IsKnown() && !uv.IsNull() && (uv.Type().IsListType() || uv.Type().IsTupleType() || uv.Type().IsSetType()) {
		for it := uv.ElementIterator(); it.Next(); {
			_, e := it.Element()
			one(e)
		}
		return diags
	}
	one(v)
	return diags
}
