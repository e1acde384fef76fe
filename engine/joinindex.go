package engine

import (
	"context"
	"fmt"
	"log/slog"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/spf13/pflag"

	"github.com/kaniko-build/kaniko-build/engine/index"
	"github.com/kaniko-build/kaniko-build/engine/publish"
	"github.com/kaniko-build/kaniko-build/engine/remote"
)

// IndexOptions are the join step's: the per-platform images, where the
// index goes (with the result files a build writes) and the registries.
type IndexOptions struct {
	Index    index.Options
	Output   OutputOptions
	Registry remote.RegistryOptions
	// Log receives the pushes and warnings; nil discards them.
	Log *slog.Logger
}

// AddFlags declares the join step's flags on fs: --image, and a build's
// output and registry flags.
func (o *IndexOptions) AddFlags(fs *pflag.FlagSet) {
	o.Index.AddFlags(fs)
	o.Output.AddFlags(fs)
	o.Registry.AddFlags(fs)
}

// Finish completes the options after parsing.
func (o *IndexOptions) Finish() error {
	if err := o.Registry.Finish(); err != nil {
		return err
	}
	if err := o.Output.Finish(); err != nil {
		return err
	}
	o.Index.Format = o.Output.ImageFormat
	return nil
}

// Index joins images built one platform each into an index, pushes it to
// every destination and writes the result files, as a build does for an
// image. Nothing is pushed unless every image is found and of a platform
// of its own.
func Index(ctx context.Context, opt IndexOptions) (v1.Hash, error) {
	log := opt.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	reg, err := opt.Registry.Options(v1.Platform{})
	if err != nil {
		return v1.Hash{}, err
	}
	reg.Logf = func(format string, args ...any) { log.Warn(fmt.Sprintf(format, args...)) }
	idx, err := index.Join(ctx, opt.Index, reg)
	if err != nil {
		return v1.Hash{}, err
	}
	if _, err := publish.WriteIndex(ctx, idx, opt.Output, reg, log); err != nil {
		return v1.Hash{}, err
	}
	return idx.Digest()
}
