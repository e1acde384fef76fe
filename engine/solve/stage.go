package solve

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/kaniko-build/kaniko-build/engine/cache"
	"github.com/kaniko-build/kaniko-build/engine/filetree"
	"github.com/kaniko-build/kaniko-build/engine/image"
	"github.com/kaniko-build/kaniko-build/engine/owners"
	"github.com/kaniko-build/kaniko-build/engine/plan"
	"github.com/kaniko-build/kaniko-build/engine/run"
	"github.com/kaniko-build/kaniko-build/engine/snapshot"
	"github.com/kaniko-build/kaniko-build/engine/user"
)

// stage is one build stage in progress: what its image will be, its
// files, and where its steps are.
type stage struct {
	index  int
	tag    string // "[name n/total]", its log lines' prefix
	parent *stage // the stage this one is FROM, if any
	key    cache.Key
	steps  []plan.Step // the stage's steps, its base's ONBUILD triggers first
	rest   []plan.Step // the steps after the one running
	// noLayers: no image and no cache takes this stage's layers (a
	// builder stage that others only COPY from), so none are made.
	noLayers  bool
	lastLayer v1.Layer      // the layer the last commit made, nil for none
	waited    time.Duration // for its stages and its turn in Root.Dir
	// stepWaited is how long the step running waited for the stage
	// stepWaitedOn, which it reads (COPY --from).
	stepWaited   time.Duration
	stepWaitedOn string
	stageImage
	stageFiles
}

// stageImage is what the stage's image will be.
type stageImage struct {
	base       v1.Image // the image it starts from, for its config and history
	baseLayers v1.Image // the base image, whose layers come first
	format     image.Format
	cfg        *v1.ConfigFile
	layers     []mutate.Addendum
	history    []v1.History           // everything after the base's history
	raw        []func(map[string]any) // config edits ggcr's type cannot hold
	epoch      *time.Time             // the time of every file, when reproducible
	created    time.Time
}

// stageFiles is the stage's filesystem, made only when a step must run.
type stageFiles struct {
	root         string
	snap         *snapshot.State
	materialized bool         // root holds the stage's files
	aside        bool         // root is a directory of ours, not the container's "/"
	mat          sync.Mutex   // held while materializing
	rw           sync.RWMutex // held to copy root (read) or take it over (write)
	prefetch     *prefetched  // its base, extracted beside the root; nil for none
	fetch        *layerFetch  // its base's layers, downloading; nil for none
	// virtual holds what layer-only COPYs made but did not write (in-image
	// path to entry), pending how to write it if a later COPY must look.
	virtual *virtualSet
	pending []virtualCopy
	// owners keeps what root's disk cannot hold (a build without root).
	owners *owners.Table
}

func (b *Solver) runStage(ctx context.Context, i, n, total int) (_ *stage, err error) {
	ps := b.cfg.Plan.Stages[i]
	s := &stage{index: i, stageImage: stageImage{created: time.Now().UTC()}}
	s.owners = owners.ForProcess()
	if b.cfg.Image.Reproducible {
		t := time.Unix(0, 0).UTC()
		s.epoch, s.created = &t, t
	}
	s.tag = fmt.Sprintf("[%s %d/%d]", b.stageName(i), n, total)
	b.event(ctx, s.tag+" FROM "+ps.Base, "stage.start", s, slog.String("base", ps.Base))
	start := time.Now()
	if err := b.initStage(ctx, s); err != nil {
		return nil, plan.At(b.cfg.Plan.File.Name, ps.Location, err)
	}
	d := time.Since(start)
	took := fmt.Sprint(d.Round(time.Millisecond))
	if s.waited > time.Millisecond {
		took = fmt.Sprintf("%s, %s of it waiting for its turn in %s", took, s.waited.Round(time.Millisecond), b.cfg.Root.Dir)
	}
	b.event(ctx, fmt.Sprintf("%s FROM %s (%s)", s.tag, ps.Base, took), "stage", s, slog.String("base", ps.Base),
		slog.Int64("duration_ms", d.Milliseconds()), slog.Int64("waited_ms", s.waited.Milliseconds()))
	for k, st := range s.steps {
		s.rest = s.steps[k+1:]
		if err := b.runStep(ctx, s, st); err != nil {
			return nil, plan.At(b.cfg.Plan.File.Name, st.At().Location, err)
		}
	}
	return s, nil
}

// runStep runs one step, between a start and an end event when it is an
// instruction of the Dockerfile.
func (b *Solver) runStep(ctx context.Context, s *stage, st plan.Step) error {
	text := st.At().Text
	if text == "" {
		return b.dispatch(ctx, s, st)
	}
	n := slog.Int("step", s.stepNo())
	line := fmt.Sprintf("%s STEP %d/%d: %s", s.tag, s.stepNo(), len(s.steps), oneLine(text))
	b.event(ctx, line, "step.start", s, n, slog.String("instruction", text))
	start := time.Now()
	s.stepWaited, s.stepWaitedOn = 0, ""
	if err := b.dispatch(ctx, s, st); err != nil {
		return err
	}
	d := time.Since(start)
	took := fmt.Sprint(d.Round(time.Millisecond))
	if s.stepWaited > 0 {
		took = fmt.Sprintf("%s, %s of it waiting for stage %s", took, s.stepWaited.Round(time.Millisecond), s.stepWaitedOn)
	}
	b.event(ctx, fmt.Sprintf("%s (%s)", line, took), "step", s, n,
		slog.String("instruction", text), slog.Int64("duration_ms", d.Milliseconds()), slog.Int64("waited_ms", s.stepWaited.Milliseconds()))
	return nil
}

// stepNo is the number of the step running, from 1.
func (s *stage) stepNo() int {
	return len(s.steps) - len(s.rest)
}

// runsCommands reports whether stage s has a RUN step.
func (s *stage) runsCommands() bool {
	return slices.ContainsFunc(s.steps, func(st plan.Step) bool {
		_, ok := st.(*plan.Run)
		return ok
	})
}

func oneLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i] + " ..."
	}
	if len(s) > 120 {
		s = s[:117] + "..."
	}
	return s
}

// initStage sets the stage up from its base: config, layers, history and
// cache key. Its filesystem comes later, from materialize, and only when a
// step has to run.
func (b *Solver) initStage(ctx context.Context, s *stage) error {
	s.root = filepath.Join(b.cfg.TempDir, fmt.Sprintf("stage-%d", s.index))
	ps := b.cfg.Plan.Stages[s.index]
	base := ps.Base
	if ps.Parent >= 0 {
		parent, err := b.builtStage(ctx, s.index, ps.Parent)
		if err != nil {
			return err
		}
		s.parent = parent
		s.base, s.baseLayers, s.format = parent.base, parent.baseLayers, parent.format
		s.layers = append([]mutate.Addendum{}, parent.layers...)
		s.history = append([]v1.History{}, parent.history...)
		s.cfg = parent.cfg.DeepCopy()
		s.raw = slices.Clone(parent.raw)
		s.key = parent.key
	} else if err := b.fromImage(ctx, s, ps); err != nil {
		return err
	}
	if f := b.cfg.Image.Format; f != "" {
		s.format = f
	}
	var err error
	if s.steps, err = b.cfg.Plan.Steps(s.index, s.cfg); err != nil {
		return err
	}
	s.noLayers = b.eager() && !b.cfg.Plan.Final[s.index]
	if b.cfg.Root.Dir != "" {
		if s.runsCommands() {
			if b.eager() && s.parent == nil && base != "scratch" {
				// Its base, extracted while it waits for its turn.
				s.prefetch = b.prefetch(ctx, s)
			}
			if err := b.takeRoot(ctx, s); err != nil {
				return err
			}
			s.root = b.cfg.Root.Dir
		} else {
			s.aside = true // its steps need no root of their own: beside it
			b.endTurn(s.index)
		}
	}
	if b.eager() {
		return b.materialize(ctx, s)
	}
	return nil
}

// fromImage starts stage s from its base image (or scratch): config,
// format and cache key; the layers of a final stage's base start
// uploading.
func (b *Solver) fromImage(ctx context.Context, s *stage, ps *plan.Stage) error {
	base := ps.Base
	p := ps.Platform
	var img v1.Image
	var err error
	if base == "scratch" {
		img = empty.Image
		s.format = image.Docker
		s.key = cache.Of("scratch", plan.FormatPlatform(p))
	} else {
		if img, err = b.cfg.Registry.Pull(ctx, base, p); err != nil {
			return err
		}
		if b.eager() {
			// Without a cache the base is extracted: its layers
			// download while its config is fetched.
			if s.fetch, err = b.fetchImage(ctx, base, img); err != nil {
				return fmt.Errorf("reading layers of %s: %w", base, err)
			}
		}
		mt, err := img.MediaType()
		if err != nil {
			return fmt.Errorf("reading %s: %w", base, err)
		}
		s.format = image.Docker
		if mt == types.OCIManifestSchema1 {
			s.format = image.OCI
		}
		d, err := img.Digest()
		if err != nil {
			return fmt.Errorf("reading %s: %w", base, err)
		}
		s.key = cache.Of("image", d.String(), plan.FormatPlatform(p))
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return fmt.Errorf("reading config of %s: %w", base, err)
	}
	cfg = cfg.DeepCopy()
	if base == "scratch" {
		cfg.OS, cfg.Architecture, cfg.Variant = p.OS, p.Architecture, p.Variant
		// As BuildKit's empty image.
		cfg.Config.WorkingDir = "/"
		cfg.Config.Env = []string{"PATH=" + run.DefaultPath}
	}
	s.base, s.baseLayers, s.cfg = img, img, cfg
	if b.cfg.Upload != nil && b.cfg.Plan.Final[s.index] {
		// The image's base layers: mounted or uploaded while the
		// build goes on, not at the final push.
		ls, err := img.Layers()
		if err != nil {
			return fmt.Errorf("reading layers of %s: %w", base, err)
		}
		for _, l := range ls {
			b.cfg.Upload.Add(ctx, l)
		}
	}
	return nil
}

// dispatch runs one step: a config edit here, a step that changes files
// through the cache-aware step loop.
func (b *Solver) dispatch(ctx context.Context, s *stage, st plan.Step) error {
	switch st := st.(type) {
	case *plan.Config:
		if st.Edit != nil {
			st.Edit(s.cfg)
		}
		if st.Raw != nil {
			s.raw = append(s.raw, st.Raw)
		}
		if st.History != "" {
			s.record(st.History)
		}
		return nil
	case *plan.Workdir:
		s.cfg.Config.WorkingDir = st.Path
		if !st.Create {
			s.record("WORKDIR " + st.Path)
			return nil
		}
	}
	return b.step(ctx, s, st)
}

// makeWorkdir creates WORKDIR as BuildKit does: with its parents, owned by
// the current USER.
func (b *Solver) makeWorkdir(ctx context.Context, s *stage, wd string) error {
	var owner *filetree.Owner
	if u := s.cfg.Config.User; u != "" {
		uid, gid, err := user.ResolveChown(s.root, u)
		if err != nil {
			return err
		}
		owner = &filetree.Owner{UID: int(uid), GID: int(gid)}
	}
	if err := filetree.MkdirAllIn(s.owners, s.root, wd, owner); err != nil {
		return fmt.Errorf("creating WORKDIR %s: %w", wd, err)
	}
	return b.commit(ctx, s, "WORKDIR "+wd)
}

// record adds a history entry for a step that makes no layer.
func (s *stageImage) record(createdBy string) {
	s.history = append(s.history, v1.History{
		Created: v1.Time{Time: s.created}, CreatedBy: createdBy, Comment: "kaniko-build", EmptyLayer: true,
	})
}

// commit snapshots the stage's root and adds the changes as a layer.
// restored are directories whose times a RUN put back after making and
// removing mount points in them: a new ctime alone is no change there.
func (b *Solver) commit(ctx context.Context, s *stage, createdBy string, restored ...string) error {
	if s.noLayers {
		s.record(createdBy)
		return nil
	}
	start := time.Now()
	cur, err := snapshot.ScanOwned(s.root, b.stageSkip(s), s.owners)
	if err != nil {
		return err
	}
	scanned := time.Now()
	changes := snapshot.Diff(s.snap, cur)
	if len(restored) > 0 {
		if err := settleRestored(s.root, changes, cur, restored, s.owners); err != nil {
			return err
		}
	}
	s.snap = cur
	s.lastLayer = nil
	n := changes.Len()
	if n == 0 {
		s.record(createdBy)
		return nil
	}
	l, comp, err := b.writeLayer(s, func(w io.Writer) error {
		return snapshot.WriteTar(w, s.root, cur, changes, snapshot.TarOptions{Epoch: s.epoch, Owners: s.owners})
	})
	if err != nil {
		return err
	}
	size, _ := l.Size()
	scan, write := scanned.Sub(start), time.Since(scanned)
	b.event(ctx, fmt.Sprintf("  snapshot: %d paths scanned in %s, %d changed; layer of %.1f MB (%s) in %s",
		cur.Len(), scan.Round(time.Millisecond), n, float64(size)/1e6, comp, write.Round(time.Millisecond)),
		"layer", s, slog.Int("paths", cur.Len()), slog.Int("changed", n), slog.Int64("bytes", size),
		slog.String("compression", string(comp)), slog.Int64("scan_ms", scan.Milliseconds()), slog.Int64("write_ms", write.Milliseconds()))
	b.addLayer(ctx, s, l, createdBy)
	s.lastLayer = l
	return nil
}

// settleRestored decides the directories a RUN made mount points in and
// put back: one where the command changed something below takes the time
// of the build, as in docker and BuildKit (their mount points were made
// there too); in another, a new ctime alone is no change.
func settleRestored(root string, changes *snapshot.Changes, cur *snapshot.State, dirs []string, t *owners.Table) error {
	below := changes.Below(dirs)
	for i, d := range dirs {
		if !below[i] {
			changes.IgnoreCtime(d)
			continue
		}
		host := filepath.Join(root, filepath.FromSlash(d))
		now := time.Now()
		if err := os.Chtimes(host, now, now); err != nil {
			return fmt.Errorf("dating %s: %w", d, err)
		}
		e, err := snapshot.Stat(host)
		if err != nil {
			return err
		}
		if err := cur.Update(d, snapshot.Owned(e, d, t)); err != nil {
			return err
		}
	}
	return nil
}

// writeLayer compresses the tar that write makes into a layer file, with
// the build's compression and the stage's media type.
func (b *Solver) writeLayer(s *stage, write func(io.Writer) error) (*image.FileLayer, image.Compression, error) {
	comp := b.cfg.Image.Compression
	if comp == "" {
		comp = image.Gzip
	}
	// Compression takes all cores and buffers a few MB: stages at once
	// take turns rather than hold a compressor each.
	b.compressing <- struct{}{}
	defer func() { <-b.compressing }()
	l, err := image.WriteLayer(b.cfg.TempDir, comp, b.cfg.Image.Level, image.LayerMediaType(s.format, comp), write)
	return l, comp, err
}

// addLayer appends a layer made or found for the stage.
func (b *Solver) addLayer(ctx context.Context, s *stage, l v1.Layer, createdBy string) {
	h := v1.History{Created: v1.Time{Time: s.created}, CreatedBy: createdBy, Comment: "kaniko-build"}
	s.layers = append(s.layers, mutate.Addendum{Layer: l, History: h})
	if b.cfg.Upload != nil && b.cfg.Plan.Final[s.index] {
		b.cfg.Upload.Add(ctx, l) // while the next steps run
	}
	s.history = append(s.history, h)
}

// skip leaves out paths that belong to the container, not the image
// (in-container mode only; nothing is skipped in a stage directory).
func (b *Solver) skip(p string) bool {
	return b.cfg.Root.Ignored.Covers(p) || (b.cfg.Root.IgnoreVarRun && (p == "/var/run" || strings.HasPrefix(p, "/var/run/")))
}

// image assembles the stage's image.
func (s *stageImage) image() (v1.Image, error) {
	// The base's layers in the stage's format: an OCI manifest lists no
	// Docker layer, nor the other way round.
	img, err := image.InFormat(s.base, s.format)
	if err != nil {
		return nil, fmt.Errorf("assembling image: %w", err)
	}
	if len(s.layers) > 0 {
		if img, err = mutate.Append(img, s.layers...); err != nil {
			return nil, fmt.Errorf("assembling image: %w", err)
		}
	}
	cfgFile, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("assembling image: %w", err)
	}
	cfg := s.cfg.DeepCopy()
	cfg.RootFS = cfgFile.RootFS
	baseCfg, err := s.base.ConfigFile()
	if err != nil {
		return nil, err
	}
	cfg.History = append(append([]v1.History{}, baseCfg.History...), s.history...)
	cfg.Created = v1.Time{Time: s.created}
	cfg.Container, cfg.DockerVersion = "", ""
	if img, err = mutate.ConfigFile(img, cfg); err != nil {
		return nil, fmt.Errorf("assembling image: %w", err)
	}
	switch s.format {
	case image.OCI:
		img = mutate.MediaType(img, types.OCIManifestSchema1)
		img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	default:
		img = mutate.MediaType(img, types.DockerManifestSchema2)
		img = mutate.ConfigMediaType(img, types.DockerConfigJSON)
	}
	// Last: mutate rebuilds the config from its typed form.
	if len(s.raw) > 0 {
		if img, err = image.WithConfigFields(img, func(c map[string]any) {
			for _, edit := range s.raw {
				edit(c)
			}
		}); err != nil {
			return nil, err
		}
	}
	return img, nil
}
