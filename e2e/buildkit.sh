#!/usr/bin/env bash
# Builds buildkitd and buildctl at the version in our go.mod (the module
# proxy, never committed here) into $BENCH_CACHE/buildkit-$BUILDKIT_VERSION/,
# unless they are there already. The conformance suite builds the cases the
# legacy builder cannot build with them, and `make bench` times them.
# Prints the directory.
#
# Environment:
#   BENCH_CACHE       default ~/.cache/kaniko-build-bench
#   BUILDKIT_VERSION  default: github.com/moby/buildkit's version in go.mod
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
cache=${BENCH_CACHE:-$HOME/.cache/kaniko-build-bench}
version=${BUILDKIT_VERSION:-$(cd "$repo" && go list -m -f '{{.Version}}' github.com/moby/buildkit)}
dir="$cache/buildkit-$version"

log() { printf 'buildkit.sh: %s\n' "$*" >&2; }

if [ ! -x "$dir/buildkitd" ] || [ ! -x "$dir/buildctl" ]; then
	log "building BuildKit $version (buildkitd, buildctl; takes minutes)"
	src="$dir/src"
	rm -rf "$src" && mkdir -p "$src"
	cat >"$src/tools.go" <<'EOT'
//go:build tools

package tools

import (
	_ "github.com/moby/buildkit/cmd/buildctl"
	_ "github.com/moby/buildkit/cmd/buildkitd"
)
EOT
	# A throwaway module outside the repository, resolved by the module
	# proxy; -mod=mod because its go.sum starts empty.
	(cd "$src" && go mod init buildkit-build >/dev/null 2>&1 &&
		GOFLAGS=-mod=mod go get "github.com/moby/buildkit@$version" >"$dir/build.log" 2>&1) ||
		{ tail -n 30 "$dir/build.log" >&2; log "error: go get buildkit failed"; exit 1; }
	(cd "$src" && CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath \
		-ldflags "-s -w -X github.com/moby/buildkit/version.Version=$version" -o "$dir/" \
		github.com/moby/buildkit/cmd/buildkitd github.com/moby/buildkit/cmd/buildctl) >>"$dir/build.log" 2>&1 ||
		{ tail -n 30 "$dir/build.log" >&2; log "error: building buildkit failed"; exit 1; }
fi
echo "$dir"
