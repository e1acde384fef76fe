// Package engine builds a Dockerfile into an image without a daemon.
//
// Build is the one entry point; the sub-packages each do one thing and
// never import this package.
package engine

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/kaniko-build/kaniko-build/engine/remote"
)

// Options is everything a build needs, grouped by concern. Each group's
// AddFlags declares the executor's flags for it (Kaniko's); Finish, where
// a group has one, completes it after parsing.
type Options struct {
	Context  ContextOptions
	Build    BuildOptions
	Output   OutputOptions
	Registry remote.RegistryOptions
	Cache    CacheOptions
	Root     RootOptions
	// Log receives structured logs; nil discards them.
	Log *slog.Logger
	// Progress receives one human line per step; nil discards them.
	Progress io.Writer
}

// AddFlags declares every group's flags on fs.
func (o *Options) AddFlags(fs *pflag.FlagSet) {
	o.Context.AddFlags(fs)
	o.Build.AddFlags(fs)
	o.Output.AddFlags(fs)
	o.Registry.AddFlags(fs)
	o.Cache.AddFlags(fs)
	o.Root.AddFlags(fs)
}

// Finish completes every group after parsing; errors name the flag or
// environment variable.
func (o *Options) Finish() error {
	if err := o.Build.Finish(); err != nil {
		return err
	}
	if err := o.Registry.Finish(); err != nil {
		return err
	}
	return o.Output.Finish()
}

// ContextOptions say where the build's inputs are.
type ContextOptions struct {
	// Source is the build context: a directory, dir://, tar://, git:// or
	// an https:// tarball; empty means ".".
	Source string
	// SubPath is a directory inside the context to use instead.
	SubPath string
	// Git holds --git options: branch=,single-branch=,recurse-submodules=.
	Git string
	// GitPullMethod is how git:// contexts are cloned: https or http.
	GitPullMethod string
	// Stdin is read for a tar://stdin context.
	Stdin io.Reader
	// Dockerfile is the Dockerfile's path or URL; a relative path is tried
	// as given, then in the context. Empty means "Dockerfile".
	Dockerfile string
}

// AddFlags declares the context flags on fs.
func (c *ContextOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringVarP(&c.Source, "context", "c", "/workspace/", "build context: a directory, dir://path, tar://path.tar.gz, tar://stdin, git://host/repo.git#ref, or https://.../context.tar.gz")
	fs.StringVar(&c.SubPath, "context-sub-path", "", "directory inside the context to build from")
	fs.StringVar(&c.Git, "git", "", "git context options: branch=NAME,single-branch=BOOL,recurse-submodules=BOOL,insecure-skip-tls=BOOL")
	fs.StringVarP(&c.Dockerfile, "dockerfile", "f", "Dockerfile", "path to the Dockerfile, relative paths tried as given, then in the context")
}

// BuildOptions say what to build.
type BuildOptions struct {
	// Args are KEY=VALUE or KEY (value taken from the environment).
	Args []string
	// Target is the stage to build; empty means the last one.
	Target string
	// Labels are KEY=VALUE labels added to the final image.
	Labels []string
	// Platform is os/arch[/variant] or os/arch:osversion; empty means
	// this machine's.
	Platform string
	// Reproducible strips timestamps so equal inputs give equal digests.
	Reproducible bool
	// Secrets are id=ID,src=FILE or id=ID,env=VAR for RUN --mount=type=secret.
	Secrets []string

	argsJSON string // --build-args-json
}

// AddFlags declares the build flags on fs.
func (b *BuildOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringArrayVar(&b.Args, "build-arg", nil, "KEY=VALUE, or KEY to take the value from the environment (repeatable; also after a lone --)")
	fs.StringVar(&b.argsJSON, "build-args-json", "", `build args as a JSON list, e.g. ["A=1","B=2"]`)
	fs.StringVar(&b.Target, "target", "", "stage to build (default: the last)")
	fs.StringArrayVar(&b.Labels, "label", nil, "KEY=VALUE label for the image (repeatable)")
	fs.StringVar(&b.Platform, "custom-platform", "", "target platform os/arch[/variant]")
	fs.BoolVar(&b.Reproducible, "reproducible", false, "strip timestamps: the same inputs give the same digest")
	fs.StringArrayVar(&b.Secrets, "secret", nil, "id=ID,src=FILE (or env=VAR) secret for RUN --mount=type=secret (repeatable)")
}

// Finish adds the --build-args-json list after the other build args.
func (b *BuildOptions) Finish() error {
	if strings.TrimSpace(b.argsJSON) == "" {
		return nil
	}
	var list []string
	if err := json.Unmarshal([]byte(b.argsJSON), &list); err != nil {
		return fmt.Errorf("--build-args-json: want a JSON list of strings: %w", err)
	}
	b.Args = append(b.Args, list...)
	return nil
}

// OutputOptions say where the image goes and in what form.
type OutputOptions struct {
	// Destinations are image references to push to.
	Destinations []string
	// NoPush builds without pushing.
	NoPush bool
	// SkipPushPermissionCheck skips the push check alongside the build.
	SkipPushPermissionCheck bool
	// TarPath writes the image as a docker-save tarball.
	TarPath string
	// OCILayoutPath writes the image into an OCI image layout directory.
	OCILayoutPath string
	// DigestFile receives the image digest (sha256:...), no newline.
	DigestFile string
	// ImageURLFile receives the first destination as given, no newline.
	ImageURLFile string
	// ImagesFile receives name:tag@digest per destination, one per line.
	ImagesFile string
	// ImageNameDigestFile receives repo@digest per destination.
	ImageNameDigestFile string
	// ImageNameTagDigestFile receives repo:tag@digest per destination.
	ImageNameTagDigestFile string
	// Compression is gzip (default) or zstd; a CompressionLevel of 0 or
	// less is the fastest level (Kaniko's default).
	Compression      string
	CompressionLevel int
	// ImageFormat is docker or oci; empty keeps the base image's format.
	ImageFormat string
}

// AddFlags declares the output flags on fs.
func (o *OutputOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringArrayVarP(&o.Destinations, "destination", "d", nil, "image reference to push to (repeatable)")
	fs.BoolVar(&o.NoPush, "no-push", false, "build without pushing (also $KANIKO_NO_PUSH=true)")
	fs.BoolVar(&o.SkipPushPermissionCheck, "skip-push-permission-check", false, "do not check push access at the start (the check runs alongside the first steps and stops the build when it fails)")
	fs.StringVar(&o.TarPath, "tar-path", "", "write the image as a tarball (docker load format) to this path")
	fs.StringVar(&o.OCILayoutPath, "oci-layout-path", "", "write the image into an OCI image layout directory")
	fs.StringVar(&o.DigestFile, "digest-file", "", "write the image digest (sha256:...) to this file")
	fs.StringVar(&o.ImageURLFile, "image-url-file", "", "write the first destination, as given, to this file (Tekton's IMAGE_URL)")
	fs.StringVar(&o.ImagesFile, "images-file", "", "write name:tag@digest of each destination, one per line, to this file (Tekton's IMAGES)")
	fs.StringVar(&o.ImageNameDigestFile, "image-name-with-digest-file", "", "write repo@digest of each destination to this file")
	fs.StringVar(&o.ImageNameTagDigestFile, "image-name-tag-with-digest-file", "", "write repo:tag@digest of each destination to this file")
	fs.StringVar(&o.Compression, "compression", "gzip", "layer compression: gzip or zstd")
	fs.IntVar(&o.CompressionLevel, "compression-level", -1, "compression level; 0 or less is the fastest (gzip 1, zstd's fastest), as Kaniko's default")
	fs.StringVar(&o.ImageFormat, "image-format", "", "manifest format: docker or oci (default: the base image's)")
}

// Finish applies Kaniko's $KANIKO_NO_PUSH on top of --no-push and checks
// what pflag cannot: the compression and format names, and that an image
// to push has a destination.
func (o *OutputOptions) Finish() error {
	if v, ok := os.LookupEnv("KANIKO_NO_PUSH"); ok {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("KANIKO_NO_PUSH=%s: want true or false", v)
		}
		o.NoPush = b
	}
	switch o.Compression {
	case "", "gzip", "zstd":
	default:
		return fmt.Errorf("--compression=%s: want gzip or zstd", o.Compression)
	}
	switch o.ImageFormat {
	case "", "docker", "oci":
	default:
		return fmt.Errorf("--image-format=%s: want docker or oci", o.ImageFormat)
	}
	var dests []string
	for _, d := range o.Destinations {
		if d != "" {
			dests = append(dests, d)
		}
	}
	o.Destinations = dests
	if !o.NoPush && len(o.Destinations) == 0 {
		return errors.New("--destination is required unless --no-push is given")
	}
	return nil
}

// CacheOptions say whether and where layers are cached, and what is kept
// between builds.
type CacheOptions struct {
	// Enabled turns the layer cache on: a step whose inputs are unchanged
	// takes its layer from Repo instead of running.
	Enabled bool
	// Repo is a repository ("registry/repo") or an OCI layout
	// ("oci:/path"); empty means <first destination's repository>/cache.
	Repo string
	// TTL is how long a cached layer is used; 0 means two weeks.
	TTL time.Duration
	// RunLayers and CopyLayers choose which steps are cached.
	RunLayers  bool
	CopyLayers bool
	// NoPush reads the cache without writing to it.
	NoPush bool
	// Dir is kept between builds: warmed base images, RUN
	// --mount=type=cache directories, the context files' content keys.
	Dir string
}

// AddFlags declares the cache flags on fs.
func (c *CacheOptions) AddFlags(fs *pflag.FlagSet) {
	fs.BoolVar(&c.Enabled, "cache", false, "take the layers of unchanged steps from the layer cache, and store new ones")
	fs.StringVar(&c.Repo, "cache-repo", "", "layer cache: a repository, or oci:/path for an OCI layout (default: <destination repository>/cache)")
	fs.DurationVar(&c.TTL, "cache-ttl", 14*24*time.Hour, "how long a cached layer is used")
	fs.BoolVar(&c.RunLayers, "cache-run-layers", true, "cache the layers of RUN steps")
	fs.BoolVar(&c.CopyLayers, "cache-copy-layers", true, "cache the layers of COPY, ADD and WORKDIR steps")
	fs.BoolVar(&c.NoPush, "no-push-cache", false, "read the layer cache but do not write to it")
	fs.StringVar(&c.Dir, "cache-dir", "", "directory kept between builds: base images from the warmer, RUN --mount=type=cache contents, the context files' content keys")
}

// RootOptions say which filesystem the build runs in and what it leaves
// alone there.
type RootOptions struct {
	// Dir is the filesystem the build runs in. Empty means a fresh
	// directory per stage under TempDir, with RUN isolated by chroot and
	// namespaces. "/" is in-container mode: the container's own root, as
	// Kaniko does; it is refused outside a container unless Force is set.
	Dir string
	// Force allows in-container mode outside a container.
	Force bool
	// KanikoDir is the executor's own directory, never part of the image
	// (in-container mode; default /kaniko).
	KanikoDir string
	// IgnorePaths are more paths in-container mode leaves alone.
	IgnorePaths []string
	// IgnoreVarRun leaves /var/run alone in in-container mode, as Kaniko.
	IgnoreVarRun bool
	// Cleanup empties the root after an in-container build, as Kaniko's
	// --cleanup: what the image's stages left there goes.
	Cleanup bool
	// TempDir holds scratch files; empty means os.TempDir() (in-container
	// mode: KanikoDir/tmp).
	TempDir string
}

// AddFlags declares the root filesystem flags on fs; --kaniko-dir
// defaults to $KANIKO_DIR.
func (r *RootOptions) AddFlags(fs *pflag.FlagSet) {
	kanikoDir := os.Getenv("KANIKO_DIR")
	if kanikoDir == "" {
		kanikoDir = "/kaniko"
	}
	fs.BoolVar(&r.Force, "force", false, "build in / even outside a container (it rewrites the root filesystem)")
	fs.StringVar(&r.KanikoDir, "kaniko-dir", kanikoDir, "the executor's own directory, never part of the image ($KANIKO_DIR)")
	fs.StringArrayVar(&r.IgnorePaths, "ignore-path", nil, "path the in-container build leaves alone and keeps out of layers (repeatable)")
	fs.BoolVar(&r.IgnoreVarRun, "ignore-var-run", true, "leave /var/run alone and out of layers (in the image)")
	fs.BoolVar(&r.Cleanup, "cleanup", false, "in the image: empty the root filesystem after the build, for another build in the same container")
}
