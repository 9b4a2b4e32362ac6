package hashing

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"

	"github.com/urmanac/sovos/config"
)

// hashVector is one worked example of docs/hashing.md: the canonical JSON and its hash.
type hashVector struct {
	name      string
	canonical string
	hash      string
}

const docCommit = "0123456789abcdef0123456789abcdef01234567"

// docProfile is worked example 5 of docs/hashing.md, as written there.
const docProfile = `image "sbc" {
  ref    = "ghcr.io/siderolabs/sbc-raspberrypi:v0.1.6"
  digest = "sha256:f850dff80c7e96691862155d5fddbf32835aacf6480055fc16d067bae8057f43"
}

profile "rpi" {
  arch      = "arm64"
  version   = "v1.13.3"
  installer = "ghcr.io/siderolabs/installer:v1.13.3"
  overlay {
    name  = "rpi_generic"
    image = image.sbc.ref
  }
  output {
    kind        = "image"
    disk_size   = 1306525696
    disk_format = "raw"
  }
}
`

func docVectors(t *testing.T) []hashVector {
	t.Helper()
	var vs []hashVector
	add := func(name string, canonical []byte, err error) string {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		sum := sha256.Sum256(canonical)
		h := hex.EncodeToString(sum[:])
		vs = append(vs, hashVector{name, string(canonical), h})
		return h
	}

	// 1. A git source.
	gitJSON, err := CanonicalJSON(map[string]any{"scheme": HashScheme, "kind": "git", "commit": docCommit, "subdir": ""})
	pkgs := add("git source", gitJSON, err)
	if got := NewSourceHasher("").HashGit(docCommit, ""); got != pkgs {
		t.Fatalf("HashGit = %s, documented encoding gives %s", got, pkgs)
	}

	// 2. A path source.
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		"Dockerfile":    "FROM scratch\nCOPY . /\n",
		".dockerignore": "*.log\n",
		"hello.sh":      "#!/bin/sh\necho hello\n",
		"hi":            "->hello.sh",
		"empty/":        "",
		"debug.log":     "not in the build context\n",
		".git/HEAD":     "ref: refs/heads/main\n",
	})
	if err := os.Chmod(filepath.Join(dir, "hello.sh"), 0o755); err != nil {
		t.Fatal(err)
	}
	entries, err := walkContext(context.Background(), dir, "")
	if err != nil {
		t.Fatal(err)
	}
	h := NewSourceHasher("")
	if err := h.digestFiles(context.Background(), dir, entries, &digestCache{cur: map[string]cacheEntry{}}); err != nil {
		t.Fatal(err)
	}
	treeJSON, err := manifestJSON(entries)
	ext := add("path source", treeJSON, err)
	if got := hashOf(t, h, dir); got != ext {
		t.Fatalf("HashPath = %s, documented encoding gives %s", got, ext)
	}

	// 3. A kernel built from the git source.
	kernelAttrs := map[string]cty.Value{
		"source":     cty.StringVal(pkgs),
		"dockerfile": cty.StringVal("Pkgfile"),
		"frontend":   cty.StringVal("ghcr.io/siderolabs/bldr:v0.6.2"),
		"target":     cty.StringVal("kernel"),
		"args":       cty.MapVal(map[string]cty.Value{"PKGS_PREFIX": cty.StringVal("ghcr.io/urmanac"), "ARCH": cty.StringVal("arm64")}),
	}
	kernelDeps := map[string]string{"source.pkgs": pkgs}
	in, err := ResourceHashInput("kernel", "linux/arm64", kernelAttrs, kernelDeps)
	kernel := add("kernel", in, err)
	if got, _ := ResourceHash("kernel", "linux/arm64", kernelAttrs, kernelDeps); got != kernel {
		t.Fatalf("ResourceHash = %s, documented encoding gives %s", got, kernel)
	}

	// 4. An extension of that kernel: a sensitive value, a set, a number, non-ASCII.
	extAttrs := map[string]cty.Value{
		"source": cty.StringVal(ext),
		"kernel": cty.StringVal(kernel),
		"args": cty.MapVal(map[string]cty.Value{
			"HAILORT_VERSION": cty.StringVal("5.3.0"),
			"VENDOR_TOKEN":    cty.StringVal("s3cr3t").Mark(config.MarkSensitive),
		}),
		"triggers": cty.MapVal(map[string]cty.Value{"note": cty.StringVal("Grüße €")}),
		"features": cty.SetVal([]cty.Value{cty.StringVal("pcie"), cty.StringVal("dma")}),
		"priority": cty.NumberFloatVal(0.5),
		"retries":  cty.NumberIntVal(3),
	}
	extDeps := map[string]string{"kernel.sovereign": kernel, "source.extensions": ext}
	in, err = ResourceHashInput("extension", "linux/arm64", extAttrs, extDeps)
	add("extension", in, err)

	// 5. A profile whose overlay block names an image: evaluated from HCL, so what the
	// configuration package consumes is part of the example (SPEC §2: a nested block's
	// attributes are the resource's, so image.sbc is in deps).
	cfgDir := t.TempDir()
	writeTree(t, cfgDir, map[string]string{"main.sovos.hcl": docProfile})
	rec := &depsRecorder{Hasher: NewHasher(HasherOptions{}), deps: map[string]map[string]string{}}
	cfg, diags := config.Load(context.Background(), cfgDir, config.EvalOptions{Hooks: rec})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	p := cfg.Resource("profile.rpi")
	in, err = ResourceHashInput(p.Addr.Type, p.Platform, p.HashedAttrs, rec.deps["profile.rpi"])
	if got := add("profile", in, err); got != p.Hash {
		t.Fatalf("profile.rpi hashes to %s, documented encoding gives %s", p.Hash, got)
	}
	return vs
}

// TestHashingDocVectors keeps docs/hashing.md honest: every worked example there must be
// exactly what the code computes.
func TestHashingDocVectors(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "docs", "hashing.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(doc), "```hcl\n"+docProfile+"```") {
		t.Errorf("docs/hashing.md lacks the configuration of the profile example; it is:\n%s", docProfile)
	}
	for _, v := range docVectors(t) {
		if !strings.Contains(string(doc), "```json\n"+v.canonical+"\n```") {
			t.Errorf("docs/hashing.md lacks the canonical JSON of the %s example; it is:\n%s", v.name, v.canonical)
		}
		if !strings.Contains(string(doc), "`"+v.hash+"`") {
			t.Errorf("docs/hashing.md lacks the hash of the %s example: `%s`", v.name, v.hash)
		}
	}
}
