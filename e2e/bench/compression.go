//go:build linux

package main

import (
	"fmt"
	"strings"
)

// Every builder that lets us set it compresses its layers alike: gzip at
// level 1, the fastest, which is our executor's default and Kaniko's (so
// that no part of a lead is a compression setting). BuildKit and buildah
// default to their gzip's default level; both are set to 1. Docker's
// legacy builder cannot be set: dockerd's push compresses at
// compress/gzip's default level (6). The floor compresses at level 1 too.
const (
	benchCompression = "gzip"
	benchLevel       = 1
)

// compression is how a row's layers were compressed, as results.json
// records it: the format, the level (0 when there is nothing to
// compress), and how the level was set or why it could not be.
type compression struct {
	Format string `json:"compression,omitempty"`
	Level  int    `json:"compression_level,omitempty"`
	Note   string `json:"compression_note,omitempty"`
}

// executorCompressionArgs are the flags of our executor and of Kaniko
// (v1.24's cmd/executor/cmd/root.go has the same two) for the bench's
// compression; both default to it already, the flags say so.
func executorCompressionArgs() []string {
	return []string{"--compression=" + benchCompression, fmt.Sprintf("--compression-level=%d", benchLevel)}
}

// buildkitOutput is buildctl's --output for an image pushed to ref:
// BuildKit compresses the layers it makes at the bench's level (it then
// compresses them itself, with compress/gzip, rather than through
// containerd's differ); force-compression applies the setting to every
// layer it exports, though a base layer that is gzip already is not
// compressed again.
func buildkitOutput(ref string) string {
	return strings.Join([]string{
		"type=image", "name=" + ref, "push=true", "registry.insecure=true",
		"compression=" + benchCompression,
		fmt.Sprintf("compression-level=%d", benchLevel),
		"force-compression=true",
	}, ",")
}

// buildahPushCompressionArgs are buildah push's flags for the bench's
// compression: bud keeps its layers uncompressed in its storage, push
// compresses them (containers/image).
func buildahPushCompressionArgs() []string {
	return []string{"--compression-format=" + benchCompression, fmt.Sprintf("--compression-level=%d", benchLevel)}
}

// compressionOf is how the builder named b (a -cached or -exec variant
// as its builder) compresses.
func compressionOf(b string) compression {
	base := strings.TrimSuffix(b, cachedSuffix)
	switch base {
	case "ours", "ours-host", "ours-exec":
		return compression{benchCompression, benchLevel, strings.Join(executorCompressionArgs(), " ") + " (its default too); pgzip, blocks compressed on all cores"}
	case "kaniko", "kaniko-exec":
		return compression{benchCompression, benchLevel, strings.Join(executorCompressionArgs(), " ") + " (its default too: go-containerregistry's gzip.BestSpeed); compress/gzip, one stream per layer"}
	case "buildkit":
		return compression{benchCompression, benchLevel, "output compression=gzip,compression-level=1,force-compression=true (without them: gzip's default level); with a level BuildKit compresses new layers itself, compress/gzip, one stream per layer"}
	case "buildah":
		return compression{benchCompression, benchLevel, "buildah push " + strings.Join(buildahPushCompressionArgs(), " ") + " (without them: pgzip's default level); bud keeps layers uncompressed, push compresses them, pgzip, blocks on all cores"}
	case "docker":
		return compression{benchCompression, 6, "cannot be set: docker push compresses in dockerd with compress/gzip's default level (6); the legacy builder has no option for it"}
	case "floor", "floor-added":
		return compression{benchCompression, benchLevel, fmt.Sprintf("pigz -%d, all cores; sha256 of the tar and of its compression", benchLevel)}
	case containerStart:
		return compression{Note: "no build, nothing compressed"}
	}
	return compression{}
}
