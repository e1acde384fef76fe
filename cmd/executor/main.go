// Command executor builds a Dockerfile into an image without a daemon. Its
// flags are Kaniko's, so pipelines can switch images without changes.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/pflag"

	"github.com/kaniko-build/kaniko-build/engine"
	"github.com/kaniko-build/kaniko-build/engine/run"
)

// Exit codes.
const (
	exitBuild = 1 // the build failed (a failed RUN: its command's code)
	exitUsage = 2 // bad flags
)

func main() {
	run.Init()
	// As docker and BuildKit: files the build makes (directories COPY
	// creates, files RUN writes) get 0022, whatever the caller's umask.
	syscall.Umask(0o022)
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

	buildArgsJSON string
	downloadRetry int
	extractRetry  int
	registryMap   []string
	registryCerts []string
	clientCerts   []string
	bucket        string
}

// renamedFlags are Kaniko's deprecated spellings, still accepted there.
var renamedFlags = map[string]string{
	"tarPath":           "tar-path",
	"customPlatform":    "custom-platform",
	"snapshotMode":      "snapshot-mode",
	"whitelist-var-run": "ignore-var-run",
}

func newFlagSet(f *flags) *pflag.FlagSet {
	fs := pflag.NewFlagSet("executor", pflag.ContinueOnError)
	o := &f.opt
	fs.StringVarP(&o.Context, "context", "c", "/workspace/", "build context: a directory, dir://path, tar://path.tar.gz, tar://stdin, git://host/repo.git#ref, or https://.../context.tar.gz")
	fs.StringVar(&o.ContextSubPath, "context-sub-path", "", "directory inside the context to build from")
	fs.StringVar(&o.Git, "git", "", "git context options: branch=NAME,single-branch=BOOL,recurse-submodules=BOOL,insecure-skip-tls=BOOL")
	fs.StringVarP(&o.Dockerfile, "dockerfile", "f", "Dockerfile", "path to the Dockerfile, relative paths tried as given, then in the context")
	fs.StringArrayVarP(&o.Destinations, "destination", "d", nil, "image reference to push to (repeatable)")
	fs.BoolVar(&o.NoPush, "no-push", false, "build without pushing (also $KANIKO_NO_PUSH=true)")
	fs.StringVar(&o.TarPath, "tar-path", "", "write the image as a tarball (docker load format) to this path")
	fs.StringVar(&o.OCILayoutPath, "oci-layout-path", "", "write the image into an OCI image layout directory")
	fs.StringVar(&o.DigestFile, "digest-file", "", "write the image digest (sha256:...) to this file")
	fs.StringVar(&o.ImageURLFile, "image-url-file", "", "write the first destination, as given, to this file (Tekton's IMAGE_URL)")
	fs.StringVar(&o.ImagesFile, "images-file", "", "write name:tag@digest of each destination, one per line, to this file (Tekton's IMAGES)")
	fs.StringVar(&o.ImageNameDigestFile, "image-name-with-digest-file", "", "write repo@digest of each destination to this file")
	fs.StringVar(&o.ImageNameTagDigestFile, "image-name-tag-with-digest-file", "", "write repo:tag@digest of each destination to this file")
	fs.StringArrayVar(&o.BuildArgs, "build-arg", nil, "KEY=VALUE, or KEY to take the value from the environment (repeatable; also after a lone --)")
	fs.StringVar(&f.buildArgsJSON, "build-args-json", "", `build args as a JSON list, e.g. ["A=1","B=2"]`)
	fs.String("extra-args-json", "", `more flags as a JSON list, e.g. ["--label=a=b"], expanded in place`)
	fs.BoolVar(&o.Cache, "cache", false, "take the layers of unchanged steps from the layer cache, and store new ones")
	fs.StringVar(&o.CacheRepo, "cache-repo", "", "layer cache: a repository, or oci:/path for an OCI layout (default: <destination repository>/cache)")
	fs.DurationVar(&o.CacheTTL, "cache-ttl", 14*24*time.Hour, "how long a cached layer is used")
	fs.BoolVar(&o.CacheRunLayers, "cache-run-layers", true, "cache the layers of RUN steps")
	fs.BoolVar(&o.CacheCopyLayers, "cache-copy-layers", true, "cache the layers of COPY, ADD and WORKDIR steps")
	fs.BoolVar(&o.NoPushCache, "no-push-cache", false, "read the layer cache but do not write to it")
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
	fs.StringArrayVar(&o.RegistryMirrors, "registry-mirror", nil, "mirror tried before Docker Hub (repeatable; also $KANIKO_REGISTRY_MIRROR)")
	fs.StringArrayVar(&f.registryMap, "registry-map", nil, "REGISTRY=MIRROR[;REGISTRY=MIRROR...]: mirrors tried before REGISTRY, in order (repeatable; also $KANIKO_REGISTRY_MAP)")
	fs.StringArrayVar(&f.registryCerts, "registry-certificate", nil, "REGISTRY=CA-FILE: trust this CA bundle for REGISTRY (repeatable)")
	fs.StringArrayVar(&f.clientCerts, "registry-client-cert", nil, "REGISTRY=CERT-FILE,KEY-FILE: client certificate for REGISTRY (repeatable)")
	fs.StringVar(&f.compression, "compression", "gzip", "layer compression: gzip or zstd")
	fs.IntVar(&f.level, "compression-level", -1, "compression level; 0 or less is the fastest (gzip 1, zstd's fastest), as Kaniko's default")
	fs.StringVar(&f.format, "image-format", "", "manifest format: docker or oci (default: the base image's)")
	fs.StringArrayVar(&o.Secrets, "secret", nil, "id=ID,src=FILE (or env=VAR) secret for RUN --mount=type=secret (repeatable)")
	fs.StringVar(&o.CacheDir, "cache-dir", "", "directory kept between builds: base images from the warmer, RUN --mount=type=cache contents, the context files' content keys")
	fs.BoolVar(&o.Force, "force", false, "build in / even outside a container (it rewrites the root filesystem)")
	fs.StringArrayVar(&o.IgnorePaths, "ignore-path", nil, "path the in-container build leaves alone and keeps out of layers (repeatable)")
	fs.StringVar(&o.KanikoDir, "kaniko-dir", envOr("KANIKO_DIR", "/kaniko"), "the executor's own directory, never part of the image ($KANIKO_DIR)")
	// Kaniko flags kept so that pipelines run unchanged; what they tuned
	// in Kaniko is what this builder always does, or does not apply.
	fs.BoolVar(&o.IgnoreVarRun, "ignore-var-run", true, "leave /var/run alone and out of layers (in the image)")
	fs.BoolVar(&o.SkipPushPermissionCheck, "skip-push-permission-check", false, "do not check push access at the start (the check runs alongside the first steps and stops the build when it fails)")
	fs.BoolVar(&o.SkipDefaultRegistryFallback, "skip-default-registry-fallback", false, "with mirrors, never fall back to Docker Hub")
	fs.IntVar(&f.downloadRetry, "image-download-retry", 0, "times to retry pulling a base image (default: as --push-retry)")
	fs.BoolVar(&o.Cleanup, "cleanup", false, "in the image: empty the root filesystem after the build, for another build in the same container")
	for _, name := range []string{"compressed-caching", "force-build-metadata", "log-timestamp",
		"push-ignore-immutable-tag-errors", "single-snapshot", "skip-unused-stages", "use-new-run", "preserve-context", "materialize"} {
		fs.Bool(name, false, "accepted for Kaniko compatibility; this builder needs no such switch")
	}
	fs.String("snapshot-mode", "full", "accepted for Kaniko compatibility; snapshots always compare file metadata")
	fs.StringVarP(&f.bucket, "bucket", "b", "", "Kaniko's Google Cloud Storage context: not supported, use --context")
	_ = fs.MarkHidden("bucket")
	fs.SetNormalizeFunc(func(_ *pflag.FlagSet, name string) pflag.NormalizedName {
		if n, ok := renamedFlags[name]; ok {
			return pflag.NormalizedName(n)
		}
		return pflag.NormalizedName(name)
	})
	fs.StringVarP(&f.verbosity, "verbosity", "v", "info", "log level: panic, fatal, error, warn, info, debug or trace")
	fs.StringVar(&f.logFormat, "log-format", "text", "log format: text, color or json")
	return fs
}

// version is the release, stamped with -ldflags "-X main.version=v1.2.3";
// without it, the module version Go recorded.
var version = ""

func versionString() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}

// Main runs the executor with args and returns the exit code.
func Main(ctx context.Context, args []string, stderr io.Writer) int {
	// Kaniko's `executor version` subcommand, and the usual flag.
	if len(args) == 1 && (args[0] == "version" || args[0] == "--version") {
		fmt.Fprintf(os.Stdout, "kaniko-build version: %s\n", versionString())
		return 0
	}
	var f flags
	fs := newFlagSet(&f)
	fs.SetOutput(stderr)
	args, err := expandExtraArgs(args)
	if err != nil {
		fmt.Fprintf(stderr, "error: %v\n", err)
		return exitUsage
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return 0
		}
		fmt.Fprintf(stderr, "error: %v\n", err)
		return exitUsage
	}
	// Words after a lone "--" are build args (Tekton's BUILD_ARGS array).
	dash := fs.ArgsLenAtDash()
	if fs.NArg() > 0 && dash != 0 {
		fmt.Fprintf(stderr, "error: unexpected arguments %q (every option is a flag; build args may follow a lone --)\n", fs.Args())
		return exitUsage
	}
	if dash == 0 {
		f.opt.BuildArgs = append(f.opt.BuildArgs, nonEmpty(fs.Args())...)
	}
	log, err := newLogger(stderr, f.verbosity, f.logFormat)
	if err != nil {
		fmt.Fprintf(stderr, "error: %v\n", err)
		return exitUsage
	}
	if err := f.fromEnv(); err != nil {
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
		if os.Getenv("DOCKER_CONFIG") == "" {
			os.Setenv("DOCKER_CONFIG", filepath.Join(f.opt.KanikoDir, ".docker"))
		}
	}
	if _, err := engine.Build(ctx, f.opt); err != nil {
		fmt.Fprintf(stderr, "error: %v\n", err)
		return buildExitCode(err)
	}
	return 0
}

// buildExitCode is a failed build's exit code: as Kaniko's, a RUN's
// command's own exit code when one failed the build, else 1.
func buildExitCode(err error) int {
	var ee *run.ExitError
	if errors.As(err, &ee) && ee.Code > 0 && ee.Code < 256 {
		return ee.Code
	}
	return exitBuild
}

// expandExtraArgs replaces --extra-args-json=[...] by the flags it lists,
// in place, so that Argo can pass a JSON list of flags as one argument.
func expandExtraArgs(args []string) ([]string, error) {
	var out []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return append(out, args[i:]...), nil
		}
		v, ok := strings.CutPrefix(a, "--extra-args-json=")
		if !ok && a == "--extra-args-json" && i+1 < len(args) {
			v, ok = args[i+1], true
			i++
		}
		if !ok {
			out = append(out, a)
			continue
		}
		list, err := jsonList("--extra-args-json", v)
		if err != nil {
			return nil, err
		}
		out = append(out, list...)
	}
	return out, nil
}

// jsonList parses a JSON list of strings; "" and "[]" are empty.
func jsonList(flag, v string) ([]string, error) {
	if strings.TrimSpace(v) == "" {
		return nil, nil
	}
	var list []string
	if err := json.Unmarshal([]byte(v), &list); err != nil {
		return nil, fmt.Errorf("%s: want a JSON list of strings: %w", flag, err)
	}
	return list, nil
}

func nonEmpty(in []string) []string {
	var out []string
	for _, s := range in {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
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
	list, err := jsonList("--build-args-json", f.buildArgsJSON)
	if err != nil {
		return err
	}
	f.opt.BuildArgs = append(f.opt.BuildArgs, list...)
	f.opt.InsecureRegistries = nonEmpty(f.opt.InsecureRegistries)
	f.opt.Destinations = nonEmpty(f.opt.Destinations)
	if f.opt.RegistryCertificates, err = keyValues("--registry-certificate", f.registryCerts); err != nil {
		return err
	}
	if f.opt.RegistryClientCerts, err = keyValues("--registry-client-cert", f.clientCerts); err != nil {
		return err
	}
	if f.opt.RegistryMap, err = registryMaps(f.registryMap); err != nil {
		return err
	}
	if f.bucket != "" {
		return fmt.Errorf("--bucket=%s: Google Cloud Storage contexts are not supported; give the context with --context (a directory, tar://, git:// or an https:// tarball)", f.bucket)
	}
	for _, r := range []int{f.extractRetry, f.downloadRetry} {
		if r > f.opt.PushRetry {
			f.opt.PushRetry = r
		}
	}
	if !f.opt.NoPush && len(f.opt.Destinations) == 0 {
		return errors.New("--destination is required unless --no-push is given")
	}
	return nil
}

// fromEnv applies Kaniko's environment variables, which come on top of
// the flags as in Kaniko.
func (f *flags) fromEnv() error {
	if v, ok := os.LookupEnv("KANIKO_NO_PUSH"); ok {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("KANIKO_NO_PUSH=%s: want true or false", v)
		}
		f.opt.NoPush = b
	}
	if v := os.Getenv("KANIKO_REGISTRY_MIRROR"); v != "" {
		f.opt.RegistryMirrors = append(f.opt.RegistryMirrors, v)
	}
	if v := os.Getenv("KANIKO_REGISTRY_MAP"); v != "" {
		f.registryMap = append(f.registryMap, v)
	}
	return nil
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// registryMaps parses --registry-map values as Kaniko does: pairs
// REGISTRY=MIRROR separated by ";", repeated flags adding mirrors in
// order. A piece without "=" is one more mirror for the registry before
// it (REGISTRY=M1;M2).
func registryMaps(in []string) (map[string][]string, error) {
	out := map[string][]string{}
	for _, v := range in {
		reg := ""
		for _, piece := range strings.Split(v, ";") {
			if piece == "" {
				continue
			}
			k, m, ok := strings.Cut(piece, "=")
			if ok {
				reg = k
			} else {
				m = piece
			}
			if reg == "" || m == "" {
				return nil, fmt.Errorf("--registry-map %q: want REGISTRY=MIRROR[;REGISTRY=MIRROR...]", v)
			}
			out[reg] = append(out[reg], m)
		}
	}
	return out, nil
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
