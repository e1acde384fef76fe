package engine

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/kaniko-build/kaniko-build/engine/buildctx"
	"github.com/kaniko-build/kaniko-build/engine/cache"
	"github.com/kaniko-build/kaniko-build/engine/plan"
	"github.com/kaniko-build/kaniko-build/engine/remote"
	"github.com/kaniko-build/kaniko-build/engine/run"
)

// Result is a finished build.
type Result struct {
	Image  v1.Image
	Digest v1.Hash
	// Pushed lists name@digest per destination.
	Pushed []string
}

// builder holds one build's state.
type builder struct {
	opt      Options
	log      *slog.Logger
	progress io.Writer
	file     *plan.File
	plan     *plan.Plan
	ctx      *buildctx.Context
	remote   remote.Options
	runner   run.Runner
	platform v1.Platform
	tmp      string

	buildArgs map[string]string
	stages    []*stage   // per stage, nil when not built
	mu        sync.Mutex // guards images, uses and cacheDirs across stages
	cacheDirs map[string]*cacheDir
	images    map[string]string // image ref -> extracted root, for COPY --from
	secrets   map[string]string // id -> host file
	ignored   ignoreList        // in-container mode: paths never touched
	// ignoreVarRun keeps /var/run out of snapshots (in-container mode).
	ignoreVarRun bool
	upload       *remote.Uploader // early uploads of the final image's layers
	store        cache.Store      // the layer cache; nil without --cache
	sums         *cache.Sums      // context file keys kept in --cache-dir; nil for none
	sumsFile     string           // where sums are kept
	cacheRun     cacheRun
	// buildCtx lives as long as the build, outputs included: pulled
	// images keep it, since their layers are read again when written out.
	buildCtx context.Context
	// copyAlways turns off layer-only COPYs (copylayer.go), for tests
	// that compare them with real copies.
	copyAlways bool
	uses       map[int]int // stage -> how many later stages read it, counted down
	// done closes per needed stage when it is built or has failed.
	done map[int]chan struct{}
	// turns closes per needed stage when it is done with opt.Root.Dir or
	// will not use it: the stages that RUN take the root one after the
	// other, in build order.
	turns map[int]*turn
	// fetches counts layer downloads under way, which write into tmp.
	fetches sync.WaitGroup
	order   extractOrder // base extractions in the order the build needs them
}

// turn is a stage's turn in opt.Root.Dir; endTurn closes over once.
type turn struct {
	over chan struct{}
	once sync.Once
}

// Build builds the Dockerfile as opt says and writes or pushes the image.
func Build(ctx context.Context, opt Options) (*Result, error) {
	b, err := newBuilder(ctx, opt)
	if err != nil {
		return nil, err
	}
	defer b.removeTemp()
	ctx, cancel := context.WithCancel(ctx)
	defer func() {
		cancel()
		b.fetches.Wait()
		if b.upload != nil {
			b.upload.Close() // before the layer files go
		}
	}()
	start := time.Now()
	var checked chan error
	if !opt.Output.NoPush {
		if len(opt.Output.Destinations) == 0 {
			return nil, errors.New("no --destination given: set one or use --no-push")
		}
		if b.upload, err = b.remote.NewUploader(ctx, opt.Output.Destinations[0]); err != nil {
			return nil, err
		}
		if !opt.Output.SkipPushPermissionCheck {
			// Alongside the build's first steps, which it stops when it
			// fails: a round trip or three saved, the failure as early.
			checked = make(chan error, 1)
			go func() {
				err := b.checkPush(ctx)
				if err != nil {
					cancel()
				}
				checked <- err
			}()
		}
	}
	img, err := b.build(ctx)
	b.cacheRun.puts.Wait()
	// A build that failed on its own does not wait for the check.
	if checked != nil && (err == nil || ctx.Err() != nil) {
		if cerr := <-checked; cerr != nil {
			return nil, cerr
		}
	}
	if err != nil {
		return nil, err
	}
	if err := b.sums.Save(b.sumsFile); err != nil {
		b.log.Warn("keeping the context's file keys failed", "err", err)
	}
	res, err := b.output(ctx, img)
	if err != nil {
		return nil, err
	}
	b.printf("built %s in %s", res.Digest, time.Since(start).Round(time.Millisecond))
	return res, nil
}

// checkPush checks that the destinations take pushes. In the uploader's
// repository the check is an upload that the first blob then uses.
func (b *builder) checkPush(ctx context.Context) error {
	dests := b.opt.Output.Destinations
	if !b.upload.For(dests) {
		return b.remote.CheckPush(ctx, dests)
	}
	if err := b.upload.Check(); err != nil {
		return fmt.Errorf("checking push access to %s: %w", dests[0], err)
	}
	return nil
}

func newBuilder(ctx context.Context, opt Options) (_ *builder, err error) {
	log := opt.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	progress := opt.Progress
	if progress == nil {
		progress = io.Discard
	}
	platform, err := remote.ParsePlatform(opt.Build.Platform)
	if err != nil {
		return nil, fmt.Errorf("--custom-platform=%s: %w", opt.Build.Platform, err)
	}
	if opt.Root.Dir == "/" {
		if opt.Root, err = containerRoot(opt.Root); err != nil {
			return nil, err
		}
	}
	tmp, err := os.MkdirTemp(opt.Root.TempDir, "kaniko-build-")
	if err != nil {
		return nil, fmt.Errorf("creating scratch directory: %w", err)
	}
	defer func() {
		if err != nil {
			os.RemoveAll(tmp)
		}
	}()
	b := &builder{
		opt: opt, log: log, progress: &syncWriter{w: progress}, platform: platform, tmp: tmp,
		images: map[string]string{},
	}
	if b.remote, err = opt.Registry.Options(platform); err != nil {
		return nil, err
	}
	b.remote.Logf = func(format string, args ...any) { log.Warn(fmt.Sprintf(format, args...)) }
	if opt.Cache.Dir != "" {
		b.remote.Images = &remote.ImageCache{Path: filepath.Join(opt.Cache.Dir, "images")}
	}
	if b.buildArgs, err = parseBuildArgs(opt.Build.Args); err != nil {
		return nil, err
	}
	if b.secrets, err = parseSecrets(opt.Build.Secrets, tmp); err != nil {
		return nil, err
	}
	dfPath, err := b.readInputs(ctx)
	if err != nil {
		return nil, err
	}
	return b, b.chooseRunner(dfPath)
}

// readInputs fetches the context and reads and parses the Dockerfile,
// returning the Dockerfile's path.
func (b *builder) readInputs(ctx context.Context) (string, error) {
	git, err := buildctx.ParseGitOptions(b.opt.Context.Git)
	if err != nil {
		return "", err
	}
	src := b.opt.Context.Source
	if src == "" {
		src = "."
	}
	ctxDir, err := buildctx.Fetch(ctx, src, buildctx.FetchOptions{
		TempDir: b.tmp, Git: git, Stdin: b.opt.Context.Stdin, GitPullMethod: b.opt.Context.GitPullMethod,
	})
	if err != nil {
		return "", err
	}
	if ctxDir, err = buildctx.SubPath(ctxDir, b.opt.Context.SubPath); err != nil {
		return "", err
	}
	dfPath := b.opt.Context.Dockerfile
	if dfPath == "" {
		dfPath = "Dockerfile"
	}
	switch {
	case strings.HasPrefix(dfPath, "https://") || strings.HasPrefix(dfPath, "http://"):
		// As Kaniko: a Dockerfile given by URL is downloaded.
		if dfPath, err = downloadDockerfile(dfPath, b.tmp); err != nil {
			return "", fmt.Errorf("--dockerfile: %w", err)
		}
	case !filepath.IsAbs(dfPath) && !fileExists(dfPath):
		// As Kaniko: a relative path is tried as given, then in the context.
		dfPath = filepath.Join(ctxDir, dfPath)
	}
	text, err := os.ReadFile(dfPath)
	if err != nil {
		return "", fmt.Errorf("--dockerfile: %w", err)
	}
	if b.file, err = plan.Parse(filepath.Base(dfPath), text); err != nil {
		return "", err
	}
	if b.ctx, err = buildctx.Open(ctxDir, dfPath); err != nil {
		return "", err
	}
	return dfPath, nil
}

// chooseRunner picks how RUN runs: in a directory of ours, isolated, or
// in the container's own root, leaving alone what is not the image's.
func (b *builder) chooseRunner(dfPath string) (err error) {
	if b.opt.Root.Dir == "/" {
		b.runner = run.Direct{TempDir: b.tmp}
		extra := append([]string{b.ctx.Dir, dfPath}, b.opt.Root.IgnorePaths...)
		b.ignoreVarRun = b.opt.Root.IgnoreVarRun
		// Outputs must survive the build too.
		for _, p := range []string{b.opt.Output.DigestFile, b.opt.Output.ImageURLFile, b.opt.Output.ImagesFile, b.opt.Output.ImageNameDigestFile, b.opt.Output.ImageNameTagDigestFile, b.opt.Output.TarPath, b.opt.Output.OCILayoutPath, b.opt.Cache.Dir} {
			if p != "" {
				extra = append(extra, p)
			}
		}
		if b.ignored, err = containerIgnores(b.opt.Root.KanikoDir, extra); err != nil {
			return err
		}
	} else {
		b.runner = run.Chroot{TempDir: b.tmp}
	}
	return nil
}

// containerRoot checks and completes the options of in-container mode.
func containerRoot(o RootOptions) (RootOptions, error) {
	if !o.Force && !InContainer() {
		return o, errors.New("refusing to build in / outside a container: it would rewrite this machine's root filesystem (use --force only if you mean it)")
	}
	if o.KanikoDir == "" {
		o.KanikoDir = "/kaniko"
	}
	if o.TempDir == "" {
		o.TempDir = filepath.Join(o.KanikoDir, "tmp")
	}
	if err := os.MkdirAll(o.TempDir, 0o755); err != nil {
		return o, fmt.Errorf("creating scratch directory: %w", err)
	}
	emptyTrash(o.TempDir)
	return o, nil
}

// sumsPath is where --cache-dir keeps the content keys of a directory
// context's files, or "" when there is nowhere to keep them or the context
// is made anew for each build (tar, git, URL).
func (b *builder) sumsPath() string {
	c := b.opt.Context.Source
	if b.opt.Cache.Dir == "" || strings.Contains(c, "://") && !strings.HasPrefix(c, "dir://") {
		return ""
	}
	dir, err := filepath.Abs(b.ctx.Dir)
	if err != nil {
		return ""
	}
	sum := sha256.Sum256([]byte(dir))
	return filepath.Join(b.opt.Cache.Dir, "context-sums", hex.EncodeToString(sum[:16]))
}

// trashPrefix names the scratch directories of finished in-container
// builds, left for the next build to delete (see removeTemp).
const trashPrefix = "trash-"

// removeTemp deletes the build's scratch directory. In a container it is
// only renamed: the stages set aside there can hold many thousands of
// files, a container usually ends with its build, and a later build in
// the same container deletes it while it runs (emptyTrash).
func (b *builder) removeTemp() {
	if b.ignored != nil && b.opt.Root.Cleanup {
		os.RemoveAll(b.tmp)
		if err := wipeRoot(b.opt.Root.Dir, b.ignored); err != nil {
			b.log.Warn("cleaning up the root after the build", "err", err)
		}
		return
	}
	if b.ignored != nil {
		// Its files (layers, downloads) go now: few, and deleting them
		// spares writing them out, which the container's end would wait for.
		if ents, err := os.ReadDir(b.tmp); err == nil {
			for _, e := range ents {
				if e.Type().IsRegular() {
					os.Remove(filepath.Join(b.tmp, e.Name()))
				}
			}
		}
		trash := filepath.Join(filepath.Dir(b.tmp), trashPrefix+filepath.Base(b.tmp))
		if os.Rename(b.tmp, trash) == nil {
			return
		}
	}
	os.RemoveAll(b.tmp)
}

// emptyTrash deletes, in the background, what earlier builds in this
// container left in dir.
func emptyTrash(dir string) {
	old, _ := filepath.Glob(filepath.Join(dir, trashPrefix+"*"))
	if len(old) == 0 {
		return
	}
	go func() {
		for _, p := range old {
			os.RemoveAll(p)
		}
	}()
}

// downloadDockerfile fetches a Dockerfile given by URL into dir, named as
// the URL's last path element (errors name the file and line).
func downloadDockerfile(u, dir string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("downloading %s: %s", u, resp.Status)
	}
	base := path.Base(req.URL.Path)
	if base == "/" || base == "." || base == "" {
		base = "Dockerfile"
	}
	sub, err := os.MkdirTemp(dir, "dockerfile-")
	if err != nil {
		return "", err
	}
	p := filepath.Join(sub, base)
	f, err := os.Create(p)
	if err != nil {
		return "", err
	}
	// 16 MiB is far more than any Dockerfile.
	_, err = io.Copy(f, io.LimitReader(resp.Body, 16<<20))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", fmt.Errorf("downloading %s: %w", u, err)
	}
	return p, nil
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

func (b *builder) printf(format string, args ...any) {
	fmt.Fprintf(b.progress, format+"\n", args...)
}

func parseBuildArgs(in []string) (map[string]string, error) {
	out := map[string]string{}
	for _, a := range in {
		k, v, ok := strings.Cut(a, "=")
		if k == "" {
			return nil, fmt.Errorf("--build-arg %q: no name", a)
		}
		if !ok {
			env, set := os.LookupEnv(k)
			if !set {
				continue
			}
			v = env
		}
		out[k] = v
	}
	return out, nil
}

// build runs the needed stages and returns the target's image.
func (b *builder) build(ctx context.Context) (v1.Image, error) {
	var err error
	b.plan, err = plan.New(b.file, plan.Options{
		BuildArgs: b.buildArgs, Target: b.opt.Build.Target,
		Platform: b.platform, BuildPlatform: v1.Platform{OS: runtime.GOOS, Architecture: runtime.GOARCH},
	})
	if err != nil {
		return nil, err
	}
	b.buildCtx = ctx
	if b.opt.Cache.Enabled {
		b.cacheRun.ctx = ctx
		if b.store, err = b.openCache(ctx); err != nil {
			return nil, err
		}
		if b.sumsFile = b.sumsPath(); b.sumsFile != "" {
			b.sums = cache.LoadSums(b.sumsFile, time.Now())
		}
	}
	b.uses = maps.Clone(b.plan.Uses)
	b.stages = make([]*stage, len(b.plan.Stages))
	if err := b.runConcurrently(ctx, b.plan.Needed); err != nil {
		return nil, err
	}
	final := b.stages[b.plan.Target]
	for _, l := range b.opt.Build.Labels {
		k, v, _ := strings.Cut(l, "=")
		if final.cfg.Config.Labels == nil {
			final.cfg.Config.Labels = map[string]string{}
		}
		final.cfg.Config.Labels[k] = v
	}
	return final.image()
}

// openCache opens --cache-repo: an OCI layout (oci:/path) or a registry
// repository, by default the first destination's repository + "/cache".
func (b *builder) openCache(ctx context.Context) (cache.Store, error) {
	ttl := b.opt.Cache.TTL
	if ttl == 0 {
		ttl = 14 * 24 * time.Hour
	}
	repo := b.opt.Cache.Repo
	if p, ok := strings.CutPrefix(repo, "oci:"); ok {
		return &cache.Layout{Path: p, TTL: ttl}, nil
	}
	if repo == "" {
		if len(b.opt.Output.Destinations) == 0 {
			return nil, errors.New("--cache needs --cache-repo or a --destination to keep layers in")
		}
		r, err := b.remote.Parse(b.opt.Output.Destinations[0])
		if err != nil {
			return nil, err
		}
		repo = r.Context().String() + "/cache"
	}
	r, err := b.remote.ParseRepo(repo)
	if err != nil {
		return nil, fmt.Errorf("--cache-repo %q: %w", repo, err)
	}
	opts, err := b.remote.RemoteOptions(ctx, false)
	if err != nil {
		return nil, err
	}
	return &cache.Registry{Repo: r, Options: opts, TTL: ttl}, nil
}
