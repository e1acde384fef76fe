package image

import (
	"fmt"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// twin is the media type in format f of a layer of type mt, when mt is of
// the other format.
func twin(f Format, mt types.MediaType) (types.MediaType, bool) {
	pairs := [][2]types.MediaType{ // Docker's, OCI's
		{types.DockerLayer, types.OCILayer},
		{types.DockerUncompressedLayer, types.OCIUncompressedLayer},
		{types.DockerForeignLayer, types.OCIRestrictedLayer},
	}
	for _, p := range pairs {
		switch {
		case f == OCI && mt == p[0]:
			return p[1], true
		case f == Docker && mt == p[1]:
			return p[0], true
		}
	}
	return mt, false
}

// InFormat returns img's layers as layers of format f: each one whose
// media type belongs to the other format gets its twin (the same bytes),
// so that a manifest of f lists no layer of the other. Layer descriptors
// keep their URLs (a foreign layer's) and annotations. The image's config
// and manifest media types are the caller's to set.
func InFormat(img v1.Image, f Format) (v1.Image, error) {
	layers, err := img.Layers()
	if err != nil {
		return nil, fmt.Errorf("listing layers: %w", err)
	}
	m, err := img.Manifest()
	if err != nil {
		return nil, fmt.Errorf("reading manifest: %w", err)
	}
	changed := false
	adds := make([]mutate.Addendum, len(layers))
	for i, l := range layers {
		mt, err := l.MediaType()
		if err != nil {
			return nil, fmt.Errorf("reading a layer's media type: %w", err)
		}
		if t, ok := twin(f, mt); ok {
			l, changed = retyped{l, t}, true
		}
		adds[i] = mutate.Addendum{Layer: l}
		if i < len(m.Layers) {
			// Append describes a layer from its methods: what only
			// the manifest says is carried over.
			adds[i].URLs, adds[i].Annotations = m.Layers[i].URLs, m.Layers[i].Annotations
		}
	}
	if !changed {
		return img, nil
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("reading config: %w", err)
	}
	out, err := mutate.Append(empty.Image, adds...)
	if err != nil {
		return nil, fmt.Errorf("retyping layers: %w", err)
	}
	return mutate.ConfigFile(out, cf)
}

// retyped is a layer under another media type.
type retyped struct {
	v1.Layer
	mt types.MediaType
}

func (l retyped) MediaType() (types.MediaType, error) { return l.mt, nil }
