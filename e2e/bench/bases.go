//go:build linux

package main

import (
	"context"
	"fmt"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/kaniko-build/kaniko-build/e2e/baseimage"
)

// bases are the base images of the contexts, by Dockerfile placeholder.
type bases map[string]string

// pushBases pushes the busybox base (made in Go from the host's static
// busybox) and, when a context needs it, the Debian minbase that peers.sh
// made with debootstrap, and when the multi-platform case runs, the busybox
// base for linux/amd64 and linux/arm64. Nothing here is timed.
func pushBases(ctx context.Context, host, cache string, needDebian, needMulti bool) (bases, error) {
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
		img, err := baseimage.Debian(cache + "/debian-bookworm-minbase.tar.gz")
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
	if needMulti {
		ref := host + "/base/multiarch:latest"
		idx, err := baseimage.MultiBusybox(baseimage.BusyboxArm64())
		if err != nil {
			return nil, err
		}
		r, err := name.ParseReference(ref)
		if err != nil {
			return nil, err
		}
		if err := remote.WriteIndex(r, idx, remote.WithContext(ctx)); err != nil {
			return nil, fmt.Errorf("pushing %s: %w", ref, err)
		}
		b["multiarch"] = ref
	}
	return b, nil
}
