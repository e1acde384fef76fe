package baseimage

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// DebianTarball is where e2e/setup.sh leaves the Debian root filesystem
// (e2e/debian-base.sh): $E2E_DEBIAN_BASE, else the bench's cache.
func DebianTarball() string {
	if p := os.Getenv("E2E_DEBIAN_BASE"); p != "" {
		return p
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".cache", "kaniko-build-bench", "debian-bookworm-minbase.tar.gz")
}

// Debian is the debootstrapped root filesystem in tgz as a one-layer image
// with the official image's config (PATH, CMD bash).
func Debian(tgz string) (v1.Image, error) {
	if _, err := os.Stat(tgz); err != nil {
		return nil, fmt.Errorf("no Debian base (run e2e/setup.sh as root, which makes it with e2e/debian-base.sh): %w", err)
	}
	layer, err := tarball.LayerFromFile(tgz)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", tgz, err)
	}
	img, err := mutate.Append(empty.Image, mutate.Addendum{
		Layer: layer,
		History: v1.History{
			Created:   v1.Time{Time: Epoch()},
			CreatedBy: "debootstrap --variant=minbase bookworm",
		},
	})
	if err != nil {
		return nil, err
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cfg = cfg.DeepCopy()
	cfg.OS, cfg.Architecture = "linux", runtime.GOARCH
	cfg.Created = v1.Time{Time: Epoch()}
	cfg.Config.Env = []string{"PATH=" + DefaultPath}
	cfg.Config.Cmd = []string{"bash"}
	return mutate.ConfigFile(img, cfg)
}
