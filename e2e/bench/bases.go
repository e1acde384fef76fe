//go:build linux

package main

import (
	"context"
	"fmt"
	"os"
	"runtime"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/kaniko-build/kaniko-build/e2e/baseimage"
)

// bases are the base images of the contexts, by Dockerfile placeholder.
type bases map[string]string

// pushBases pushes the busybox base (made in Go from the host's static
// busybox) and, when a context needs it, the Debian minbase that peers.sh
// made with debootstrap. Nothing here is timed.
func pushBases(ctx context.Context, host, cache string, needDebian bool) (bases, error) {
	b := bases{}
	bb, err := baseimage.Busybox()
	if err != nil {
		return nil, fmt.Errorf("making busybox base: %w", err)
	}
	ref := host + "/base/busybox:latest"
	if err := baseimage.Push(ctx, bb, ref); err != nil {
		return nil, err
	}
	b["busybox"] = ref
	if needDebian {
		ref := host + "/base/debian:bookworm"
		img, err := debianImage(cache + "/debian-bookworm-minbase.tar.gz")
		if err != nil {
			return nil, err
		}
		r, err := name.ParseReference(ref)
		if err != nil {
			return nil, err
		}
		if err := remote.Write(r, img, remote.WithContext(ctx)); err != nil {
			return nil, fmt.Errorf("pushing %s: %w", ref, err)
		}
		b["debian"] = ref
	}
	return b, nil
}

// debianImage is the debootstrapped root filesystem as a one-layer image
// with the official image's config (PATH, CMD bash).
func debianImage(tgz string) (v1.Image, error) {
	if _, err := os.Stat(tgz); err != nil {
		return nil, fmt.Errorf("no Debian base (run e2e/bench/peers.sh): %w", err)
	}
	layer, err := tarball.LayerFromFile(tgz)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", tgz, err)
	}
	img, err := mutate.Append(empty.Image, mutate.Addendum{
		Layer: layer,
		History: v1.History{
			Created:   v1.Time{Time: baseimage.Epoch()},
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
	cfg.Created = v1.Time{Time: baseimage.Epoch()}
	cfg.Config.Env = []string{"PATH=" + baseimage.DefaultPath}
	cfg.Config.Cmd = []string{"bash"}
	return mutate.ConfigFile(img, cfg)
}
