// Package engine builds a Dockerfile into an image without a daemon.
//
// Build is the one entry point; the sub-packages each do one thing and
// never import this package.
package engine

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/spf13/pflag"

	"github.com/kaniko-build/kaniko-build/engine/buildctx"
	"github.com/kaniko-build/kaniko-build/engine/cache"
	"github.com/kaniko-build/kaniko-build/engine/publish"
	"github.com/kaniko-build/kaniko-build/engine/remote"
	"github.com/kaniko-build/kaniko-build/engine/rootfs"
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
	// Log receives everything the build reports: progress at Info, each
	// record's message a line for a person and its attributes (an "event"
	// among them) for machines; warnings; nil discards them.
	Log *slog.Logger
	// Progress, when set, also receives the progress as lines for a
	// person (progress.Handler).
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

// OutputOptions say where the image goes and in what form.
type OutputOptions = publish.Options

// ContextOptions say where the build's inputs are.
type ContextOptions = buildctx.Options

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
	// ConsumeCredentials reads the docker config and the secret files
	// once, at the start, and removes them before any RUN can read them.
	ConsumeCredentials bool

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
	fs.BoolVar(&b.ConsumeCredentials, "consume-credentials", false, "read the docker config (config.json, .dockerconfigjson) and the --secret files at the start, then delete them, so that no RUN can read them")
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

// CacheOptions say whether and where layers are cached, and what is kept
// between builds.
type CacheOptions = cache.Options

// RootOptions say which filesystem the build runs in and what it leaves
// alone there.
type RootOptions = rootfs.Options
