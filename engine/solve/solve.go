// Package solve executes a build plan: it builds the needed stages, each
// as soon as what it reads is built, and runs their steps through one
// cache-aware loop (cachestep.go). What it talks to comes in as small
// interfaces: the Runner that runs RUN, the Registry that images come
// from, the cache Store and the Uploader.
package solve

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"runtime"
	"strings"
	"sync"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/kaniko-build/kaniko-build/engine/buildctx"
	"github.com/kaniko-build/kaniko-build/engine/cache"
	"github.com/kaniko-build/kaniko-build/engine/image"
	"github.com/kaniko-build/kaniko-build/engine/plan"
	"github.com/kaniko-build/kaniko-build/engine/progress"
	"github.com/kaniko-build/kaniko-build/engine/rootfs"
	"github.com/kaniko-build/kaniko-build/engine/run"
)

// Registry is where images come from.
type Registry interface {
	// Pull reads ref's image for platform p; its layers are read lazily,
	// through ctx.
	Pull(ctx context.Context, ref string, p v1.Platform) (v1.Image, error)
	// Retry runs fn again when it fails as a registry request can fail
	// for a while (a dropped connection, a 5xx).
	Retry(ctx context.Context, fn func() error) error
}

// Uploader takes the final image's layers as they are made, to send them
// ahead of the push, through ctx.
type Uploader interface {
	Add(ctx context.Context, l v1.Layer)
}

// Config is what a build is solved with.
type Config struct {
	Plan     *plan.Plan
	Context  *buildctx.Context
	Runner   run.Runner
	Registry Registry
	Cache    Cache
	// Upload, if not nil, takes the final image's layers.
	Upload Uploader
	Image  ImageOptions
	Root   Root
	// TempDir holds the stages' roots, layer files and downloads.
	TempDir string
	// CacheDir keeps RUN --mount=type=cache contents between builds; empty
	// keeps them in TempDir for this build only.
	CacheDir string
	// Secrets maps a secret's id to its content.
	Secrets map[string][]byte
	// Log receives everything the build reports: progress records at Info
	// (the message a line for a person, attributes for machines, an
	// "event" attribute naming what happened) and warnings; nil discards
	// them. progress.Handler renders them for a terminal.
	Log *slog.Logger
}

// Cache is the layer cache.
type Cache struct {
	// Store holds the layers; nil for no cache.
	Store cache.Store
	// Sums keeps the context files' content keys between builds; nil for none.
	Sums *cache.Sums
	// RunLayers and CopyLayers choose which steps are cached.
	RunLayers, CopyLayers bool
	// ReadOnly reads the cache without writing to it.
	ReadOnly bool
}

// ImageOptions say how the image is written.
type ImageOptions struct {
	Compression image.Compression // empty means gzip
	Level       int               // 0 or less is the fastest
	// Format is the manifest format; empty keeps the base image's.
	Format image.Format
	// Reproducible strips timestamps.
	Reproducible bool
	// Labels are KEY=VALUE labels added to the final image.
	Labels []string
}

// Root is the filesystem RUN steps run in.
type Root struct {
	// Dir is one directory the stages that RUN take turns in (the
	// container's "/" in in-container mode); empty gives each stage a
	// directory of its own under TempDir.
	Dir string
	// Ignored are the paths of Dir that are the container's, not the
	// image's: never touched, never in a layer.
	Ignored rootfs.IgnoreList
	// IgnoreVarRun keeps /var/run of Dir out of layers too.
	IgnoreVarRun bool
}

// Solver builds one plan.
type Solver struct {
	cfg    Config
	log    *slog.Logger
	stages []*stage   // per stage, nil when not built
	mu     sync.Mutex // guards images, uses and cacheDirs across stages
	// cacheDirs are the RUN --mount=type=cache directories in use.
	cacheDirs map[string]*cacheDir
	images    map[string]source // image ref -> its extracted files, for COPY --from
	uses      map[int]int       // stage -> how many later stages read it, counted down
	sched     schedule
	fetches   sync.WaitGroup // layer downloads under way, which write into TempDir
	puts      sync.WaitGroup // cache writes under way
	order     extractOrder   // base extractions in the order the build needs them
	// compressing holds a slot per layer being written, prefetching per
	// base extracted ahead of its stage's turn in the root.
	compressing, prefetching chan struct{}
}

// New makes a Solver for cfg.
func New(cfg Config) *Solver {
	b := &Solver{cfg: cfg, log: cfg.Log, images: map[string]source{}, compressing: make(chan struct{}, runtime.GOMAXPROCS(0)), prefetching: make(chan struct{}, 2)}
	if b.log == nil {
		b.log = slog.New(slog.DiscardHandler)
	}
	return b
}

// Solve builds the needed stages and returns the target's image. The
// image's pulled layers are read through ctx for as long as it is used.
// stop is called on the first failure, and must cancel ctx: that ends the
// other stages.
func (b *Solver) Solve(ctx context.Context, stop context.CancelFunc) (v1.Image, error) {
	defer b.puts.Wait()
	p := b.cfg.Plan
	b.uses = maps.Clone(p.Uses)
	b.stages = make([]*stage, len(p.Stages))
	if err := b.runConcurrently(ctx, stop, p.Needed); err != nil {
		return nil, err
	}
	b.noteKeptOwners()
	final := b.stages[p.Target]
	for _, l := range b.cfg.Image.Labels {
		k, v, _ := strings.Cut(l, "=")
		if final.cfg.Config.Labels == nil {
			final.cfg.Config.Labels = map[string]string{}
		}
		final.cfg.Config.Labels[k] = v
	}
	return final.image()
}

// noteKeptOwners says once when, as root in a user namespace, owners the
// namespace does not map were kept beside the files rather than on them.
func (b *Solver) noteKeptOwners() {
	for _, s := range b.stages {
		if s != nil && s.owners != nil && !s.owners.Squashing() && s.owners.Len() > 0 {
			b.log.Info("files have owners this user namespace does not map: kept in the layers' metadata, as a build as root writes them",
				progress.Event, "owners_kept")
			return
		}
	}
}

// Close waits for the downloads still under way, which write into
// TempDir; cancel Solve's ctx first.
func (b *Solver) Close() {
	b.fetches.Wait()
}

// event logs a progress record about stage s: msg is the line a person
// reads; event names what happened, for machines, with attrs.
func (b *Solver) event(ctx context.Context, msg, event string, s *stage, attrs ...slog.Attr) {
	attrs = append([]slog.Attr{slog.String(progress.Event, event), slog.String("stage", b.stageName(s.index))}, attrs...)
	b.log.LogAttrs(ctx, slog.LevelInfo, msg, attrs...)
}

// output is where a RUN's stream goes: a record per line, tagged with the
// stage and the step.
func (b *Solver) output(s *stage, stream string) *progress.Lines {
	return progress.NewLines(b.log, slog.String(progress.Event, "output"), slog.String("stage", b.stageName(s.index)),
		slog.Int("step", s.stepNo()), slog.String("stream", stream))
}

// stageName is stage i's name, or its index when it has none.
func (b *Solver) stageName(i int) string {
	if name := b.cfg.Plan.Stages[i].Name; name != "" {
		return name
	}
	return fmt.Sprint(i)
}

// eager reports whether stages make their files up front. Without a
// cache every step runs, so a stage's files are made at once (its base
// downloads while its config is read) and a stage whose layers no image
// takes makes none. With one, files are made only when a step misses.
func (b *Solver) eager() bool {
	return b.cfg.Cache.Store == nil
}
