// Package grammar holds the grammars of the names sovos writes to a registry: OCI
// repositories, tags and references, and workspace names (SPEC §12). config refuses a
// name a registry would refuse only after an hour's build; state refuses a document or
// a tag that names what no sovos could have written. Both ask here.
package grammar

import "strings"

// The grammar of image references, as the OCI distribution spec and Docker's
// distribution/reference (reference/regexp.go) define it:
//
//	reference       := name [ ":" tag ] [ "@" digest ]
//	name            := [ domain "/" ] path-component { "/" path-component }
//	domain          := ( domain-component { "." domain-component } | "[" [a-fA-F0-9:]+ "]" ) [ ":" [0-9]+ ]
//	domain-component := [a-zA-Z0-9] | [a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]
//	path-component  := [a-z0-9]+ { ( "." | "_" | "__" | "-"+ ) [a-z0-9]+ }
//	tag             := [A-Za-z0-9_][A-Za-z0-9._-]{0,127}
//	digest          := [A-Za-z][A-Za-z0-9]* { [-_+.] [A-Za-z][A-Za-z0-9]* } ":" [0-9a-fA-F]{32,}
//
// It is written out rather than compiled into regular expressions: a matrix checks the
// repository of every instance, and Go's backtracking matcher took a microsecond each,
// more than the rest of checking an instance.

func isLowerAlnum(c byte) bool { return 'a' <= c && c <= 'z' || '0' <= c && c <= '9' }
func isAlnum(c byte) bool      { return isLowerAlnum(c) || 'A' <= c && c <= 'Z' }
func isHex(c byte) bool        { return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F' }
func isDigit(c byte) bool      { return '0' <= c && c <= '9' }
func isTagByte(c byte) bool    { return isAlnum(c) || c == '_' || c == '.' || c == '-' }
func isLetter(c byte) bool     { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }
func allBytes(s string, f func(byte) bool) bool {
	for i := 0; i < len(s); i++ {
		if !f(s[i]) {
			return false
		}
	}
	return true
}

// isPathComponent: [a-z0-9]+ { ( "." | "_" | "__" | "-"+ ) [a-z0-9]+ }.
func isPathComponent(s string) bool {
	for i := 0; ; {
		start := i
		for i < len(s) && isLowerAlnum(s[i]) {
			i++
		}
		if i == start {
			return false // empty, or a separator not between alphanumerics
		}
		if i == len(s) {
			return true
		}
		switch {
		case s[i] == '.':
			i++
		case strings.HasPrefix(s[i:], "__"):
			i += 2
		case s[i] == '_':
			i++
		case s[i] == '-':
			for i < len(s) && s[i] == '-' {
				i++
			}
		default:
			return false
		}
	}
}

// isDomain: a host name or a bracketed IPv6 address, with an optional port.
func isDomain(s string) bool {
	var port string
	hasPort := false
	if strings.HasPrefix(s, "[") {
		j := strings.IndexByte(s, ']')
		if j < 2 || !allBytes(s[1:j], func(c byte) bool { return isHex(c) || c == ':' }) {
			return false
		}
		if rest := s[j+1:]; rest != "" {
			port, hasPort = strings.CutPrefix(rest, ":")
			if !hasPort {
				return false
			}
		}
	} else {
		var host string
		host, port, hasPort = strings.Cut(s, ":")
		for c := range strings.SplitSeq(host, ".") {
			if c == "" || c[0] == '-' || c[len(c)-1] == '-' || !allBytes(c, func(b byte) bool { return isAlnum(b) || b == '-' }) {
				return false
			}
		}
	}
	return !hasPort || port != "" && allBytes(port, isDigit)
}

// IsRepository reports whether s is a repository name: [ domain "/" ] path-component { "/" path-component }.
func IsRepository(s string) bool {
	first, rest, more := strings.Cut(s, "/")
	for more {
		var c string
		c, rest, more = strings.Cut(rest, "/")
		if !isPathComponent(c) {
			return false
		}
	}
	return isPathComponent(first) || strings.Contains(s, "/") && isDomain(first)
}

// IsTag reports whether s is a tag: [A-Za-z0-9_][A-Za-z0-9._-]{0,127}.
func IsTag(s string) bool {
	return len(s) > 0 && len(s) <= 128 && (isAlnum(s[0]) || s[0] == '_') && allBytes(s, isTagByte)
}

// isDigest: algorithm ":" at least 32 hex digits.
func isDigest(s string) bool {
	alg, hex, ok := strings.Cut(s, ":")
	if !ok || len(hex) < 32 || !allBytes(hex, isHex) {
		return false
	}
	for i := 0; i < len(alg); {
		if !isLetter(alg[i]) {
			return false // empty, or a separator not followed by a letter
		}
		for i++; i < len(alg) && isAlnum(alg[i]); i++ {
		}
		if i < len(alg) {
			if c := alg[i]; c != '-' && c != '_' && c != '+' && c != '.' {
				return false
			}
			if i++; i == len(alg) {
				return false
			}
		}
	}
	return alg != ""
}

// ParseReference splits a reference into its name, reporting whether it is one. No part
// but the digest holds an '@', and a tag's ':' is the one after the name's last '/' (a
// path component holds none, a domain's port comes before a '/').
func ParseReference(s string) (name string, ok bool) {
	name, digest, hasDigest := strings.Cut(s, "@")
	if hasDigest && !isDigest(digest) {
		return "", false
	}
	if i := strings.LastIndexByte(name, ':'); i > strings.LastIndexByte(name, '/') {
		if !IsTag(name[i+1:]) {
			return "", false
		}
		name = name[:i]
	}
	return name, IsRepository(name)
}

// IsWorkspace reports whether s is a workspace name (SPEC §12): 1 to 64 letters, digits,
// '_' and '-'. Without a '.', WORKSPACE.vN and WORKSPACE.lock.* can never be another
// workspace's tags, which the state's history and lock listings rely on.
func IsWorkspace(s string) bool {
	return len(s) > 0 && len(s) <= 64 && allBytes(s, func(c byte) bool { return isAlnum(c) || c == '_' || c == '-' })
}
