package cache

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/match"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// Entry is a cached step: its layer (nil when the step changed no file)
// and the labels recording what its key was made of.
type Entry struct {
	Layer  v1.Layer
	Labels map[string]string
}

// Store keeps entries by key.
type Store interface {
	// Get returns the entry, or ok=false when there is none (or it expired).
	Get(ctx context.Context, tag string) (e Entry, ok bool, err error)
	// Put stores an entry under tag.
	Put(ctx context.Context, tag string, e Entry) error
}

const labelPrefix = "dev.kaniko-build.cache."

// entryImage wraps an entry as a small image: its one layer, its labels.
func entryImage(e Entry, now time.Time) (v1.Image, error) {
	img := empty.Image
	if e.Layer != nil {
		var err error
		if img, err = mutate.AppendLayers(img, e.Layer); err != nil {
			return nil, err
		}
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cfg = cfg.DeepCopy()
	cfg.Created = v1.Time{Time: now}
	cfg.Config.Labels = map[string]string{labelPrefix + "entry": "1"}
	for k, v := range e.Labels {
		cfg.Config.Labels[labelPrefix+k] = v
	}
	return mutate.ConfigFile(img, cfg)
}

func entryFromImage(img v1.Image, ttl time.Duration, now time.Time) (Entry, bool, error) {
	cfg, err := img.ConfigFile()
	if err != nil {
		return Entry{}, false, err
	}
	if cfg.Config.Labels[labelPrefix+"entry"] != "1" {
		return Entry{}, false, nil
	}
	if ttl > 0 && now.Sub(cfg.Created.Time) > ttl {
		return Entry{}, false, nil
	}
	e := Entry{Labels: map[string]string{}}
	for k, v := range cfg.Config.Labels {
		if name, ok := strings.CutPrefix(k, labelPrefix); ok && name != "entry" {
			e.Labels[name] = v
		}
	}
	layers, err := img.Layers()
	if err != nil {
		return Entry{}, false, err
	}
	if len(layers) > 1 {
		return Entry{}, false, fmt.Errorf("cache entry with %d layers", len(layers))
	}
	if len(layers) == 1 {
		e.Layer = layers[0]
		_, mountable := e.Layer.(*remote.MountableLayer)
		if len(cfg.RootFS.DiffIDs) == 1 && !mountable {
			// An OCI layout's layer would decompress itself to learn it;
			// a registry's knows it, and must stay mountable.
			e.Layer = withDiffID{e.Layer, cfg.RootFS.DiffIDs[0]}
		}
	}
	return e, true, nil
}

// withDiffID is a layer whose DiffID is known from its image's config.
type withDiffID struct {
	v1.Layer
	diffID v1.Hash
}

func (l withDiffID) DiffID() (v1.Hash, error) { return l.diffID, nil }

// Registry keeps entries as tags of a repository.
type Registry struct {
	Repo    name.Repository
	Options []remote.Option
	TTL     time.Duration
	Now     func() time.Time // dates entries and reads their age; nil means time.Now
	// Retry runs each request again while it fails for a transient
	// reason (remote.Options.Retry); nil tries once.
	Retry func(ctx context.Context, fn func() error) error
}

func (r *Registry) retry(ctx context.Context, fn func() error) error {
	if r.Retry == nil {
		return fn()
	}
	return r.Retry(ctx, fn)
}

// Get implements Store.
func (r *Registry) Get(ctx context.Context, tag string) (Entry, bool, error) {
	var e Entry
	var found bool
	err := r.retry(ctx, func() error {
		img, err := remote.Image(r.Repo.Tag(tag), append(slices.Clip(r.Options), remote.WithContext(ctx))...)
		var te *transport.Error
		if errors.As(err, &te) && te.StatusCode == http.StatusNotFound {
			return nil
		}
		if err != nil {
			return err
		}
		e, found, err = entryFromImage(img, r.TTL, now(r.Now))
		return err
	})
	if err != nil {
		return Entry{}, false, fmt.Errorf("reading cache %s:%s: %w", r.Repo, tag, err)
	}
	return e, found, nil
}

// Put implements Store.
func (r *Registry) Put(ctx context.Context, tag string, e Entry) error {
	img, err := entryImage(e, now(r.Now))
	if err != nil {
		return err
	}
	if err := r.retry(ctx, func() error {
		return remote.Write(r.Repo.Tag(tag), img, append(slices.Clip(r.Options), remote.WithContext(ctx))...)
	}); err != nil {
		return fmt.Errorf("writing cache %s:%s: %w", r.Repo, tag, err)
	}
	return nil
}

// now is clock's time, or time.Now's for a nil clock.
func now(clock func() time.Time) time.Time {
	if clock != nil {
		return clock()
	}
	return time.Now()
}

// Layout keeps entries in an OCI image layout on disk (oci:/path), each
// image named by its tag.
type Layout struct {
	Path string
	TTL  time.Duration
	Now  func() time.Time // as Registry's
	mu   sync.Mutex
}

const refAnnotation = "org.opencontainers.image.ref.name"

func (l *Layout) open() (layout.Path, error) {
	p, err := layout.FromPath(l.Path)
	if err != nil {
		return layout.Write(l.Path, empty.Index)
	}
	return p, nil
}

// Get implements Store.
func (l *Layout) Get(_ context.Context, tag string) (Entry, bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	p, err := l.open()
	if err != nil {
		return Entry{}, false, err
	}
	idx, err := p.ImageIndex()
	if err != nil {
		return Entry{}, false, err
	}
	m, err := idx.IndexManifest()
	if err != nil {
		return Entry{}, false, err
	}
	for i := len(m.Manifests) - 1; i >= 0; i-- {
		d := m.Manifests[i]
		if d.Annotations[refAnnotation] != tag {
			continue
		}
		img, err := idx.Image(d.Digest)
		if err != nil {
			return Entry{}, false, err
		}
		return entryFromImage(img, l.TTL, now(l.Now))
	}
	return Entry{}, false, nil
}

// Put implements Store.
func (l *Layout) Put(_ context.Context, tag string, e Entry) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	p, err := l.open()
	if err != nil {
		return err
	}
	img, err := entryImage(e, now(l.Now))
	if err != nil {
		return err
	}
	return p.ReplaceImage(img, match.Annotation(refAnnotation, tag), layout.WithAnnotations(map[string]string{refAnnotation: tag}))
}
