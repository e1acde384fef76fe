// Command warmer pulls base images into a --cache-dir ahead of builds, as
// Kaniko's warmer does; the executor, given the same --cache-dir, takes
// them from there without asking a registry.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/spf13/pflag"

	"github.com/kaniko-build/kaniko-build/cmd/internal/logflags"
	"github.com/kaniko-build/kaniko-build/engine/plan"
	"github.com/kaniko-build/kaniko-build/engine/remote"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := Main(ctx, os.Args[1:], os.Stderr)
	stop()
	os.Exit(code)
}

// config is the parsed command line.
type config struct {
	remote     remote.Options // the executor's, from the same flags
	images     []string
	dockerfile string
	buildArgs  []string
	cacheDir   string
	force      bool
}

// parseArgs parses the command line. The registry and logging flags are
// the executor's own (remote.RegistryOptions, logflags); the others are
// Kaniko's warmer's, shorthands included.
func parseArgs(args []string, stderr io.Writer) (*config, error) {
	fs := pflag.NewFlagSet("warmer", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		c    config
		reg  remote.RegistryOptions
		logs logflags.Flags
	)
	reg.AddFlags(fs)
	logs.AddFlags(fs)
	fs.StringArrayVarP(&c.images, "image", "i", nil, "image to pull into the cache (repeatable)")
	fs.StringVarP(&c.dockerfile, "dockerfile", "d", "", "also pull the base images this Dockerfile names")
	fs.StringArrayVar(&c.buildArgs, "build-arg", nil, "KEY=VALUE for ARGs used in FROM lines (repeatable)")
	fs.StringVarP(&c.cacheDir, "cache-dir", "c", "/cache", "the cache directory the executor is given as --cache-dir")
	platform := fs.String("custom-platform", "", "platform os/arch[/variant] to pull")
	fs.BoolVarP(&c.force, "force", "f", false, "store an image even when the cache already holds the registry's current one")
	fs.Duration("cache-ttl", 14*24*time.Hour, "accepted for Kaniko compatibility; an image is pulled again when the registry's digest changes, whatever its age")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	log, err := logs.Logger(stderr)
	if err != nil {
		return nil, err
	}
	p, err := remote.ParsePlatform(*platform)
	if err != nil {
		return nil, fmt.Errorf("--custom-platform=%s: %w", *platform, err)
	}
	if err := reg.Finish(); err != nil {
		return nil, err
	}
	if c.remote, err = reg.Options(p); err != nil {
		return nil, err
	}
	c.remote.Logf = func(format string, args ...any) { log.Warn(fmt.Sprintf(format, args...)) }
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
		return 2
	}
	refs := c.images
	if c.dockerfile != "" {
		more, err := baseImages(c.dockerfile, c.buildArgs, c.remote.Platform)
		if err != nil {
			fmt.Fprintf(stderr, "error: %v\n", err)
			return 1
		}
		refs = append(refs, more...)
	}
	if len(refs) == 0 {
		fmt.Fprintln(stderr, "error: nothing to warm: give --image or --dockerfile")
		return 2
	}
	p := c.remote.Platform
	store := &remote.ImageCache{Path: filepath.Join(c.cacheDir, "images")}
	for _, ref := range refs {
		img, err := c.remote.Pull(ctx, ref)
		if err != nil {
			fmt.Fprintf(stderr, "error: %v\n", err)
			return 1
		}
		d, err := img.Digest()
		if err != nil {
			fmt.Fprintf(stderr, "error: pulling %s: %v\n", ref, err)
			return 1
		}
		// As Kaniko's warmer: the registry's current image, when cached,
		// is left as it is (without --force).
		if !c.force && cachedDigest(store, ref, p) == d {
			fmt.Fprintf(stderr, "already cached %s (%s)\n", ref, d)
			continue
		}
		if err := store.Put(ref, p, img); err != nil {
			fmt.Fprintf(stderr, "error: caching %s: %v\n", ref, err)
			return 1
		}
		fmt.Fprintf(stderr, "cached %s (%s)\n", ref, d)
	}
	return 0
}

// cachedDigest is the digest of ref's image in the cache, or the zero
// hash when there is none or it cannot be read (then it is stored anew).
func cachedDigest(store *remote.ImageCache, ref string, p v1.Platform) v1.Hash {
	img, err := store.Get(ref, p)
	if err != nil || img == nil {
		return v1.Hash{}
	}
	d, err := img.Digest()
	if err != nil {
		return v1.Hash{}
	}
	return d
}

// baseImages lists the images a Dockerfile's stages are built FROM.
func baseImages(path string, buildArgs []string, platform v1.Platform) ([]string, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--dockerfile: %w", err)
	}
	f, err := plan.Parse(filepath.Base(path), src)
	if err != nil {
		return nil, err
	}
	args := map[string]string{}
	for _, a := range buildArgs {
		k, v, _ := strings.Cut(a, "=")
		args[k] = v
	}
	p, err := plan.New(f, plan.Options{
		BuildArgs: args, Platform: platform,
		BuildPlatform: v1.Platform{OS: runtime.GOOS, Architecture: runtime.GOARCH},
	})
	if err != nil {
		return nil, err
	}
	var out []string
	for _, s := range p.Stages {
		if s.Parent < 0 && s.Base != "scratch" && !slices.Contains(out, s.Base) {
			out = append(out, s.Base)
		}
	}
	return out, nil
}
