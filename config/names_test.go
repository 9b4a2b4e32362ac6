package config

import (
	"regexp"
	"strings"
	"testing"
)

func TestNormalizePlatform(t *testing.T) {
	for in, want := range map[string]string{
		// Already normal: kept as written, so their hashes do not move.
		"linux/amd64":    "linux/amd64",
		"linux/arm64":    "linux/arm64",
		"linux/arm":      "linux/arm",
		"linux/arm/v6":   "linux/arm/v6",
		"linux/amd64/v3": "linux/amd64/v3",
		"linux/riscv64":  "linux/riscv64",
		// One platform, one spelling.
		"linux/aarch64":  "linux/arm64",
		"linux/arm64/v8": "linux/arm64",
		"LINUX/ARM64":    "linux/arm64",
		"linux/x86_64":   "linux/amd64",
		"linux/amd64/v1": "linux/amd64",
		"linux/arm/v7":   "linux/arm",
		"linux/armhf":    "linux/arm",
		"linux/armel":    "linux/arm/v6",
	} {
		got, err := NormalizePlatform(in)
		if err != nil || got != want {
			t.Errorf("NormalizePlatform(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	// An OS or an architecture alone would be completed with this machine's own.
	for _, in := range []string{"banana", "linux", "arm64", "linux/banana", "banana/arm64", "linux/arm64/v8/extra", "", "linux/", "linux/*"} {
		if got, err := NormalizePlatform(in); err == nil {
			t.Errorf("NormalizePlatform(%q) = %q, want an error", in, got)
		}
	}
}

func TestReferenceGrammar(t *testing.T) {
	for s, ok := range map[string]bool{
		"ghcr.io/urmanac/installer-cm5": true,
		"127.0.0.1:5000/x/kernel":       true,
		"localhost:5000/k":              true,
		"busybox":                       true,
		"registry.example.com/a__b/c.d": true,
		"":                              false,
		"UPPER/Case":                    false,
		"ghcr.io/Urmanac/x":             false,
		"ghcr.io/x:v1":                  false,
		"ghcr.io/x@sha256:5fbc6235d2c41e3a4fcec46cf680cb20ad33d9562ade2f5436ca023d65f13e59": false,
		"ghcr.io/x/":   false,
		"ghcr.io//x":   false,
		"a b":          false,
		"-x/y":         false,
		"ghcr.io/x--y": true,
	} {
		if err := checkRepository(s); (err == nil) != ok {
			t.Errorf("checkRepository(%q) = %v, want ok=%v", s, err, ok)
		}
	}
	for s, ok := range map[string]bool{
		"ghcr.io/siderolabs/installer:v1.13.3": true,
		"busybox:1.36":                         true,
		"127.0.0.1:5000/x@sha256:5fbc6235d2c41e3a4fcec46cf680cb20ad33d9562ade2f5436ca023d65f13e59":   true,
		"127.0.0.1:5000/x:t@sha256:5fbc6235d2c41e3a4fcec46cf680cb20ad33d9562ade2f5436ca023d65f13e59": true,
		"ghcr.io/x:-bad":       false,
		"ghcr.io/X:v1":         false,
		"ghcr.io/x:v1:v2":      false,
		"ghcr.io/x@sha256:abc": false,
	} {
		if err := checkReference(s, true); (err == nil) != ok {
			t.Errorf("checkReference(%q) = %v, want ok=%v", s, err, ok)
		}
	}
	for s, ok := range map[string]bool{"5.3.0-v1.13.3": true, "latest": true, "_x": true, "A.b-C_d": true,
		".x": false, "-x": false, "a/b": false, "a b": false, "": false,
		"x123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789": false} {
		if err := checkTag(s); (err == nil) != ok {
			t.Errorf("checkTag(%q) = %v, want ok=%v", s, err, ok)
		}
	}
}

// The grammar of references as distribution/reference's regular expressions write it:
// the oracle the hand-written matchers of names.go are held to.
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
	if got, want := isName(s), oracleNameRe.MatchString(s); got != want {
		t.Errorf("isName(%q) = %v, the grammar says %v", s, got, want)
	}
	if got, want := isTag(s), oracleTagRe.MatchString(s); got != want {
		t.Errorf("isTag(%q) = %v, the grammar says %v", s, got, want)
	}
	name, ok := parseReference(s)
	m := oracleReferenceRe.FindStringSubmatch(s)
	if ok != (m != nil) || ok && name != m[1] {
		t.Errorf("parseReference(%q) = %q, %v; the grammar says %q", s, name, ok, m)
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
