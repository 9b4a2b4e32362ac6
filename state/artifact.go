package state

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Media types of the lock artifacts (SPEC §7 fixes the tag, not these names).
const (
	LockArtifactType     = "application/vnd.sovos.lock.v1"
	LockLayerMediaType   = "application/vnd.sovos.lock.v1+json"
	ReleasedArtifactType = "application/vnd.sovos.lock.released.v1"
)

// emptyJSON is the OCI empty descriptor's content, used as every artifact's config.
var emptyJSON = []byte("{}")

// maxBlob bounds what sovos reads from a blob, so a hostile or broken store cannot make it
// allocate without limit. A state of 100,000 resources stays far below it.
const maxBlob = 256 << 20

// artifact is an OCI artifact manifest with the empty config and one layer: the shape of
// the state, the lock and the released marker. It implements v1.Image (through
// partial.CompressedToImage) so that remote.Write and layout.ReplaceImage can store it.
type artifact struct {
	manifest []byte
	layer    v1.Layer
	config   v1.Layer
}

// newArtifact builds the artifact of artifactType holding data as its layer of mediaType.
func newArtifact(artifactType string, mediaType types.MediaType, data []byte) (v1.Image, error) {
	cfg := static.NewLayer(emptyJSON, types.OCIEmptyJSON)
	layer := static.NewLayer(data, mediaType)
	cfgDesc, err := partial.Descriptor(cfg)
	if err != nil {
		return nil, err
	}
	layerDesc, err := partial.Descriptor(layer)
	if err != nil {
		return nil, err
	}
	m := v1.Manifest{
		SchemaVersion: 2,
		MediaType:     types.OCIManifestSchema1,
		ArtifactType:  artifactType,
		Config:        *cfgDesc,
		Layers:        []v1.Descriptor{*layerDesc},
	}
	raw, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	return partial.CompressedToImage(&artifact{manifest: raw, layer: layer, config: cfg})
}

// artifactOf is newArtifact with the artifact's manifest digest.
func artifactOf(artifactType string, mediaType types.MediaType, data []byte) (v1.Image, string, error) {
	img, err := newArtifact(artifactType, mediaType, data)
	if err != nil {
		return nil, "", err
	}
	d, err := img.Digest()
	if err != nil {
		return nil, "", err
	}
	return img, d.String(), nil
}

// stateArtifact encodes s as the state artifact, and returns it with its digest.
func stateArtifact(s *State) (v1.Image, string, error) {
	data, err := Encode(s)
	if err != nil {
		return nil, "", err
	}
	return artifactOf(ArtifactType, LayerMediaType, data)
}

func (a *artifact) MediaType() (types.MediaType, error) { return types.OCIManifestSchema1, nil }
func (a *artifact) RawManifest() ([]byte, error)        { return a.manifest, nil }
func (a *artifact) RawConfigFile() ([]byte, error)      { return emptyJSON, nil }

func (a *artifact) LayerByDigest(h v1.Hash) (partial.CompressedLayer, error) {
	for _, l := range []v1.Layer{a.layer, a.config} {
		d, err := l.Digest()
		if err != nil {
			return nil, err
		}
		if d == h {
			return l, nil
		}
	}
	return nil, fmt.Errorf("blob %s is not part of the artifact", h)
}

// parseArtifact checks that raw is an OCI manifest of artifactType with one layer of
// layerType, and returns that layer's descriptor. where names the store in messages.
func parseArtifact(raw []byte, mediaType types.MediaType, artifactType string, layerType types.MediaType, where string) (*v1.Descriptor, error) {
	if mediaType != "" && mediaType != types.OCIManifestSchema1 {
		return nil, fmt.Errorf("%s: %w: it holds a manifest of type %s, not an OCI artifact of type %s", where, ErrNotState, mediaType, artifactType)
	}
	m, err := v1.ParseManifest(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("%s: %w: the manifest is unreadable: %v", where, ErrNotState, err)
	}
	if m.MediaType != "" && m.MediaType != types.OCIManifestSchema1 {
		return nil, fmt.Errorf("%s: %w: it holds a manifest of type %s, not an OCI artifact of type %s", where, ErrNotState, m.MediaType, artifactType)
	}
	if m.ArtifactType != artifactType {
		got := m.ArtifactType
		if got == "" {
			got = "none, config " + string(m.Config.MediaType)
		}
		return nil, fmt.Errorf("%s: %w: the artifact type is %s, want %s (is this repository or tag used by something else?)", where, ErrNotState, got, artifactType)
	}
	if len(m.Layers) != 1 || m.Layers[0].MediaType != layerType {
		return nil, corrupt(fmt.Errorf("%s: the artifact is malformed: want exactly one layer of type %s", where, layerType))
	}
	if m.Layers[0].Size < 0 || m.Layers[0].Size > maxBlob {
		return nil, fmt.Errorf("%s: the artifact's layer claims %d bytes, more than sovos accepts (%d)", where, m.Layers[0].Size, maxBlob)
	}
	return &m.Layers[0], nil
}

// readBlob reads at most the descriptor's size from rc and checks the content digest, so a
// truncated or tampered layer is reported as such rather than as bad JSON.
func readBlob(rc io.ReadCloser, desc *v1.Descriptor, where string) ([]byte, error) {
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, desc.Size+1))
	if err != nil {
		return nil, fmt.Errorf("%s: reading layer %s: %w", where, desc.Digest, err)
	}
	if int64(len(data)) != desc.Size {
		return nil, corrupt(fmt.Errorf("%s: layer %s is corrupted: %d bytes, the manifest says %d", where, desc.Digest, len(data), desc.Size))
	}
	got, _, err := v1.SHA256(bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	if desc.Digest.Algorithm != "sha256" || got != desc.Digest {
		return nil, corrupt(fmt.Errorf("%s: layer %s is corrupted: its content has digest %s", where, desc.Digest, got))
	}
	return data, nil
}

// decodeLock parses a lock layer.
func decodeLock(data []byte, where string) (*LockInfo, error) {
	var info LockInfo
	if err := json.Unmarshal(data, &info); err != nil {
		return nil, fmt.Errorf("%s: the lock is unreadable: %w", where, err)
	}
	if info.ID == "" {
		return nil, fmt.Errorf("%s: the lock has no id", where)
	}
	return &info, nil
}

func encodeLock(info *LockInfo) ([]byte, error) {
	if info == nil || info.ID == "" {
		return nil, errors.New("lock: no lock ID")
	}
	return json.MarshalIndent(info, "", "  ")
}
