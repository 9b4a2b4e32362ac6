package config

import (
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
