#!/usr/bin/env bash
# Installs and builds what `make bench` compares our executor with, and the
# Debian base image of the apt context. Idempotent: each part is skipped
# when its output is already there.
#
#   apt:      buildah, debootstrap, pigz, runc (only the missing ones)
#   Kaniko:   its executor and its warmer built from its Go module (module
#             proxy, never committed here) into
#             $BENCH_CACHE/kaniko-$KANIKO_VERSION/{executor,warmer}, then
#             made into the image kaniko-bench/executor:$KANIKO_VERSION the
#             way Kaniko's own deploy/Dockerfile lays it out, the warmer at
#             /kaniko/warmer as in its debug image
#   BuildKit: buildkitd and buildctl at the version in our go.mod, into
#             $BENCH_CACHE/buildkit-$BUILDKIT_VERSION/ (e2e/buildkit.sh)
#   Debian:   debootstrap --variant=minbase bookworm from this machine's apt
#             mirror, as $BENCH_CACHE/debian-bookworm-minbase.tar.gz
#
# Environment:
#   BENCH_CACHE          default ~/.cache/kaniko-build-bench
#   KANIKO_VERSION       default v1.24.0
#   BUILDKIT_VERSION     default: github.com/moby/buildkit's version in go.mod
#   BENCH_DEBIAN_MIRROR  default: the first Debian URI in the apt sources
set -euo pipefail

repo=$(cd "$(dirname "$0")/../.." && pwd)
cache=${BENCH_CACHE:-$HOME/.cache/kaniko-build-bench}
kaniko_version=${KANIKO_VERSION:-v1.24.0}
buildkit_version=${BUILDKIT_VERSION:-$(cd "$repo" && go list -m -f '{{.Version}}' github.com/moby/buildkit)}
mkdir -p "$cache"

log() { printf 'peers.sh: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

[ "$(id -u)" -eq 0 ] || die "must run as root (apt-get, debootstrap, docker)"

# --- packages ---------------------------------------------------------------
declare -A want=(
	[buildah]=/usr/bin/buildah
	[debootstrap]=/usr/sbin/debootstrap
	[pigz]=/usr/bin/pigz
	[runc]=/usr/sbin/runc
)
missing=()
for pkg in "${!want[@]}"; do
	[ -e "${want[$pkg]}" ] || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
	log "installing: ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >"$cache/apt.log" 2>&1 ||
		{ tail -n 30 "$cache/apt.log" >&2; die "apt-get install failed (log: $cache/apt.log)"; }
fi

# A throwaway module outside the repository: go.mod's replace-free module
# graph of the peer, resolved by the module proxy. -mod=mod because the
# throwaway has no vendor directory and its go.sum starts empty.
gobuild() { # dir out ldflags packages...
	local dir=$1 out=$2 ldflags=$3
	shift 3
	(cd "$dir" && CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -ldflags "$ldflags" -o "$out" "$@")
}

# --- Kaniko -----------------------------------------------------------------
kdir="$cache/kaniko-$kaniko_version"
src="$kdir/src"
# Kaniko's Makefile: -s -w and the version stamped in, for both programs.
kldflags="-s -w -X github.com/GoogleContainerTools/kaniko/pkg/version.version=$kaniko_version"
# kaniko_module makes, once, the throwaway module that requires Kaniko:
# its main.go is Kaniko's own cmd/executor/main.go, less the slowjam stack
# logger (STACKLOG_PATH profiling, off unless set).
kaniko_module() {
	grep -qs "github.com/GoogleContainerTools/kaniko $kaniko_version" "$src/go.mod" && return 0
	rm -rf "$src" && mkdir -p "$src"
	cat >"$src/main.go" <<'EOF'
package main

import (
	"os"

	"github.com/GoogleContainerTools/kaniko/cmd/executor/cmd"
)

func main() {
	if err := cmd.RootCmd.Execute(); err != nil {
		os.Exit(1)
	}
}
EOF
	(cd "$src" && go mod init kaniko-bench-build >/dev/null 2>&1 &&
		GOFLAGS=-mod=mod go get "github.com/GoogleContainerTools/kaniko@$kaniko_version" >"$kdir/build.log" 2>&1) ||
		{ tail -n 30 "$kdir/build.log" >&2; die "go get kaniko failed"; }
}
mkdir -p "$kdir"
if [ ! -x "$kdir/executor" ]; then
	log "building Kaniko $kaniko_version's executor from github.com/GoogleContainerTools/kaniko (takes minutes)"
	kaniko_module
	gobuild "$src" "$kdir/executor.tmp" "$kldflags" . \
		>>"$kdir/build.log" 2>&1 || { tail -n 30 "$kdir/build.log" >&2; die "building kaniko failed"; }
	mv "$kdir/executor.tmp" "$kdir/executor"
fi
# The warmer (kaniko-cached fills its --cache-dir with it): Kaniko's
# cmd/warmer/main.go is used as it is, so the package itself is built,
# from the same module and with the same flags (its Makefile's out/warmer).
if [ ! -x "$kdir/warmer" ]; then
	log "building Kaniko $kaniko_version's warmer"
	kaniko_module
	gobuild "$src" "$kdir/warmer.tmp" "$kldflags" github.com/GoogleContainerTools/kaniko/cmd/warmer \
		>>"$kdir/build.log" 2>&1 || { tail -n 30 "$kdir/build.log" >&2; die "building kaniko's warmer failed"; }
	mv "$kdir/warmer.tmp" "$kdir/warmer"
fi

# The image: Kaniko's deploy/Dockerfile target kaniko-executor, less the
# cloud credential helpers (unused against a local registry): /kaniko
# (mode 0777) with the executor, CA certificates and an empty .docker,
# /etc/nsswitch.conf, and the same ENV, WORKDIR and ENTRYPOINT. Plus
# /kaniko/warmer, as in its kaniko-debug target (Kaniko publishes the
# warmer alone in the kaniko-warmer target, the same base): the bench runs
# it with --entrypoint.
kimage="kaniko-bench/executor:$kaniko_version"
ksum=$(sha256sum "$kdir/executor" | cut -c1-64)
wsum=$(sha256sum "$kdir/warmer" | cut -c1-64)
if [ "$(docker image inspect -f '{{index .Config.Labels "kb-bench.executor"}} {{index .Config.Labels "kb-bench.warmer"}}' "$kimage" 2>/dev/null)" != "$ksum $wsum" ]; then
	log "making image $kimage"
	rootfs="$kdir/rootfs"
	rm -rf "$rootfs"
	mkdir -p "$rootfs/kaniko/.docker" "$rootfs/kaniko/ssl/certs" "$rootfs/etc" "$rootfs/workspace"
	chmod 0777 "$rootfs/kaniko"
	cp "$kdir/executor" "$rootfs/kaniko/executor"
	cp "$kdir/warmer" "$rootfs/kaniko/warmer"
	cp /etc/ssl/certs/ca-certificates.crt "$rootfs/kaniko/ssl/certs/"
	cat >"$rootfs/etc/nsswitch.conf" <<'EOF'
passwd:         compat
group:          compat
shadow:         compat
gshadow:        files

hosts:          files dns
networks:       files

protocols:      db files
services:       db files
ethers:         db files
rpc:            db files

netgroup:       nis
EOF
	tar --numeric-owner --owner=0 --group=0 -C "$rootfs" -cf - . | docker import \
		--change 'ENV HOME=/root' \
		--change 'ENV USER=root' \
		--change 'ENV PATH=/usr/local/bin:/kaniko' \
		--change 'ENV SSL_CERT_DIR=/kaniko/ssl/certs' \
		--change 'ENV DOCKER_CONFIG=/kaniko/.docker/' \
		--change 'ENV DOCKER_CREDENTIAL_GCR_CONFIG=/kaniko/.config/gcloud/docker_credential_gcr_config.json' \
		--change 'WORKDIR /workspace' \
		--change "LABEL kb-bench.executor=$ksum" \
		--change "LABEL kb-bench.warmer=$wsum" \
		--change 'ENTRYPOINT ["/kaniko/executor"]' \
		- "$kimage" >/dev/null
	rm -rf "$rootfs"
fi

# --- BuildKit ---------------------------------------------------------------
bdir=$(BUILDKIT_VERSION=$buildkit_version bash "$repo/e2e/buildkit.sh")

# --- Debian base ------------------------------------------------------------
deb="$cache/debian-bookworm-minbase.tar.gz"
DEBIAN_MIRROR=${BENCH_DEBIAN_MIRROR:-${DEBIAN_MIRROR:-}} bash "$repo/e2e/debian-base.sh" "$deb"

log "ready: $("$kdir/executor" version 2>/dev/null | tr -s ' '), buildkit $("$bdir/buildctl" --version | awk '{print $3}'), $(buildah --version), Debian base $(du -h "$deb" | cut -f1)"
