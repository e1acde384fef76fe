package rootfs

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/spf13/pflag"
)

// Options say which filesystem the build runs in and what it leaves
// alone there.
type Options struct {
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
	// RemoveInBackground, outside in-container mode, has the scratch of a
	// finished build deleted by a detached copy of the program, which
	// then exits at once: its main must call InitRemover.
	RemoveInBackground bool
}

// AddFlags declares the root filesystem flags on fs; --kaniko-dir
// defaults to $KANIKO_DIR.
func (r *Options) AddFlags(fs *pflag.FlagSet) {
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

// InContainerMode checks and completes the options of in-container mode
// (Dir "/").
func (o Options) InContainerMode() (Options, error) {
	if !o.Force && !InContainer() {
		return o, errors.New("refusing to build in / outside a container: it would rewrite this machine's root filesystem (use --force only if you mean it)")
	}
	if o.KanikoDir == "" {
		o.KanikoDir = "/kaniko"
	}
	if o.TempDir == "" {
		o.TempDir = filepath.Join(o.KanikoDir, "tmp")
	}
	if err := os.MkdirAll(o.TempDir, 0o755); err != nil {
		return o, fmt.Errorf("creating scratch directory: %w", err)
	}
	EmptyTrash(o.TempDir)
	return o, nil
}

// RemoveTemp deletes a build's scratch directory; in a container (ignored
// not nil) it leaves it for the next build there (Discard), or with
// --cleanup empties the root too.
func (o Options) RemoveTemp(tmp string, ignored IgnoreList, log *slog.Logger) {
	switch {
	case ignored != nil && o.Cleanup:
		os.RemoveAll(tmp)
		if err := Wipe(o.Dir, ignored); err != nil && log != nil {
			log.Warn("cleaning up the root after the build", "err", err)
		}
	case ignored != nil:
		Discard(tmp)
	case o.RemoveInBackground:
		removeDetached(tmp)
	default:
		os.RemoveAll(tmp)
	}
}
