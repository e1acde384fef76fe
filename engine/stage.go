package engine

import (
	"context"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"

	"github.com/kaniko-build/kaniko-build/engine/cache"
	"github.com/kaniko-build/kaniko-build/engine/dockerfile"
	"github.com/kaniko-build/kaniko-build/engine/fs"
	"github.com/kaniko-build/kaniko-build/engine/image"
	"github.com/kaniko-build/kaniko-build/engine/remote"
	"github.com/kaniko-build/kaniko-build/engine/run"
	"github.com/kaniko-build/kaniko-build/engine/snapshot"
	"github.com/kaniko-build/kaniko-build/engine/user"
)

// stage is one build stage in progress.
type stage struct {
	index        int
	root         string
	base         v1.Image
	format       image.Format
	cfg          *v1.ConfigFile
	layers       []mutate.Addendum
	history      []v1.History // everything after the base's history
	runEnv       []string     // what RUN sees: config Env plus ARGs
	args         map[string]bool
	argOrder     []string // the stage's ARG names, in the order declared
	cmdSet       bool
	snap         snapshot.State
	epoch        *time.Time
	created      time.Time
	rw           sync.RWMutex // held to copy root (read) or take it over (write)
	parent       *stage       // the stage this one is FROM, if any
	baseLayers   v1.Image     // the base image, whose layers come first
	key          cache.Key
	materialized bool // root holds the stage's files
	// noLayers: no image and no cache takes this stage's layers (a
	// builder stage that others only COPY from), so none are made.
	noLayers bool
	rest     []instructions.Command // the stage's steps after the one running
	// virtual holds what layer-only COPYs made but did not write (in-image
	// path to entry), pending how to write it if a later COPY must look.
	virtual   map[string]snapshot.Entry
	pending   []virtualCopy
	aside     bool              // root is a directory of ours, not the container's "/"
	waited    time.Duration     // for its stages and its turn in opt.Root.Dir
	prefetch  *prefetched       // its base, extracted beside the root; nil for none
	fetch     *layerFetch       // its base's layers, downloading; nil for none
	tag       string            // "[name n/total]", its log lines' prefix
	mat       sync.Mutex        // held while materializing
	lastLayer v1.Layer          // the layer the last commit made, nil for none
	keyParts  map[string]string // inputs of the step being keyed
	// startInterval is HEALTHCHECK --start-interval, which ggcr's config
	// type lacks; 0 when unset.
	startInterval time.Duration
}

func (b *builder) runStage(ctx context.Context, i, n, total int) (_ *stage, err error) {
	f := b.file
	st := f.Stages[i]
	s := &stage{index: i, args: map[string]bool{}, created: time.Now().UTC()}
	if b.opt.Build.Reproducible {
		t := time.Unix(0, 0).UTC()
		s.epoch, s.created = &t, t
	}
	name := st.Name
	if name == "" {
		name = fmt.Sprint(i)
	}
	s.tag = fmt.Sprintf("[%s %d/%d]", name, n, total)
	start := time.Now()
	if err := b.initStage(ctx, s, b.baseNames[i]); err != nil {
		return nil, dockerfile.At(f.Name, st.Location, err)
	}
	took := fmt.Sprint(time.Since(start).Round(time.Millisecond))
	if s.waited > time.Millisecond {
		took = fmt.Sprintf("%s, %s of it waiting for its turn in %s", took, s.waited.Round(time.Millisecond), b.opt.Root.Dir)
	}
	b.printf("%s FROM %s (%s)", s.tag, b.baseNames[i], took)

	cmds := st.Commands
	// ONBUILD triggers of the base run first, and are not inherited.
	if triggers := s.cfg.Config.OnBuild; len(triggers) > 0 {
		var pre []instructions.Command
		for _, t := range triggers {
			c, err := dockerfile.ParseInstruction(f.Name, t)
			if err != nil {
				return nil, dockerfile.At(f.Name, st.Location, fmt.Errorf("parsing ONBUILD trigger: %w", err))
			}
			pre = append(pre, c)
		}
		s.cfg.Config.OnBuild = nil
		cmds = append(pre, cmds...)
	}
	for k, c := range cmds {
		start := time.Now()
		s.rest = cmds[k+1:]
		if err := b.dispatch(ctx, s, c); err != nil {
			return nil, dockerfile.At(f.Name, c.Location(), err)
		}
		b.printf("%s STEP %d/%d: %s (%s)", s.tag, k+1, len(cmds), oneLine(stepName(c)), time.Since(start).Round(time.Millisecond))
	}
	return s, nil
}

// runsCommands reports whether stage s has a RUN step, its own or an
// ONBUILD trigger of its base (any trigger counts: they are not parsed yet).
func (b *builder) runsCommands(s *stage) bool {
	if len(s.cfg.Config.OnBuild) > 0 {
		return true
	}
	for _, c := range b.file.Stages[s.index].Commands {
		if _, ok := c.(*instructions.RunCommand); ok {
			return true
		}
	}
	return false
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
func (b *builder) initStage(ctx context.Context, s *stage, base string) error {
	s.root = filepath.Join(b.tmp, fmt.Sprintf("stage-%d", s.index))
	if j, ok := b.file.StageIndex(base); ok && j < s.index {
		parent, err := b.builtStage(ctx, s.index, j)
		if err != nil {
			return err
		}
		s.parent = parent
		s.base, s.baseLayers, s.format = parent.base, parent.baseLayers, parent.format
		s.layers = append([]mutate.Addendum{}, parent.layers...)
		s.history = append([]v1.History{}, parent.history...)
		s.cfg = parent.cfg.DeepCopy()
		s.key = parent.key
	} else {
		p, err := b.stagePlatform(s.index)
		if err != nil {
			return err
		}
		var img v1.Image
		if base == "scratch" {
			img = empty.Image
			s.format = image.Docker
			s.key = cache.Of("scratch", formatPlatform(p))
		} else {
			pull := b.remote
			pull.Platform = p
			if img, err = pull.Pull(b.buildCtx, base); err != nil {
				return err
			}
			if b.store == nil {
				// Without a cache the base is extracted: its layers
				// download while its config is fetched.
				if s.fetch, err = b.fetchImage(ctx, img); err != nil {
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
			s.key = cache.Of("image", d.String(), formatPlatform(p))
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
		if b.upload != nil && b.final[s.index] {
			// The image's base layers: mounted or uploaded while the
			// build goes on, not at the final push.
			ls, err := img.Layers()
			if err != nil {
				return fmt.Errorf("reading layers of %s: %w", base, err)
			}
			for _, l := range ls {
				b.upload.Add(l)
			}
		}
	}
	if f := image.Format(b.opt.Output.ImageFormat); f != "" {
		s.format = f
	}
	s.runEnv = append([]string{}, s.cfg.Config.Env...)
	s.noLayers = b.store == nil && !b.final[s.index]
	if b.opt.Root.Dir != "" {
		if b.runsCommands(s) {
			if b.store == nil && s.parent == nil && base != "scratch" {
				// Its base, extracted while it waits for its turn.
				s.prefetch = b.prefetch(ctx, s)
			}
			if err := b.takeRoot(ctx, s); err != nil {
				return err
			}
			s.root = b.opt.Root.Dir
		} else {
			s.aside = true // its steps need no root of their own: beside it
			b.endTurn(s.index)
		}
	}
	if b.store == nil {
		return b.materialize(ctx, s)
	}
	return nil
}

// stagePlatform is FROM --platform (expanded with the global ARGs) or
// the build's target platform.
func (b *builder) stagePlatform(i int) (v1.Platform, error) {
	p := b.file.Stages[i].Platform
	if p == "" {
		return b.platform, nil
	}
	v, _, err := b.file.Lexer().ProcessWord(p, shell.EnvsFromSlice(b.globalArgs))
	if err != nil {
		return v1.Platform{}, err
	}
	plat, err := remote.ParsePlatform(v)
	if err != nil {
		return v1.Platform{}, fmt.Errorf("FROM --platform=%s: %w", p, err)
	}
	return plat, nil
}

// expander returns the word expander for the stage's current environment.
func (b *builder) expander(s *stage) instructions.SingleWordExpander {
	env := shell.EnvsFromSlice(s.runEnv)
	lex := b.file.Lexer() // a Lex is not safe for concurrent stages
	return func(word string) (string, error) {
		v, _, err := lex.ProcessWord(word, env)
		return v, err
	}
}

func (b *builder) dispatch(ctx context.Context, s *stage, c instructions.Command) error {
	_, isArg := c.(*instructions.ArgCommand) // dispatchArg expands, one at a time
	if e, ok := c.(instructions.SupportsSingleWordExpansion); ok && !isArg {
		if err := e.Expand(b.expander(s)); err != nil {
			return err
		}
	}
	if e, ok := c.(instructions.SupportsSingleWordExpansionRaw); ok {
		if err := e.ExpandRaw(b.expander(s)); err != nil {
			return err
		}
	}
	cfg := &s.cfg.Config
	switch c := c.(type) {
	case *instructions.EnvCommand:
		var parts []string
		for _, kv := range c.Env {
			cfg.Env = setEnv(cfg.Env, kv.Key, kv.Value)
			s.runEnv = setEnv(s.runEnv, kv.Key, kv.Value)
			parts = append(parts, kv.Key+"="+kv.Value)
		}
		s.record("ENV " + strings.Join(parts, " "))
	case *instructions.ArgCommand:
		if err := b.dispatchArg(s, c); err != nil {
			return err
		}
	case *instructions.LabelCommand:
		if cfg.Labels == nil {
			cfg.Labels = map[string]string{}
		}
		var parts []string
		for _, kv := range c.Labels {
			cfg.Labels[kv.Key] = kv.Value
			parts = append(parts, kv.Key+"="+kv.Value)
		}
		s.record("LABEL " + strings.Join(parts, " "))
	case *instructions.MaintainerCommand:
		s.cfg.Author = c.Maintainer
		s.record("MAINTAINER " + c.Maintainer)
	case *instructions.ExposeCommand:
		return b.dispatchExpose(s, c)
	case *instructions.WorkdirCommand:
		return b.dispatchWorkdir(ctx, s, c)
	case *instructions.UserCommand:
		cfg.User = c.User
		s.record("USER " + c.User)
	case *instructions.VolumeCommand:
		if cfg.Volumes == nil {
			cfg.Volumes = map[string]struct{}{}
		}
		for _, v := range c.Volumes {
			if v == "" {
				return fmt.Errorf("VOLUME specified can not be an empty string")
			}
			cfg.Volumes[v] = struct{}{}
		}
		s.record("VOLUME " + fmt.Sprint(c.Volumes))
	case *instructions.ShellCommand:
		cfg.Shell = append([]string{}, c.Shell...)
		s.record("SHELL " + fmt.Sprint(c.Shell))
	case *instructions.StopSignalCommand:
		cfg.StopSignal = c.Signal
		s.record("STOPSIGNAL " + c.Signal)
	case *instructions.HealthCheckCommand:
		h := c.Health
		cfg.Healthcheck = &v1.HealthConfig{
			Test: h.Test, Interval: h.Interval, Timeout: h.Timeout,
			StartPeriod: h.StartPeriod, Retries: h.Retries,
		}
		s.startInterval = h.StartInterval
		// BuildKit's spelling: the whole struct.
		s.record(fmt.Sprintf("HEALTHCHECK %+v", dockerspec.HealthcheckConfig{
			Test: h.Test, Interval: h.Interval, Timeout: h.Timeout,
			StartPeriod: h.StartPeriod, StartInterval: h.StartInterval, Retries: h.Retries,
		}))
	case *instructions.OnbuildCommand:
		// No history entry, as in BuildKit.
		cfg.OnBuild = append(cfg.OnBuild, c.Expression)
	case *instructions.CmdCommand:
		cfg.Cmd = s.withShell(c.ShellDependantCmdLine)
		s.cmdSet = true
		s.record(fmt.Sprintf("CMD %q", cfg.Cmd))
	case *instructions.EntrypointCommand:
		cfg.Entrypoint = s.withShell(c.ShellDependantCmdLine)
		if !s.cmdSet {
			cfg.Cmd = nil
		}
		s.record(fmt.Sprintf("ENTRYPOINT %q", cfg.Entrypoint))
	case *instructions.RunCommand:
		return b.step(ctx, s, stepName(c), s.runHistory(c), func() (cache.Key, error) { return b.runKey(ctx, s, c) },
			func() error { return b.dispatchRun(ctx, s, c) })
	case *instructions.CopyCommand:
		if c.Link && !numericChown(c.Chown) {
			// As BuildKit: a linked layer is made apart from the stage's
			// files, where no /etc/passwd says who a name is.
			return fmt.Errorf("--chown=%s: user and group names can't be resolved when used with --link, use numeric uid[:gid] instead", c.Chown)
		}
		cc := copyCmd{
			SourcesAndDest: c.SourcesAndDest, from: c.From, chown: c.Chown, chmod: c.Chmod,
			excludes: c.ExcludePatterns, parents: c.Parents, text: c.String(),
			history: copyHistory("COPY", c.SourcesAndDest, c.Parents, c.Chown, c.Chmod),
		}
		return b.step(ctx, s, cc.text, cc.history, func() (cache.Key, error) { return b.copyKey(ctx, s, cc) },
			func() error { return b.dispatchCopy(ctx, s, cc) })
	case *instructions.AddCommand:
		cc := copyCmd{
			SourcesAndDest: c.SourcesAndDest, chown: c.Chown, chmod: c.Chmod,
			excludes: c.ExcludePatterns, add: true, checksum: c.Checksum,
			unpack: c.Unpack == nil || *c.Unpack, text: c.String(),
			history: copyHistory("ADD", c.SourcesAndDest, false, c.Chown, c.Chmod),
		}
		return b.step(ctx, s, cc.text, cc.history, func() (cache.Key, error) { return b.copyKey(ctx, s, cc) },
			func() error { return b.dispatchCopy(ctx, s, cc) })
	default:
		return fmt.Errorf("unsupported instruction %s", c.Name())
	}
	return nil
}

// withShell turns a shell-form command line into exec form.
func (s *stage) withShell(c instructions.ShellDependantCmdLine) []string {
	if !c.PrependShell {
		return append([]string{}, c.CmdLine...)
	}
	return append(s.shell(), strings.Join(c.CmdLine, " "))
}

func (s *stage) shell() []string {
	if len(s.cfg.Config.Shell) > 0 {
		return append([]string{}, s.cfg.Config.Shell...)
	}
	return []string{"/bin/sh", "-c"}
}

// dispatchArg declares ARGs: a --build-arg wins over the default, a bare
// ARG inherits the global value, and the value is visible to later steps
// but never stored in the image config.
func (b *builder) dispatchArg(s *stage, c *instructions.ArgCommand) error {
	var parts []string
	for _, kv := range c.Args {
		v, hasValue := b.buildArgs[kv.Key]
		if !hasValue && kv.Value == nil {
			v, hasValue = getEnv(b.globalArgs, kv.Key)
		} else if !hasValue {
			// Expanded here, as BuildKit: "ARG A=1 B=$A" sees A=1, and a
			// default a build arg replaces is never expanded.
			var err error
			if v, _, err = b.file.Lexer().ProcessWord(*kv.Value, shell.EnvsFromSlice(s.runEnv)); err != nil {
				return err
			}
			hasValue = true
		}
		if !s.args[kv.Key] {
			s.argOrder = append(s.argOrder, kv.Key)
		}
		s.args[kv.Key] = true
		if hasValue {
			s.runEnv = setEnv(s.runEnv, kv.Key, v)
			parts = append(parts, kv.Key+"="+v)
		} else {
			parts = append(parts, kv.Key)
		}
	}
	s.record("ARG " + strings.Join(parts, " "))
	return nil
}

func (b *builder) dispatchExpose(s *stage, c *instructions.ExposeCommand) error {
	cfg := &s.cfg.Config
	if cfg.ExposedPorts == nil {
		cfg.ExposedPorts = map[string]struct{}{}
	}
	env := shell.EnvsFromSlice(s.runEnv)
	var all []string
	for _, p := range c.Ports {
		words, err := b.file.Lexer().ProcessWords(p, env)
		if err != nil {
			return err
		}
		for _, w := range words {
			ports, err := expandPorts(w)
			if err != nil {
				return err
			}
			for _, port := range ports {
				cfg.ExposedPorts[port] = struct{}{}
				all = append(all, port)
			}
		}
	}
	s.record(fmt.Sprintf("EXPOSE %v", all))
	return nil
}

// expandPorts turns "80", "80/udp" or "8000-8002/tcp" into port/proto keys.
func expandPorts(spec string) ([]string, error) {
	portPart, proto, ok := strings.Cut(spec, "/")
	if !ok || proto == "" {
		proto = "tcp"
	}
	proto = strings.ToLower(proto)
	lo, hi, isRange := strings.Cut(portPart, "-")
	var a, z int
	if _, err := fmt.Sscanf(lo, "%d", &a); err != nil || fmt.Sprint(a) != lo || a < 0 || a > 65535 {
		return nil, fmt.Errorf("invalid containerPort: %s", portPart)
	}
	z = a
	if isRange {
		if _, err := fmt.Sscanf(hi, "%d", &z); err != nil || fmt.Sprint(z) != hi || z < a || z > 65535 {
			return nil, fmt.Errorf("invalid port range: %s", portPart)
		}
	}
	var out []string
	for p := a; p <= z; p++ {
		out = append(out, fmt.Sprintf("%d/%s", p, proto))
	}
	return out, nil
}

func (b *builder) dispatchWorkdir(ctx context.Context, s *stage, c *instructions.WorkdirCommand) error {
	// As BuildKit: an absolute path is kept as written, a relative one is
	// joined to the current one.
	wd := c.Path
	if !path.IsAbs(wd) {
		cur := s.cfg.Config.WorkingDir
		if cur == "" {
			cur = "/"
		}
		wd = path.Join(cur, wd)
	}
	s.cfg.Config.WorkingDir = wd
	if path.Clean(wd) == "/" {
		s.record("WORKDIR " + wd)
		return nil
	}
	return b.step(ctx, s, "WORKDIR "+wd, "WORKDIR "+wd, func() (cache.Key, error) { return b.workdirKey(s, wd), nil },
		func() error { return b.makeWorkdir(s, wd) })
}

// makeWorkdir creates WORKDIR as BuildKit does: with its parents, owned by
// the current USER.
func (b *builder) makeWorkdir(s *stage, wd string) error {
	var owner *fs.Owner
	if u := s.cfg.Config.User; u != "" {
		uid, gid, err := user.ResolveChown(s.root, u)
		if err != nil {
			return err
		}
		owner = &fs.Owner{UID: int(uid), GID: int(gid)}
	}
	if err := fs.MkdirAll(s.root, wd, owner); err != nil {
		return fmt.Errorf("creating WORKDIR %s: %w", wd, err)
	}
	return b.commit(s, "WORKDIR "+wd)
}

// record adds a history entry for a step that makes no layer.
func (s *stage) record(createdBy string) {
	s.history = append(s.history, v1.History{
		Created: v1.Time{Time: s.created}, CreatedBy: createdBy, Comment: "kaniko-build", EmptyLayer: true,
	})
}

// commit snapshots the stage's root and adds the changes as a layer.
// restored are directories whose times a RUN put back after making and
// removing mount points in them: a new ctime alone is no change there.
func (b *builder) commit(s *stage, createdBy string, restored ...string) error {
	if s.noLayers {
		s.record(createdBy)
		return nil
	}
	start := time.Now()
	cur, err := snapshot.Scan(s.root, b.stageSkip(s))
	if err != nil {
		return err
	}
	scanned := time.Now()
	changes := snapshot.Diff(s.snap, cur)
	if len(restored) > 0 {
		if changes, err = settleRestored(s.root, changes, s.snap, cur, restored); err != nil {
			return err
		}
	}
	s.snap = cur
	s.lastLayer = nil
	if len(changes) == 0 {
		s.record(createdBy)
		return nil
	}
	l, comp, err := b.writeLayer(s, func(w io.Writer) error {
		return snapshot.WriteTar(w, s.root, cur, changes, snapshot.TarOptions{Epoch: s.epoch})
	})
	if err != nil {
		return err
	}
	size, _ := l.Size()
	b.printf("  snapshot: %d paths scanned in %s, %d changed; layer of %.1f MB (%s) in %s",
		len(cur), scanned.Sub(start).Round(time.Millisecond), len(changes), float64(size)/1e6, comp,
		time.Since(scanned).Round(time.Millisecond))
	b.addLayer(s, l, createdBy)
	s.lastLayer = l
	return nil
}

// settleRestored decides the directories a RUN made mount points in and
// put back: one where the command changed something below takes the time
// of the build, as in docker and BuildKit (their mount points were made
// there too); in another, a new ctime alone is no change.
func settleRestored(root string, changes []snapshot.Change, old, cur snapshot.State, dirs []string) ([]snapshot.Change, error) {
	out := changes[:0]
	touched := map[string]bool{}
	for _, c := range changes {
		for _, d := range dirs {
			if strings.HasPrefix(c.Path, d+"/") {
				touched[d] = true
			}
		}
	}
	for _, c := range changes {
		if c.Kind == snapshot.Modified && slices.Contains(dirs, c.Path) && !touched[c.Path] {
			o, n := old[c.Path], cur[c.Path]
			o.Ctime = n.Ctime
			if o == n {
				continue
			}
		}
		out = append(out, c)
	}
	for _, d := range dirs {
		if !touched[d] {
			continue
		}
		host := filepath.Join(root, filepath.FromSlash(d))
		now := time.Now()
		if err := os.Chtimes(host, now, now); err != nil {
			return nil, fmt.Errorf("dating %s: %w", d, err)
		}
		e, err := snapshot.Stat(host)
		if err != nil {
			return nil, err
		}
		cur[d] = e
		if !slices.ContainsFunc(out, func(c snapshot.Change) bool { return c.Path == d }) {
			out = append(out, snapshot.Change{Path: d, Kind: snapshot.Modified})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, nil
}

// writeLayer compresses the tar that write makes into a layer file, with
// the build's compression and the stage's media type.
func (b *builder) writeLayer(s *stage, write func(io.Writer) error) (*image.FileLayer, image.Compression, error) {
	comp := image.Compression(b.opt.Output.Compression)
	if comp == "" {
		comp = image.Gzip
	}
	l, err := image.WriteLayer(b.tmp, comp, b.opt.Output.CompressionLevel, image.LayerMediaType(s.format, comp), write)
	return l, comp, err
}

// addLayer appends a layer made or found for the stage.
func (b *builder) addLayer(s *stage, l v1.Layer, createdBy string) {
	h := v1.History{Created: v1.Time{Time: s.created}, CreatedBy: createdBy, Comment: "kaniko-build"}
	s.layers = append(s.layers, mutate.Addendum{Layer: l, History: h})
	if b.upload != nil && b.final[s.index] {
		b.upload.Add(l) // while the next steps run
	}
	s.history = append(s.history, h)
}

// skip leaves out paths that belong to the container, not the image
// (in-container mode only; nothing is skipped in a stage directory).
func (b *builder) skip(p string) bool {
	return b.ignored.covers(p) || (b.ignoreVarRun && (p == "/var/run" || strings.HasPrefix(p, "/var/run/")))
}

// image assembles the stage's image.
func (s *stage) image() (v1.Image, error) {
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
	if s.startInterval > 0 && cfg.Config.Healthcheck != nil {
		d := s.startInterval
		if img, err = image.WithConfigFields(img, func(c map[string]any) {
			if h, ok := c["Healthcheck"].(map[string]any); ok {
				h["StartInterval"] = int64(d)
			}
		}); err != nil {
			return nil, err
		}
	}
	return img, nil
}

// numericChown tells a --chown of numbers only ("1000", "1000:50"), or
// none.
func numericChown(chown string) bool {
	for _, part := range strings.Split(chown, ":") {
		if _, err := strconv.ParseUint(part, 10, 32); part != "" && err != nil {
			return false
		}
	}
	return true
}
