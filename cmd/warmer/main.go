// Command warmer pulls base images into a --cache-dir ahead of builds, as
// Kaniko's warmer does; the executor, given the same --cache-dir, takes
// them from there without asking a registry.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/spf13/pflag"

	"github.com/kaniko-build/kaniko-build/cmd/internal/logflags"
	"github.com/kaniko-build/kaniko-build/engine/plan"
	"github.com/kaniko-build/kaniko-build/engine/progress"
	"github.com/kaniko-build/kaniko-build/engine/remote"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := Main(ctx, os.Args[1:], os.Stderr)
	stop()
	os.Exit(code)
}

// Exit codes.
const (
	exitFailed = 1 // no image could be cached
	exitUsage  = 2 // bad flags
)

// config is the parsed command line.
type config struct {
	remote     remote.Options // the executor's, from the same flags
	logs       logflags.Flags // the executor's logging flags
	log        *slog.Logger   // made from logs
	images     []string
	dockerfile string
	buildArgs  []string
	cacheDir   string
	cacheTTL   time.Duration
	force      bool
}

// newFlagSet declares the warmer's flags, Kaniko's warmer's (names,
// shorthands, defaults), binding them into c. The registry and logging
// flags are the executor's own (remote.RegistryOptions into reg,
// logflags into c.logs).
func newFlagSet(c *config, reg *remote.RegistryOptions, platform *string) *pflag.FlagSet {
	fs := pflag.NewFlagSet("warmer", pflag.ContinueOnError)
	reg.AddFlags(fs)
	c.logs.AddFlags(fs)
	// Taken, as Kaniko's warmer does not, but only pushes heed them.
	_ = fs.MarkHidden("insecure")
	_ = fs.MarkHidden("skip-tls-verify")
	fs.StringArrayVarP(&c.images, "image", "i", nil, "image to pull into the cache (repeatable)")
	fs.StringVarP(&c.cacheDir, "cache-dir", "c", "/cache", "the cache directory the executor is given as --cache-dir")
	fs.BoolVarP(&c.force, "force", "f", false, "store every image again, even when the cache holds the registry's current one, downloading any of its blobs found damaged")
	fs.DurationVar(&c.cacheTTL, "cache-ttl", 14*24*time.Hour, "an image cached longer ago than this is stored again, even when the registry's is the same")
	fs.StringVar(platform, "custom-platform", "", "platform os/arch[/variant] or os/arch:osversion to pull (default: this machine's; Kaniko's warmer spells it --customPlatform, also accepted)")
	fs.StringVarP(&c.dockerfile, "dockerfile", "d", "", "also pull the base images of this Dockerfile's stages: a path or an http(s):// URL")
	fs.StringArrayVar(&c.buildArgs, "build-arg", nil, "KEY=VALUE, or KEY to take the value from the environment, for the Dockerfile's ARGs (repeatable)")
	// Where Kaniko's warmer spells a flag unlike its executor, both
	// spellings are taken; ours, the executor's, is the one shown.
	fs.SetNormalizeFunc(func(_ *pflag.FlagSet, name string) pflag.NormalizedName {
		if name == "customPlatform" {
			name = "custom-platform"
		}
		return pflag.NormalizedName(name)
	})
	return fs
}

// parseArgs parses the command line; errors name the flag.
func parseArgs(args []string, stderr io.Writer) (*config, error) {
	var (
		c        config
		reg      remote.RegistryOptions
		platform string
	)
	fs := newFlagSet(&c, &reg, &platform)
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	var err error
	if c.log, err = c.logs.Logger(stderr); err != nil {
		return nil, err
	}
	if len(c.images) == 0 && c.dockerfile == "" {
		return nil, errors.New("nothing to warm: give --image or --dockerfile")
	}
	p, err := remote.ParsePlatform(platform)
	if err != nil {
		return nil, fmt.Errorf("--custom-platform=%s: %w", platform, err)
	}
	if err := reg.Finish(); err != nil {
		return nil, err
	}
	if c.remote, err = reg.Options(p); err != nil {
		return nil, err
	}
	c.remote.Logf = func(format string, args ...any) { c.log.Warn(fmt.Sprintf(format, args...)) }
	return &c, nil
}

// Main runs the warmer and returns its exit code.
func Main(ctx context.Context, args []string, stderr io.Writer) int {
	c, err := parseArgs(args, stderr)
	if errors.Is(err, pflag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "error: %v\n", err)
		return exitUsage
	}
	if err := c.warm(ctx); err != nil {
		c.logs.Fail(stderr, c.log, err)
		return exitFailed
	}
	return 0
}

// target is an image to cache, for a platform.
type target struct {
	ref      string
	platform v1.Platform
}

// warm caches every --image, then every base of --dockerfile. As Kaniko's
// warmer, it fails only when none could be cached; the others' failures
// are warnings.
func (c *config) warm(ctx context.Context) error {
	var todo []target
	for _, ref := range c.images {
		todo = append(todo, target{ref, c.remote.Platform})
	}
	if c.dockerfile != "" {
		more, err := c.baseImages(ctx)
		if err != nil {
			return err
		}
		todo = append(todo, more...)
		c.log.Debug(fmt.Sprintf("%s: %d base image(s)", c.dockerfile, len(more)), "dockerfile", c.dockerfile)
	}
	store := &remote.ImageCache{Path: filepath.Join(c.cacheDir, "images")}
	var errs []error
	done := map[string]bool{}
	for _, t := range todo {
		key := t.ref + "|" + plan.FormatPlatform(t.platform) + ":" + t.platform.OSVersion
		if done[key] {
			continue
		}
		done[key] = true
		if err := c.warmOne(ctx, store, t); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) == len(done) {
		return errors.Join(errs...)
	}
	for _, err := range errs {
		c.log.Warn(err.Error(), progress.Event, "warm-failed")
	}
	return nil
}

// warmOne caches t's image: as Kaniko's warmer, the registry's current
// image is left as it is when the cache holds it already, unless --force
// or, unlike Kaniko's (its issue 928: there an expired image is left as
// well), it was cached longer ago than --cache-ttl. Stored again, its
// blobs are checked, and a damaged one is downloaded anew.
func (c *config) warmOne(ctx context.Context, store *remote.ImageCache, t target) error {
	o := c.remote
	o.Platform = t.platform
	c.log.Debug("pulling "+t.ref, "image", t.ref, "platform", plan.FormatPlatform(t.platform))
	img, err := o.Pull(ctx, t.ref)
	if err != nil {
		return err
	}
	d, err := img.Digest()
	if err != nil {
		return fmt.Errorf("pulling %s: %w", t.ref, err)
	}
	// An unreadable cache entry is as none: the image is stored anew.
	old, _ := store.Lookup(t.ref, t.platform)
	msg := fmt.Sprintf("cached %s (%s)", t.ref, d)
	put := store.Put
	switch {
	case old == nil:
	case old.Digest != d:
		msg += ", replacing " + old.Digest.String()
	case c.force:
		msg, put = msg+" again: --force", store.Replace
	case time.Since(old.Stored) >= c.cacheTTL:
		msg, put = msg+fmt.Sprintf(" again: cached longer ago than --cache-ttl=%s", c.cacheTTL), store.Replace
	default:
		c.log.Info(fmt.Sprintf("already cached %s (%s)", t.ref, d), progress.Event, "already-cached",
			"image", t.ref, "platform", plan.FormatPlatform(t.platform), "digest", d.String())
		return nil
	}
	if err := put(t.ref, t.platform, img); err != nil {
		return fmt.Errorf("caching %s: %w", t.ref, err)
	}
	c.log.Info(msg, progress.Event, "cached", "image", t.ref, "platform", plan.FormatPlatform(t.platform), "digest", d.String())
	return nil
}

// baseImages lists the images --dockerfile's stages are built FROM, each
// for its stage's platform (FROM --platform, else --custom-platform).
func (c *config) baseImages(ctx context.Context) ([]target, error) {
	src, err := readDockerfile(ctx, c.dockerfile)
	if err != nil {
		return nil, fmt.Errorf("--dockerfile: %w", err)
	}
	f, err := plan.Parse(filepath.Base(c.dockerfile), src)
	if err != nil {
		return nil, err
	}
	args, err := plan.ParseBuildArgs(c.buildArgs, os.LookupEnv)
	if err != nil {
		return nil, err
	}
	p, err := plan.New(f, plan.Options{
		BuildArgs: args, Platform: c.remote.Platform,
		BuildPlatform: v1.Platform{OS: runtime.GOOS, Architecture: runtime.GOARCH},
	})
	if err != nil {
		return nil, err
	}
	var out []target
	for _, s := range p.Stages {
		if s.Parent < 0 && s.Base != "scratch" {
			out = append(out, target{s.Base, s.Platform})
		}
	}
	return out, nil
}

// readDockerfile reads a Dockerfile from a path or, as Kaniko's warmer,
// an http(s):// URL.
func readDockerfile(ctx context.Context, p string) ([]byte, error) {
	if !strings.HasPrefix(p, "https://") && !strings.HasPrefix(p, "http://") {
		return os.ReadFile(p)
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("downloading %s: %s", p, resp.Status)
	}
	// 16 MiB is far more than any Dockerfile.
	return io.ReadAll(io.LimitReader(resp.Body, 16<<20))
}
