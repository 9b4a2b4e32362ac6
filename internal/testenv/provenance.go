package testenv

import (
	"encoding/json"
	"io"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Pushed is what a registry holds at a reference sovos built: an image index with the
// image of one platform and BuildKit's attestation manifest, read by a client of its
// own (go-containerregistry, no sovos code).
type Pushed struct {
	// Index is the digest the reference resolves to.
	Index string
	// IndexAnnotations are the index's own annotations.
	IndexAnnotations map[string]string
	// Image is the digest of the platform's image manifest, ManifestAnnotations its
	// annotations.
	Image               string
	ManifestAnnotations map[string]string
	// Platform is the image's platform as the index lists it.
	Platform string
	// Provenance is the in-toto statement of the attestation manifest whose subject is
	// the image, nil when there is none; ProvenanceRaw is its JSON.
	Provenance    *ProvenanceStatement
	ProvenanceRaw []byte
}

// ProvenanceStatement is the part of an in-toto statement a test looks at.
type ProvenanceStatement struct {
	Type          string `json:"_type"`
	PredicateType string `json:"predicateType"`
	Subject       []struct {
		Name   string            `json:"name"`
		Digest map[string]string `json:"digest"`
	} `json:"subject"`
	Predicate json.RawMessage `json:"predicate"`
}

// ReadPushed reads ref (plain HTTP) as an index with one image and its provenance. It
// fails the test when ref is not an index.
func ReadPushed(t testing.TB, ref string) *Pushed {
	t.Helper()
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	desc, err := remote.Get(r)
	if err != nil {
		t.Fatalf("reading %s: %v", ref, err)
	}
	if !desc.MediaType.IsIndex() {
		t.Fatalf("%s is a %s, want an image index (an image with its provenance)", ref, desc.MediaType)
	}
	idx, err := desc.ImageIndex()
	if err != nil {
		t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	out := &Pushed{Index: desc.Digest.String(), IndexAnnotations: im.Annotations}
	var att *v1.Descriptor
	for i, m := range im.Manifests {
		switch {
		case m.Annotations["vnd.docker.reference.type"] == "attestation-manifest":
			att = &im.Manifests[i]
		case out.Image != "":
			t.Fatalf("%s holds more than one image: %s and %s", ref, out.Image, m.Digest)
		default:
			out.Image = m.Digest.String()
			if m.Platform != nil {
				out.Platform = m.Platform.String()
			}
			img, err := idx.Image(m.Digest)
			if err != nil {
				t.Fatal(err)
			}
			mf, err := img.Manifest()
			if err != nil {
				t.Fatal(err)
			}
			out.ManifestAnnotations = mf.Annotations
		}
	}
	if out.Image == "" {
		t.Fatalf("%s holds no image", ref)
	}
	if att == nil || att.Annotations["vnd.docker.reference.digest"] != out.Image {
		return out
	}
	img, err := idx.Image(att.Digest)
	if err != nil {
		t.Fatal(err)
	}
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range layers {
		rc, err := l.Uncompressed()
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		var st ProvenanceStatement
		if err := json.Unmarshal(data, &st); err != nil {
			t.Fatalf("%s: attestation layer: %v", ref, err)
		}
		if st.PredicateType == "https://slsa.dev/provenance/v1" || st.PredicateType == "https://slsa.dev/provenance/v0.2" {
			out.Provenance, out.ProvenanceRaw = &st, data
		}
	}
	return out
}

// IndexLikeBuildKit wraps img as BuildKit pushes a build with its provenance: an OCI
// index holding img for platform ("linux/arm64") and an attestation manifest
// (platform unknown/unknown) whose subject is img, with annotations on the index.
// For unit tests against an in-memory registry.
func IndexLikeBuildKit(t testing.TB, img v1.Image, platform string, annotations map[string]string) v1.ImageIndex {
	t.Helper()
	p, err := v1.ParsePlatform(platform)
	if err != nil {
		t.Fatal(err)
	}
	dgst, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	stmt, _ := json.Marshal(map[string]any{
		"_type":         "https://in-toto.io/Statement/v1",
		"predicateType": "https://slsa.dev/provenance/v1",
		"subject":       []any{map[string]any{"name": "pkg:docker/test", "digest": map[string]string{"sha256": dgst.Hex}}},
		"predicate":     map[string]any{},
	})
	att, err := mutate.AppendLayers(empty.Image, static.NewLayer(stmt, "application/vnd.in-toto+json"))
	if err != nil {
		t.Fatal(err)
	}
	att = mutate.MediaType(mutate.ConfigMediaType(att, types.OCIConfigJSON), types.OCIManifestSchema1)
	idx := mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.OCIImageIndex),
		mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: p}},
		mutate.IndexAddendum{Add: att, Descriptor: v1.Descriptor{
			Platform: &v1.Platform{OS: "unknown", Architecture: "unknown"},
			Annotations: map[string]string{
				"vnd.docker.reference.type":   "attestation-manifest",
				"vnd.docker.reference.digest": dgst.String(),
			},
		}},
	)
	if len(annotations) > 0 {
		idx = mutate.Annotations(idx, annotations).(v1.ImageIndex)
	}
	return idx
}
