package engine

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"

	"github.com/kaniko-build/kaniko-build/engine/buildctx"
	"github.com/kaniko-build/kaniko-build/engine/cache"
	"github.com/kaniko-build/kaniko-build/engine/image"
	"github.com/kaniko-build/kaniko-build/engine/plan"
	"github.com/kaniko-build/kaniko-build/engine/progress"
	"github.com/kaniko-build/kaniko-build/engine/publish"
	"github.com/kaniko-build/kaniko-build/engine/remote"
	"github.com/kaniko-build/kaniko-build/engine/rootfs"
	"github.com/kaniko-build/kaniko-build/engine/run"
	"github.com/kaniko-build/kaniko-build/engine/solve"
)

// Result is a finished build.
type Result struct {
	Image  v1.Image
	Digest v1.Hash
	// Pushed lists name@digest per destination.
	Pushed []string
}

// Build builds the Dockerfile as opt says and writes or pushes the image.
func Build(ctx context.Context, opt Options) (_ *Result, err error) {
	start := time.Now()
	if opt.Root.Dir == "/" {
		if opt.Root, err = opt.Root.InContainerMode(); err != nil {
			return nil, err
		}
	}
	if opt.Root.TempDir == "" {
		// A scratch image has no /tmp.
		opt.Root.TempDir = os.TempDir()
		if _, err := os.Stat(opt.Root.TempDir); errors.Is(err, fs.ErrNotExist) {
			if err := os.MkdirAll(opt.Root.TempDir, 0o755); err == nil {
				os.Chmod(opt.Root.TempDir, os.ModeSticky|0o777)
			}
		}
	}
	tmp, err := os.MkdirTemp(opt.Root.TempDir, rootfs.ScratchPrefix)
	if err != nil {
		return nil, fmt.Errorf("creating scratch directory: %w", err)
	}
	cfg := solve.Config{TempDir: tmp, Log: progress.Tee(opt.Log, opt.Progress)}
	defer func() { opt.Root.RemoveTemp(tmp, cfg.Root.Ignored, cfg.Log) }()
	reg, err := configure(ctx, opt, &cfg)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancelCause(ctx)
	var up *remote.Uploader
	var checked chan error
	if !opt.Output.NoPush {
		if len(opt.Output.Destinations) == 0 {
			cancel(nil)
			return nil, errors.New("no --destination given: set one or use --no-push")
		}
		if up, err = reg.NewUploader(ctx, opt.Output.Destinations[0]); err != nil {
			cancel(nil)
			return nil, err
		}
		defer up.Close() // after the solver's downloads, before the layer files go
		cfg.Upload = up
		if !opt.Output.SkipPushPermissionCheck {
			// Alongside the build's first steps, which it stops when it
			// fails: a round trip or three saved, the failure as early.
			checked = make(chan error, 1)
			go func() { checked <- checkPush(ctx, cancel, reg, up, opt.Output.Destinations) }()
		}
	}
	s := solve.New(cfg)
	defer s.Close()
	defer cancel(nil)
	img, err := s.Solve(ctx, func() { cancel(errStageFailed) })
	// A build that failed on its own does not wait for the check.
	if checked != nil && (err == nil || context.Cause(ctx) != errStageFailed) {
		if cerr := <-checked; cerr != nil {
			return nil, cerr
		}
	}
	if err != nil {
		return nil, err
	}
	return finish(ctx, img, opt, cfg, reg, up, start)
}

// finish keeps the context's file keys and writes or pushes the image.
func finish(ctx context.Context, img v1.Image, opt Options, cfg solve.Config, reg remote.Options, up *remote.Uploader, start time.Time) (*Result, error) {
	if err := cfg.Cache.Sums.Save(opt.Cache.SumsPath(opt.Context.Source, cfg.Context.Dir)); err != nil {
		cfg.Log.Warn("keeping the context's file keys failed", "err", err)
	}
	digest, err := img.Digest()
	if err != nil {
		return nil, fmt.Errorf("computing digest: %w", err)
	}
	pushed, err := publish.Write(ctx, img, opt.Output, reg, up, cfg.Log)
	if err != nil {
		return nil, err
	}
	took := time.Since(start)
	cfg.Log.Info(fmt.Sprintf("built %s in %s", digest, took.Round(time.Millisecond)), progress.Event, "built",
		"digest", digest.String(), "duration_ms", took.Milliseconds())
	return &Result{Image: img, Digest: digest, Pushed: pushed}, nil
}

// checkPush checks that the destinations take pushes, and stops the build
// when they do not. In the uploader's repository the check is an upload
// that the first blob then uses.
func checkPush(ctx context.Context, stop context.CancelCauseFunc, reg remote.Options, up *remote.Uploader, dests []string) error {
	var err error
	if !up.For(dests) {
		err = reg.CheckPush(ctx, dests)
	} else if err = up.Check(ctx); err != nil {
		err = fmt.Errorf("checking push access to %s: %w", dests[0], err)
	}
	if err != nil {
		stop(err)
	}
	return err
}

// errStageFailed cancels the build's context when a stage fails.
var errStageFailed = errors.New("a stage failed")

// configure fills cfg from opt: the context, the plan, the registry, the
// cache and the runner. It returns the registry options for the push.
func configure(ctx context.Context, opt Options, cfg *solve.Config) (remote.Options, error) {
	platform, err := remote.ParsePlatform(opt.Build.Platform)
	if err != nil {
		return remote.Options{}, fmt.Errorf("--custom-platform=%s: %w", opt.Build.Platform, err)
	}
	reg, err := opt.Registry.Options(platform)
	if err != nil {
		return reg, err
	}
	reg.Logf = func(format string, args ...any) { cfg.Log.Warn(fmt.Sprintf(format, args...)) }
	reg.Progress = func(done, total int64) {
		cfg.Log.Info(fmt.Sprintf("  pushing: %.1f of %.1f MB", float64(done)/1e6, float64(total)/1e6),
			progress.Event, "push", "bytes", done, "total", total)
	}
	if opt.Cache.Dir != "" {
		reg.Images = &remote.ImageCache{Path: filepath.Join(opt.Cache.Dir, "images"), TTL: opt.Cache.TTL}
	}
	args, err := plan.ParseBuildArgs(opt.Build.Args, os.LookupEnv)
	if err != nil {
		return reg, err
	}
	var secretFiles []string
	if cfg.Secrets, secretFiles, err = solve.ParseSecrets(opt.Build.Secrets, os.LookupEnv); err != nil {
		return reg, err
	}
	var dockerfile string
	var text []byte
	if cfg.Context, dockerfile, text, err = buildctx.Load(ctx, opt.Context, cfg.TempDir); err != nil {
		return reg, err
	}
	f, err := plan.Parse(filepath.Base(dockerfile), text)
	if err != nil {
		return reg, err
	}
	here := v1.Platform{OS: runtime.GOOS, Architecture: runtime.GOARCH}
	if cfg.Plan, err = plan.New(f, plan.Options{BuildArgs: args, Target: opt.Build.Target, Platform: platform, BuildPlatform: here}); err != nil {
		return reg, err
	}
	if uid := os.Geteuid(); uid != 0 {
		if err := refuseRuns(cfg.Plan, uid); err != nil {
			return reg, err
		}
	}
	// After the refusal, which a run in a user namespace may follow: the
	// credentials are still there for it.
	if opt.Build.ConsumeCredentials {
		if err := consumeCredentials(&reg, secretFiles, cfg.Log); err != nil {
			return reg, err
		}
	}
	cfg.Registry = registry{reg}
	cfg.Image = solve.ImageOptions{
		Compression: image.Compression(opt.Output.Compression), Level: opt.Output.CompressionLevel,
		Format: image.Format(opt.Output.ImageFormat), Reproducible: opt.Build.Reproducible, Labels: opt.Build.Labels,
	}
	cfg.CacheDir = opt.Cache.Dir
	c := opt.Cache
	cfg.Cache = solve.Cache{RunLayers: c.RunLayers, CopyLayers: c.CopyLayers, ReadOnly: c.NoPush}
	if cfg.Cache.Store, err = c.Open(ctx, reg, opt.Output.Destinations); err != nil {
		return reg, err
	}
	if p := c.SumsPath(opt.Context.Source, cfg.Context.Dir); p != "" {
		cfg.Cache.Sums = cache.LoadSums(p, time.Now())
	}
	return reg, chooseRunner(opt, dockerfile, cfg)
}

// consumeCredentials reads the docker config into reg's keychain and
// deletes it and the secret files, all already read: no RUN finds them.
func consumeCredentials(reg *remote.Options, secretFiles []string, log *slog.Logger) error {
	kc, files, err := remote.LoadKeychain(reg.DockerConfig)
	if err != nil {
		return fmt.Errorf("--consume-credentials: %w", err)
	}
	reg.Keychain = kc
	for _, f := range append(files, secretFiles...) {
		if err := os.Remove(f); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("--consume-credentials: removing %s (mount it writable, or copy it to a writable directory first): %w", f, err)
		}
		log.Info("removed "+f+" (--consume-credentials)", progress.Event, "consumed", "file", f)
	}
	return nil
}

// registry pulls for the platform each stage asks for.
type registry struct{ remote.Options }

func (r registry) Pull(ctx context.Context, ref string, p v1.Platform) (v1.Image, error) {
	o := r.Options
	o.Platform = p
	return o.Pull(ctx, ref)
}

// ErrNeedsRoot is in the error of a build that has a RUN and no root: the
// caller may run it again as root in a user namespace of its own.
var ErrNeedsRoot = errors.New("a RUN needs root")

// noRootRun says why a build without root runs no RUN, and what to do.
func noRootRun(uid int) string {
	return fmt.Sprintf("the executor runs as user %d, without root or a user namespace of its own, and builds only what copies files "+
		"and sets metadata (FROM, COPY, ADD, COPY --from, ENV, USER, ...); run it as root, in a pod with hostUsers: false "+
		"to keep root off the node", uid)
}

// refuseRuns fails a build without root that has a RUN in a stage it
// needs, before anything is pulled.
func refuseRuns(p *plan.Plan, uid int) error {
	for _, i := range p.Needed {
		for _, c := range p.File.Stages[i].Commands {
			if r, ok := c.(*instructions.RunCommand); ok {
				return plan.At(p.File.Name, r.Location(), fmt.Errorf("RUN %s: %w: %s", strings.Join(r.CmdLine, " "), ErrNeedsRoot, noRootRun(uid)))
			}
		}
	}
	return nil
}

// chooseRunner picks how RUN runs: in a directory of ours, isolated, or
// in the container's own root, leaving alone what is not the image's.
// Without root, no RUN runs: only ONBUILD triggers reach the runner.
func chooseRunner(opt Options, dockerfile string, cfg *solve.Config) (err error) {
	defer func() {
		if uid := os.Geteuid(); uid != 0 && err == nil {
			cfg.Runner = run.Refuse{Err: ErrNeedsRoot, Reason: noRootRun(uid)}
		}
	}()
	if opt.Root.Dir != "/" {
		hint := "the executor is in chroot mode, as it runs outside a container; there RUN needs root (CAP_SYS_ADMIN)"
		if rootfs.InContainer() {
			kaniko := opt.Root.KanikoDir
			if kaniko == "" {
				kaniko = "/kaniko"
			}
			hint = fmt.Sprintf("the executor is in chroot mode, as it is not installed as %s/executor; "+
				"to build in the container's own root (in-container mode, as Kaniko), which needs no new namespaces, "+
				"run it from there or set --kaniko-dir to its directory", filepath.Clean(kaniko))
		}
		cfg.Runner = run.Chroot{TempDir: cfg.TempDir, Hint: hint}
		return nil
	}
	cfg.Runner = run.Direct{TempDir: cfg.TempDir}
	cfg.Root = solve.Root{Dir: "/", IgnoreVarRun: opt.Root.IgnoreVarRun}
	extra := append([]string{cfg.Context.Dir, dockerfile}, opt.Root.IgnorePaths...)
	// The container's own /var/run (in a pod it holds the service account's
	// mount) stays, as Kaniko leaves it: a base's /var/run -> /run link
	// cannot replace it.
	if fi, err := os.Lstat("/var/run"); err == nil && fi.IsDir() && opt.Root.IgnoreVarRun {
		extra = append(extra, "/var/run")
	}
	// Outputs must survive the build too.
	o := opt.Output
	for _, p := range []string{o.DigestFile, o.ImageURLFile, o.ImagesFile, o.ImageNameDigestFile, o.ImageNameTagDigestFile, o.TarPath, o.OCILayoutPath, opt.Cache.Dir} {
		if p != "" {
			extra = append(extra, p)
		}
	}
	cfg.Root.Ignored, err = rootfs.Ignores(opt.Root.KanikoDir, extra)
	return err
}
