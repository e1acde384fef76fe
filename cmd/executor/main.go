// Command executor builds a Dockerfile into an image without a daemon. Its
// flags are Kaniko's, so pipelines can switch images without changes.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/spf13/pflag"

	"github.com/kaniko-build/kaniko-build/engine"
	"github.com/kaniko-build/kaniko-build/engine/run"
)

// Exit codes.
const (
	exitBuild = 1 // the build failed
	exitUsage = 2 // bad flags
)

func main() {
	run.Init()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := Main(ctx, os.Args[1:], os.Stderr)
	stop()
	os.Exit(code)
}

// flags are the command line, bound into engine.Options.
type flags struct {
	opt         engine.Options
	verbosity   string
	logFormat   string
	compression string
	level       int
	format      string

	extractRetry  int
	registryMap   []string
	registryCerts []string
	clientCerts   []string
}

func newFlagSet(f *flags) *pflag.FlagSet {
	fs := pflag.NewFlagSet("executor", pflag.ContinueOnError)
	o := &f.opt
	fs.StringVarP(&o.Context, "context", "c", "/workspace/", "build context: a directory, dir://path, tar://path.tar.gz, tar://stdin, git://host/repo.git#ref, or https://.../context.tar.gz")
	fs.StringVar(&o.ContextSubPath, "context-sub-path", "", "directory inside the context to build from")
	fs.StringVar(&o.Git, "git", "", "git context options: branch=NAME,single-branch=BOOL,recurse-submodules=BOOL,insecure-skip-tls=BOOL")
	fs.StringVarP(&o.Dockerfile, "dockerfile", "f", "Dockerfile", "path to the Dockerfile, relative paths tried as given, then in the context")
	fs.StringArrayVarP(&o.Destinations, "destination", "d", nil, "image reference to push to (repeatable)")
	fs.BoolVar(&o.NoPush, "no-push", false, "build without pushing")
	fs.StringVar(&o.TarPath, "tar-path", "", "write the image as a tarball (docker load format) to this path")
	fs.StringVar(&o.OCILayoutPath, "oci-layout-path", "", "write the image into an OCI image layout directory")
	fs.StringVar(&o.DigestFile, "digest-file", "", "write the image digest (sha256:...) to this file")
	fs.StringVar(&o.ImageNameDigestFile, "image-name-with-digest-file", "", "write repo@digest of each destination to this file")
	fs.StringVar(&o.ImageNameTagDigestFile, "image-name-tag-with-digest-file", "", "write repo:tag@digest of each destination to this file")
	fs.StringArrayVar(&o.BuildArgs, "build-arg", nil, "KEY=VALUE, or KEY to take the value from the environment (repeatable)")
	fs.StringVar(&o.Target, "target", "", "stage to build (default: the last)")
	fs.StringArrayVar(&o.Labels, "label", nil, "KEY=VALUE label for the image (repeatable)")
	fs.StringVar(&o.Platform, "custom-platform", "", "target platform os/arch[/variant]")
	fs.BoolVar(&o.Reproducible, "reproducible", false, "strip timestamps: the same inputs give the same digest")
	fs.BoolVar(&o.Insecure, "insecure", false, "push over plain HTTP")
	fs.BoolVar(&o.InsecurePull, "insecure-pull", false, "pull over plain HTTP")
	fs.StringArrayVar(&o.InsecureRegistries, "insecure-registry", nil, "registry reached over plain HTTP (repeatable)")
	fs.BoolVar(&o.SkipTLSVerify, "skip-tls-verify", false, "do not verify TLS certificates when pushing")
	fs.BoolVar(&o.SkipTLSVerifyPull, "skip-tls-verify-pull", false, "do not verify TLS certificates when pulling")
	fs.IntVar(&o.PushRetry, "push-retry", 0, "times to retry a failed registry request (default 5)")
	fs.IntVar(&f.extractRetry, "image-fs-extract-retry", 0, "times to retry pulling a base image layer (default: as --push-retry)")
	fs.StringArrayVar(&o.SkipTLSVerifyRegistries, "skip-tls-verify-registry", nil, "registry whose TLS certificate is not verified (repeatable)")
	fs.StringArrayVar(&o.RegistryMirrors, "registry-mirror", nil, "mirror tried before Docker Hub (repeatable)")
	fs.StringArrayVar(&f.registryMap, "registry-map", nil, "REGISTRY=MIRROR[;MIRROR...]: mirrors tried before REGISTRY (repeatable)")
	fs.StringArrayVar(&f.registryCerts, "registry-certificate", nil, "REGISTRY=CA-FILE: trust this CA bundle for REGISTRY (repeatable)")
	fs.StringArrayVar(&f.clientCerts, "registry-client-cert", nil, "REGISTRY=CERT-FILE,KEY-FILE: client certificate for REGISTRY (repeatable)")
	fs.StringVar(&f.compression, "compression", "gzip", "layer compression: gzip or zstd")
	fs.IntVar(&f.level, "compression-level", -1, "compression level (-1: the compressor's default)")
	fs.StringVar(&f.format, "image-format", "", "manifest format: docker or oci (default: the base image's)")
	fs.StringArrayVar(&o.Secrets, "secret", nil, "id=ID,src=FILE (or env=VAR) secret for RUN --mount=type=secret (repeatable)")
	fs.StringVar(&o.CacheDir, "cache-dir", "", "directory keeping RUN --mount=type=cache contents between builds")
	fs.BoolVar(&o.Force, "force", false, "build in / even outside a container (it rewrites the root filesystem)")
	fs.StringArrayVar(&o.IgnorePaths, "ignore-path", nil, "path the in-container build leaves alone and keeps out of layers (repeatable)")
	fs.StringVar(&o.KanikoDir, "kaniko-dir", "/kaniko", "the executor's own directory, never part of the image")
	fs.StringVar(&f.verbosity, "verbosity", "info", "log level: panic, fatal, error, warn, info, debug or trace")
	fs.StringVar(&f.logFormat, "log-format", "text", "log format: text, color or json")
	return fs
}

// Main runs the executor with args and returns the exit code.
func Main(ctx context.Context, args []string, stderr io.Writer) int {
	var f flags
	fs := newFlagSet(&f)
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return 0
		}
		fmt.Fprintf(stderr, "error: %v\n", err)
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "error: unexpected arguments %q (every option is a flag)\n", fs.Args())
		return exitUsage
	}
	log, err := newLogger(stderr, f.verbosity, f.logFormat)
	if err != nil {
		fmt.Fprintf(stderr, "error: %v\n", err)
		return exitUsage
	}
	if err := f.finish(); err != nil {
		fmt.Fprintf(stderr, "error: %v\n", err)
		return exitUsage
	}
	f.opt.Log = log
	f.opt.Progress = stderr
	f.opt.Stdin = os.Stdin
	f.opt.GitPullMethod = os.Getenv("GIT_PULL_METHOD")
	// Installed as <kaniko-dir>/executor, as in our image, the build runs in
	// the container's own root; anywhere else it builds in a directory.
	if exe, err := os.Executable(); err == nil && filepath.Dir(exe) == filepath.Clean(f.opt.KanikoDir) {
		f.opt.RootDir = "/"
	}
	res, err := engine.Build(ctx, f.opt)
	if err != nil {
		fmt.Fprintf(stderr, "error: %v\n", err)
		return exitBuild
	}
	_ = res
	return 0
}

// finish checks flag values that pflag cannot.
func (f *flags) finish() error {
	switch f.compression {
	case "gzip", "zstd":
		f.opt.Compression = f.compression
	default:
		return fmt.Errorf("--compression=%s: want gzip or zstd", f.compression)
	}
	f.opt.CompressionLevel = f.level
	switch f.format {
	case "", "docker", "oci":
		f.opt.ImageFormat = f.format
	default:
		return fmt.Errorf("--image-format=%s: want docker or oci", f.format)
	}
	var err error
	if f.opt.RegistryCertificates, err = keyValues("--registry-certificate", f.registryCerts); err != nil {
		return err
	}
	if f.opt.RegistryClientCerts, err = keyValues("--registry-client-cert", f.clientCerts); err != nil {
		return err
	}
	maps, err := keyValues("--registry-map", f.registryMap)
	if err != nil {
		return err
	}
	f.opt.RegistryMap = map[string][]string{}
	for reg, v := range maps {
		f.opt.RegistryMap[reg] = strings.Split(v, ";")
	}
	if f.extractRetry > f.opt.PushRetry {
		f.opt.PushRetry = f.extractRetry
	}
	if !f.opt.NoPush && len(f.opt.Destinations) == 0 {
		return errors.New("--destination is required unless --no-push is given")
	}
	return nil
}

// keyValues parses repeated KEY=VALUE flags.
func keyValues(flag string, in []string) (map[string]string, error) {
	out := map[string]string{}
	for _, kv := range in {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" || v == "" {
			return nil, fmt.Errorf("%s %q: want KEY=VALUE", flag, kv)
		}
		out[k] = v
	}
	return out, nil
}

func newLogger(w io.Writer, verbosity, format string) (*slog.Logger, error) {
	var level slog.Level
	switch strings.ToLower(verbosity) {
	case "trace", "debug":
		level = slog.LevelDebug
	case "info":
		level = slog.LevelInfo
	case "warn", "warning":
		level = slog.LevelWarn
	case "error", "fatal", "panic":
		level = slog.LevelError
	default:
		return nil, fmt.Errorf("--verbosity=%s: want panic, fatal, error, warn, info, debug or trace", verbosity)
	}
	opts := &slog.HandlerOptions{Level: level}
	switch format {
	case "text", "color":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format=%s: want text, color or json", format)
}
