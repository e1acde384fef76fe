package remote

import (
	"fmt"
	"sync"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/match"
)

// ImageCache is an OCI layout of base images pulled ahead of time (the
// warmer's --cache-dir), looked up by reference and platform before any
// registry is asked.
type ImageCache struct {
	Path string
	mu   sync.Mutex
}

const refName = "org.opencontainers.image.ref.name"

func (c *ImageCache) open() (layout.Path, error) {
	if p, err := layout.FromPath(c.Path); err == nil {
		return p, nil
	}
	return layout.Write(c.Path, empty.Index)
}

func cacheKey(ref string, p v1.Platform) (string, error) {
	r, err := name.ParseReference(ref)
	if err != nil {
		return "", err
	}
	s := p.OS + "/" + p.Architecture
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	return r.Name() + "|" + s, nil
}

// Get returns the cached image for ref, or nil.
func (c *ImageCache) Get(ref string, p v1.Platform) (v1.Image, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	key, err := cacheKey(ref, p)
	if err != nil {
		return nil, err
	}
	lp, err := layout.FromPath(c.Path)
	if err != nil {
		return nil, nil // no cache yet
	}
	idx, err := lp.ImageIndex()
	if err != nil {
		return nil, err
	}
	m, err := idx.IndexManifest()
	if err != nil {
		return nil, err
	}
	for _, d := range m.Manifests {
		if d.Annotations[refName] == key {
			return idx.Image(d.Digest)
		}
	}
	return nil, nil
}

// Put stores img as ref's image for the platform, replacing an older one.
func (c *ImageCache) Put(ref string, p v1.Platform, img v1.Image) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	key, err := cacheKey(ref, p)
	if err != nil {
		return err
	}
	lp, err := c.open()
	if err != nil {
		return fmt.Errorf("opening %s: %w", c.Path, err)
	}
	return lp.ReplaceImage(img, match.Annotation(refName, key), layout.WithAnnotations(map[string]string{refName: key}))
}
