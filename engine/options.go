// Package engine builds a Dockerfile into an image without a daemon.
//
// Build is the one entry point; the sub-packages each do one thing and
// never import this package.
package engine

import (
	"io"
	"log/slog"
	"time"
)

// Options is everything a build needs. The executor's flags bind into it.
type Options struct {
	// Context is the build context: a directory path or dir://path.
	Context string
	// ContextSubPath is a directory inside the context to use instead.
	ContextSubPath string
	// Git holds --git options: branch=,single-branch=,recurse-submodules=.
	Git string
	// GitPullMethod is how git:// contexts are cloned: https or http.
	GitPullMethod string
	// Stdin is read for a tar://stdin context.
	Stdin io.Reader
	// Dockerfile is the Dockerfile path; relative paths are taken from Context.
	Dockerfile string
	// Destinations are image references to push to.
	Destinations []string
	// NoPush builds without pushing.
	NoPush bool
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

	// BuildArgs are KEY=VALUE or KEY (value taken from the environment).
	BuildArgs []string
	// Target is the stage to build; empty means the last one.
	Target string
	// Labels are KEY=VALUE labels added to the final image.
	Labels []string
	// Platform is os/arch[/variant]; empty means this machine's.
	Platform string
	// Reproducible strips timestamps so equal inputs give equal digests.
	Reproducible bool

	// Insecure pushes over plain HTTP; InsecurePull pulls over it.
	Insecure     bool
	InsecurePull bool
	// InsecureRegistries are registries reached over plain HTTP.
	InsecureRegistries []string
	// SkipTLSVerify skips TLS verification for pushes; ...Pull for pulls.
	SkipTLSVerify     bool
	SkipTLSVerifyPull bool
	// PushRetry is how many times a failed registry request is retried.
	PushRetry int
	// SkipTLSVerifyRegistries skip TLS verification for these registries.
	SkipTLSVerifyRegistries []string
	// RegistryCertificates maps a registry to a CA bundle file.
	RegistryCertificates map[string]string
	// RegistryClientCerts maps a registry to "cert-file,key-file".
	RegistryClientCerts map[string]string
	// RegistryMirrors are tried before Docker Hub for its images.
	RegistryMirrors []string
	// RegistryMap maps a registry to mirrors tried before it.
	RegistryMap map[string][]string

	// Compression is gzip (default) or zstd; a CompressionLevel of 0 or
	// less is the fastest level (Kaniko's default).
	Compression      string
	CompressionLevel int
	// ImageFormat is docker or oci; empty keeps the base image's format.
	ImageFormat string

	// RootDir is the filesystem the build runs in. Empty means a fresh
	// directory per stage under TempDir, with RUN isolated by chroot and
	// namespaces. "/" is in-container mode: the container's own root, as
	// Kaniko does; it is refused outside a container unless Force is set.
	RootDir string
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
	// SkipPushPermissionCheck skips the push check before the build.
	SkipPushPermissionCheck bool
	// SkipDefaultRegistryFallback pulls from mirrors only.
	SkipDefaultRegistryFallback bool
	// TempDir holds scratch files; empty means os.TempDir().
	TempDir string
	// Cache turns the layer cache on: a step whose inputs are unchanged
	// takes its layer from CacheRepo instead of running.
	Cache bool
	// CacheRepo is a repository ("registry/repo") or an OCI layout
	// ("oci:/path"); empty means <first destination's repository>/cache.
	CacheRepo string
	// CacheTTL is how long a cached layer is used; 0 means two weeks.
	CacheTTL time.Duration
	// CacheRunLayers and CacheCopyLayers choose which steps are cached.
	CacheRunLayers  bool
	CacheCopyLayers bool
	// NoPushCache reads the cache without writing to it.
	NoPushCache bool
	// CacheDir keeps RUN --mount=type=cache directories between builds.
	CacheDir string
	// Secrets are id=src pairs for RUN --mount=type=secret.
	Secrets []string

	// Log receives structured logs; nil discards them.
	Log *slog.Logger
	// Progress receives one human line per step; nil discards them.
	Progress io.Writer
}
