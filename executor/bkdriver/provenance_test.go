package bkdriver

import (
	"strings"
	"testing"

	"github.com/urmanac/sovos/internal/testenv"
)

// Every build is pushed as an index holding the image and BuildKit's SLSA provenance,
// in mode min unless max is asked for: the primary target and each stage alike, each
// with dev.sovos.hash on the index (what a tag resolves to) and on the image manifest.
// Min leaves build args out of the provenance; max records them.
func TestBuildProvenance(t *testing.T) {
	e := newEnv(t)
	src := t.TempDir()
	writeFiles(t, src, map[string]string{
		"Dockerfile": "FROM scratch AS main\nARG MARKER\nCOPY a.txt /a.txt\n\nFROM scratch AS extra\nCOPY a.txt /b.txt\n",
		"a.txt":      "a\n",
	})
	for _, mode := range []string{"", ProvenanceMax} {
		t.Run("mode="+mode, func(t *testing.T) {
			tag := "min"
			if mode != "" {
				tag = mode
			}
			req := Request{
				Address:     "kernel.k",
				ContextDir:  src,
				Target:      "main",
				Platform:    "linux/arm64", // FROM scratch needs no emulation
				Args:        map[string]string{"MARKER": "marker-in-the-build-args"},
				Image:       e.registry + "/test/prov",
				Tag:         tag,
				Stages:      []Stage{{Target: "extra", Image: e.registry + "/test/prov-extra"}},
				Annotations: map[string]string{"dev.sovos.hash": "cafe"},
				Provenance:  mode,
			}
			res, err := e.build(t, req)
			if err != nil {
				t.Fatal(err)
			}
			for ref, dgst := range map[string]string{
				req.Image + ":" + tag:           res.Digest,
				req.Stages[0].Image + ":" + tag: res.Stages["extra"],
			} {
				p := testenv.ReadPushed(t, ref)
				if p.Index != dgst {
					t.Errorf("%s: the tag resolves to %s, Build reported %s", ref, p.Index, dgst)
				}
				if p.Platform != "linux/arm64" {
					t.Errorf("%s: image platform %q, want linux/arm64", ref, p.Platform)
				}
				if p.IndexAnnotations["dev.sovos.hash"] != "cafe" || p.ManifestAnnotations["dev.sovos.hash"] != "cafe" {
					t.Errorf("%s: dev.sovos.hash on the index %v and the manifest %v, want both", ref, p.IndexAnnotations, p.ManifestAnnotations)
				}
				if p.Provenance == nil {
					t.Fatalf("%s: no SLSA provenance attached to the image", ref)
				}
				if p.Provenance.PredicateType != "https://slsa.dev/provenance/v1" {
					t.Errorf("%s: provenance predicate type %s", ref, p.Provenance.PredicateType)
				}
				if len(p.Provenance.Subject) == 0 || "sha256:"+p.Provenance.Subject[0].Digest["sha256"] != p.Image {
					t.Errorf("%s: provenance subject %v, want the image %s", ref, p.Provenance.Subject, p.Image)
				}
				recorded := strings.Contains(string(p.ProvenanceRaw), "marker-in-the-build-args")
				if want := mode == ProvenanceMax; recorded != want {
					t.Errorf("%s: build args in the provenance = %v, want %v (mode %q)", ref, recorded, want, mode)
				}
			}
		})
	}
}
