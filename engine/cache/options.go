package cache

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/kaniko-build/kaniko-build/engine/remote"
)

// Options say whether and where layers are cached, and what is kept
// between builds.
type Options struct {
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
func (c *Options) AddFlags(fs *pflag.FlagSet) {
	fs.BoolVar(&c.Enabled, "cache", false, "take the layers of unchanged steps from the layer cache, and store new ones")
	fs.StringVar(&c.Repo, "cache-repo", "", "layer cache: a repository, or oci:/path for an OCI layout (default: <destination repository>/cache)")
	fs.DurationVar(&c.TTL, "cache-ttl", 14*24*time.Hour, "how long a cached layer is used")
	fs.BoolVar(&c.RunLayers, "cache-run-layers", true, "cache the layers of RUN steps")
	fs.BoolVar(&c.CopyLayers, "cache-copy-layers", true, "cache the layers of COPY, ADD and WORKDIR steps")
	fs.BoolVar(&c.NoPush, "no-push-cache", false, "read the layer cache but do not write to it")
	fs.StringVar(&c.Dir, "cache-dir", "", "directory kept between builds: base images from the warmer, RUN --mount=type=cache contents, the context files' content keys")
}

// Open opens --cache-repo: an OCI layout (oci:/path) or a registry
// repository, by default the first destination's repository + "/cache";
// nil when the cache is off.
func (o Options) Open(ctx context.Context, reg remote.Options, dests []string) (Store, error) {
	if !o.Enabled {
		return nil, nil
	}
	ttl := o.TTL
	if ttl == 0 {
		ttl = 14 * 24 * time.Hour
	}
	repo := o.Repo
	if p, ok := strings.CutPrefix(repo, "oci:"); ok {
		return &Layout{Path: p, TTL: ttl}, nil
	}
	if repo == "" {
		if len(dests) == 0 {
			return nil, errors.New("--cache needs --cache-repo or a --destination to keep layers in")
		}
		r, err := reg.Parse(dests[0])
		if err != nil {
			return nil, err
		}
		repo = r.Context().String() + "/cache"
	}
	r, err := reg.ParseRepo(repo)
	if err != nil {
		return nil, fmt.Errorf("--cache-repo %q: %w", repo, err)
	}
	opts, err := reg.RemoteOptions(ctx, false)
	if err != nil {
		return nil, err
	}
	return &Registry{Repo: r, Options: opts, TTL: ttl, Retry: reg.Retry}, nil
}

// SumsPath is where --cache-dir keeps the content keys of the files of
// the context source, opened in dir, or "" when there is nowhere to keep
// them or the context is made anew for each build (tar, git, URL).
func (o Options) SumsPath(source, dir string) string {
	if o.Dir == "" || !o.Enabled || strings.Contains(source, "://") && !strings.HasPrefix(source, "dir://") {
		return ""
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return ""
	}
	sum := sha256.Sum256([]byte(dir))
	return filepath.Join(o.Dir, "context-sums", hex.EncodeToString(sum[:16]))
}
