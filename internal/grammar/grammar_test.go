package grammar

import (
	"regexp"
	"strings"
	"testing"
)

// The grammar of references as distribution/reference's regular expressions write it:
// the oracle the hand-written matchers of grammar.go are held to.
const (
	oracleDomainComponent = `(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])`
	oracleDomain          = `(?:` + oracleDomainComponent + `(?:\.` + oracleDomainComponent + `)*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?`
	oraclePathComponent   = `[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*`
	oracleName            = `(?:` + oracleDomain + `/)?` + oraclePathComponent + `(?:/` + oraclePathComponent + `)*`
	oracleTag             = `[A-Za-z0-9_][A-Za-z0-9._-]{0,127}`
	oracleDigest          = `[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}`
)

var (
	oracleNameRe      = regexp.MustCompile(`^` + oracleName + `$`)
	oracleTagRe       = regexp.MustCompile(`^` + oracleTag + `$`)
	oracleReferenceRe = regexp.MustCompile(`^(` + oracleName + `)(?::` + oracleTag + `)?(?:@` + oracleDigest + `)?$`)
)

func checkGrammar(t *testing.T, s string) {
	if got, want := IsRepository(s), oracleNameRe.MatchString(s); got != want {
		t.Errorf("IsRepository(%q) = %v, the grammar says %v", s, got, want)
	}
	if got, want := IsTag(s), oracleTagRe.MatchString(s); got != want {
		t.Errorf("IsTag(%q) = %v, the grammar says %v", s, got, want)
	}
	name, ok := ParseReference(s)
	m := oracleReferenceRe.FindStringSubmatch(s)
	if ok != (m != nil) || ok && name != m[1] {
		t.Errorf("ParseReference(%q) = %q, %v; the grammar says %q", s, name, ok, m)
	}
}

var grammarSeeds = []string{
	"ghcr.io/urmanac/installer-cm5", "127.0.0.1:5000/x/kernel", "localhost:5000/k", "busybox", "registry.example.com/a__b/c.d",
	"", "UPPER/Case", "ghcr.io/Urmanac/x", "ghcr.io/x:v1", "ghcr.io/x/", "ghcr.io//x", "a b", "-x/y", "ghcr.io/x--y",
	"ghcr.io/siderolabs/installer:v1.13.3", "busybox:1.36", "ghcr.io/x:-bad", "ghcr.io/X:v1", "ghcr.io/x:v1:v2",
	"127.0.0.1:5000/x@sha256:5fbc6235d2c41e3a4fcec46cf680cb20ad33d9562ade2f5436ca023d65f13e59",
	"127.0.0.1:5000/x:t@sha256:5fbc6235d2c41e3a4fcec46cf680cb20ad33d9562ade2f5436ca023d65f13e59",
	"x@sha256:abc", "x@sha256+b.c-d_e:0123456789abcdef0123456789ABCDEF", "x@a-:0123456789abcdef0123456789abcdef",
	"x@1a:0123456789abcdef0123456789abcdef", "x@:0123456789abcdef0123456789abcdef", "x@a:0123456789abcdef0123456789abcde",
	"[::1]:5000/x", "[::1]/x", "[]/x", "[::1]", "[::1]:5000", "[::1]x/y", "[::1]:/y", "[g::1]/x", "[::1/x",
	"a.b.c:1/d", "a..b/c", ".a/b", "a-/b", "-a/b", "a:b:c/d", "a:/b", "a:1x/b", "host:5000", "host:5000/repo:tag",
	"a___b", "a__b", "a_b", "a._b", "a-_b", "a---b", "a.", "a_", "_a", "A", "a/B", "a/b:c/d", "x:" + strings.Repeat("t", 128),
	"x:" + strings.Repeat("t", 129), "x:.t", "x:_t", "x@", "@sha256:0123456789abcdef0123456789abcdef", "x/y@sha256:0123456789abcdef0123456789abcdef@x",
	"é/x", "a\x00b", "registry.example/kernel-b1",
}

// TestGrammarMatchesRegexps holds the hand-written matchers to the grammar's regular
// expressions on the seeds; FuzzReferenceGrammar explores further.
func TestGrammarMatchesRegexps(t *testing.T) {
	for _, s := range grammarSeeds {
		checkGrammar(t, s)
	}
}

func FuzzReferenceGrammar(f *testing.F) {
	for _, s := range grammarSeeds {
		f.Add(s)
	}
	f.Fuzz(checkGrammar)
}

// TestWorkspaceAndTagLengths holds IsWorkspace and IsTag to the grammars they stand
// for, written as counted repetitions, at and around their length limits.
func TestWorkspaceAndTagLengths(t *testing.T) {
	workspace := regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
	tag := regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$`)
	var names []string
	for _, n := range []int{0, 1, 2, 63, 64, 65, 127, 128, 129, 200} {
		for _, c := range []string{"a", "Z", "_", "-", ".", "é", "/", " ", "\n"} {
			names = append(names, strings.Repeat(c, n), "a"+strings.Repeat(c, n), strings.Repeat(c, n)+"a")
		}
	}
	names = append(names, "default", "prod-eu_1", "v1.2.3", "-x", ".x", "a.lock.123.ab", "é", "a\x00")
	for _, s := range names {
		if got, want := IsWorkspace(s), workspace.MatchString(s); got != want {
			t.Errorf("IsWorkspace(%q) = %v, want %v", s, got, want)
		}
		if got, want := IsTag(s), tag.MatchString(s); got != want {
			t.Errorf("IsTag(%q) = %v, want %v", s, got, want)
		}
	}
}
