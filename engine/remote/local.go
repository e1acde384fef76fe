package remote

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

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
	// TTL, when set, makes Get miss an image stored longer ago, as
	// Kaniko's executor with --cache-ttl (an image stored without a time
	// is used).
	TTL time.Duration
	// Now is the clock Put records the time by; nil means time.Now.
	Now func() time.Time
	mu  sync.Mutex
}

// CachedEntry is what the cache holds for a reference and platform.
type CachedEntry struct {
	// Digest is the image's manifest digest.
	Digest v1.Hash
	// Stored is when Put stored it; zero when the cache did not record
	// it (an image stored before the time was kept).
	Stored time.Time
}

const (
	refName = "org.opencontainers.image.ref.name"
	// storedAt records, in RFC 3339, when Put stored an image: the
	// warmer's --cache-ttl counts from it.
	storedAt = "com.github.kaniko-build.stored"
)

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

// lookup finds ref's descriptor for p in the cache's index; nil when the
// cache, or the image, is not there. Call it with c.mu held.
func (c *ImageCache) lookup(ref string, p v1.Platform) (v1.ImageIndex, *v1.Descriptor, error) {
	key, err := cacheKey(ref, p)
	if err != nil {
		return nil, nil, err
	}
	lp, err := layout.FromPath(c.Path)
	if err != nil {
		return nil, nil, nil // no cache yet
	}
	idx, err := lp.ImageIndex()
	if err != nil {
		return nil, nil, err
	}
	m, err := idx.IndexManifest()
	if err != nil {
		return nil, nil, err
	}
	for i, d := range m.Manifests {
		if d.Annotations[refName] == key {
			return idx, &m.Manifests[i], nil
		}
	}
	return idx, nil, nil
}

// Get returns the cached image for ref, or nil.
func (c *ImageCache) Get(ref string, p v1.Platform) (v1.Image, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	idx, d, err := c.lookup(ref, p)
	if err != nil || d == nil {
		return nil, err
	}
	if t, err := time.Parse(time.RFC3339Nano, d.Annotations[storedAt]); err == nil && c.TTL > 0 && c.now().Sub(t) > c.TTL {
		return nil, nil
	}
	return idx.Image(d.Digest)
}

// Lookup says which image the cache holds for ref and p, and since when,
// without reading it; nil when it holds none.
func (c *ImageCache) Lookup(ref string, p v1.Platform) (*CachedEntry, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, d, err := c.lookup(ref, p)
	if err != nil || d == nil {
		return nil, err
	}
	e := &CachedEntry{Digest: d.Digest}
	if t, err := time.Parse(time.RFC3339Nano, d.Annotations[storedAt]); err == nil {
		e.Stored = t
	}
	return e, nil
}

// Put stores img as ref's image for the platform, replacing an older one,
// and records when. Blobs the cache already holds, of the right size, are
// kept: see Replace.
func (c *ImageCache) Put(ref string, p v1.Platform, img v1.Image) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.put(ref, p, img)
}

// Replace is Put storing img anew: every blob of img the cache holds is
// checked against its digest first, and one that does not match is
// fetched again.
func (c *ImageCache) Replace(ref string, p v1.Platform, img v1.Image) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.dropDamaged(img); err != nil {
		return err
	}
	return c.put(ref, p, img)
}

// dropDamaged removes those of img's blobs (manifest, config, layers) the
// cache holds with content that does not match their digest.
func (c *ImageCache) dropDamaged(img v1.Image) error {
	d, err := img.Digest()
	if err != nil {
		return err
	}
	m, err := img.Manifest()
	if err != nil {
		return err
	}
	blobs := []v1.Hash{d, m.Config.Digest}
	for _, l := range m.Layers {
		blobs = append(blobs, l.Digest)
	}
	for _, h := range blobs {
		file := filepath.Join(c.Path, "blobs", h.Algorithm, h.Hex)
		ok, err := matches(file, h)
		if err != nil {
			return err
		}
		if !ok {
			if err := os.Remove(file); err != nil && !os.IsNotExist(err) {
				return err
			}
		}
	}
	return nil
}

// matches says whether file holds content of digest h; a missing file,
// or a digest not sha256, counts as matching (there is nothing to drop).
func matches(file string, h v1.Hash) (bool, error) {
	if h.Algorithm != "sha256" {
		return true, nil
	}
	f, err := os.Open(file)
	if os.IsNotExist(err) {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	defer f.Close()
	sum := sha256.New()
	if _, err := io.Copy(sum, f); err != nil {
		return false, err
	}
	return hex.EncodeToString(sum.Sum(nil)) == h.Hex, nil
}

func (c *ImageCache) put(ref string, p v1.Platform, img v1.Image) error {
	key, err := cacheKey(ref, p)
	if err != nil {
		return err
	}
	lp, err := c.open()
	if err != nil {
		return fmt.Errorf("opening %s: %w", c.Path, err)
	}
	return lp.ReplaceImage(img, match.Annotation(refName, key), layout.WithAnnotations(map[string]string{
		refName: key, storedAt: c.now().UTC().Format(time.RFC3339Nano),
	}))
}

func (c *ImageCache) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}
