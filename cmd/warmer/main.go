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
	"strings"
	"syscall"

	"github.com/moby/buildkit/frontend/dockerfile/shell"
	"github.com/spf13/pflag"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/kaniko-build/kaniko-build/engine/dockerfile"
	"github.com/kaniko-build/kaniko-build/engine/remote"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := Main(ctx, os.Args[1:], os.Stderr)
	stop()
	os.Exit(code)
}

// Main runs the warmer and returns its exit code.
func Main(ctx context.Context, args []string, stderr io.Writer) int {
	fs := pflag.NewFlagSet("warmer", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	images := fs.StringArrayP("image", "i", nil, "image to pull into the cache (repeatable)")
	df := fs.StringP("dockerfile", "d", "", "also pull the base images this Dockerfile names")
	buildArgs := fs.StringArray("build-arg", nil, "KEY=VALUE for ARGs used in FROM lines (repeatable)")
	cacheDir := fs.StringP("cache-dir", "c", "/cache", "the cache directory the executor is given as --cache-dir")
	platform := fs.String("custom-platform", "", "platform os/arch[/variant] to pull")
	insecure := fs.StringArray("insecure-registry", nil, "registry reached over plain HTTP (repeatable)")
	insecurePull := fs.Bool("insecure-pull", false, "pull over plain HTTP")
	skipTLS := fs.Bool("skip-tls-verify-pull", false, "do not verify TLS certificates")
	retry := fs.Int("image-download-retry", 0, "retries of a failed request (default 5)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return 0
		}
		fmt.Fprintf(stderr, "error: %v\n", err)
		return 2
	}
	p := v1.Platform{OS: runtime.GOOS, Architecture: runtime.GOARCH}
	if *platform != "" {
		parts := strings.Split(*platform, "/")
		if len(parts) < 2 {
			fmt.Fprintf(stderr, "error: --custom-platform=%s: want os/arch[/variant]\n", *platform)
			return 2
		}
		p.OS, p.Architecture = parts[0], parts[1]
		if len(parts) > 2 {
			p.Variant = parts[2]
		}
	}
	refs := append([]string{}, *images...)
	if *df != "" {
		more, err := baseImages(*df, *buildArgs)
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
	o := remote.Options{InsecurePull: *insecurePull, InsecureRegistries: *insecure,
		TLS: remote.TLSOptions{SkipVerifyPull: *skipTLS}, Retries: *retry, Platform: p}.Shared()
	store := &remote.ImageCache{Path: filepath.Join(*cacheDir, "images")}
	for _, ref := range refs {
		img, err := o.Pull(ctx, ref)
		if err != nil {
			fmt.Fprintf(stderr, "error: %v\n", err)
			return 1
		}
		if err := store.Put(ref, p, img); err != nil {
			fmt.Fprintf(stderr, "error: caching %s: %v\n", ref, err)
			return 1
		}
		d, _ := img.Digest()
		fmt.Fprintf(stderr, "cached %s (%s)\n", ref, d)
	}
	return 0
}

// baseImages lists the images a Dockerfile's stages are built FROM.
func baseImages(path string, buildArgs []string) ([]string, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--dockerfile: %w", err)
	}
	f, err := dockerfile.Parse(filepath.Base(path), src)
	if err != nil {
		return nil, err
	}
	args := map[string]string{}
	for _, a := range buildArgs {
		k, v, _ := strings.Cut(a, "=")
		args[k] = v
	}
	var env []string
	for _, cmd := range f.MetaArgs {
		for _, kv := range cmd.Args {
			if v, ok := args[kv.Key]; ok {
				env = append(env, kv.Key+"="+v)
			} else if kv.Value != nil {
				v, _, err := f.Lexer().ProcessWord(*kv.Value, shell.EnvsFromSlice(env))
				if err != nil {
					return nil, err
				}
				env = append(env, kv.Key+"="+v)
			}
		}
	}
	var out []string
	for i, st := range f.Stages {
		name, _, err := f.Lexer().ProcessWord(st.BaseName, shell.EnvsFromSlice(env))
		if err != nil {
			return nil, err
		}
		if j, ok := f.StageIndex(name); (ok && j < i) || name == "scratch" {
			continue
		}
		out = append(out, name)
	}
	return out, nil
}
