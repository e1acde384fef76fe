#!/usr/bin/env bash
# make release REGISTRY=registry.example.com/team VERSION=v0.1.0 [RELEASE_OUT=dir] [INSECURE=1]
#
# Cross-compiles the executor (its --version says VERSION) and the warmer
# for linux/amd64 and linux/arm64, builds the executor, debug and warmer
# images of each with our own executor (cmd/executor/image/build.sh, no
# Docker), pushes each image as an index of both (cmd/release):
# REGISTRY/executor:VERSION, REGISTRY/executor:VERSION-debug and
# REGISTRY/warmer:VERSION. It writes their
# references into catalog/release.json and regenerates catalog/, examples/
# and README.md from it (cmd/catalog). With RELEASE_OUT=dir those are copied
# to dir and rendered there; the tree is left alone.
#
# Needs root (apt for the arm64 busybox) and bin/executor (make build).
# Credentials: $DOCKER_CONFIG/config.json, as docker and the executor.
set -euo pipefail
cd "$(dirname "$0")/../.."
: "${REGISTRY:?set REGISTRY, e.g. make release REGISTRY=registry.example.com/team VERSION=v0.1.0}"
: "${VERSION:?set VERSION, e.g. make release REGISTRY=registry.example.com/team VERSION=v0.1.0}"
GO=${GO:-go}
work=_out/release
arches="amd64 arm64"
host=$(dpkg --print-architecture)

log() { printf 'release: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

# busybox ARCH: Debian's busybox-static for ARCH, unpacked once into
# $work/busybox/ARCH.
busybox() {
	local arch=$1 dir=$work/busybox/$1
	[ -x "$dir/bin/busybox" ] && return
	log "downloading busybox-static:$arch"
	if [ "$arch" != "$host" ] && ! dpkg --print-foreign-architectures | grep -qx "$arch"; then
		dpkg --add-architecture "$arch" || die "dpkg --add-architecture $arch failed (run as root)"
	fi
	if ! apt-cache show "busybox-static:$arch" >/dev/null 2>&1; then
		apt-get update -qq || die "apt-get update failed"
	fi
	rm -rf "$dir.tmp" && mkdir -p "$dir.tmp"
	(cd "$dir.tmp" && apt-get download -qq "busybox-static:$arch") ||
		die "apt-get download busybox-static:$arch failed"
	dpkg-deb -x "$dir.tmp"/busybox-static_*.deb "$dir.tmp/root" || die "unpacking busybox-static:$arch failed"
	mkdir -p "$dir/bin" && cp "$dir.tmp/root/bin/busybox" "$dir/bin/busybox"
	rm -rf "$dir.tmp"
}

[ -x bin/executor ] || die "bin/executor is missing: run make build (make release does)"
busybox "$host" # lists the applets for every platform's debug image
for arch in $arches; do
	busybox "$arch"
	log "building linux/$arch"
	for cmd in executor warmer; do
		CGO_ENABLED=0 GOOS=linux GOARCH=$arch $GO build -trimpath -ldflags="-s -w -X main.version=$VERSION" \
			-o "$work/bin/$arch/$cmd" "./cmd/$cmd" || die "go build ./cmd/$cmd for linux/$arch failed"
	done
	PLATFORM=linux/$arch EXECUTOR=$work/bin/$arch/executor WARMER=$work/bin/$arch/warmer \
		BUSYBOX=$work/busybox/$arch/bin/busybox APPLETS_FROM=$work/busybox/$host/bin/busybox \
		OUT=$work/layouts/$arch LAYOUT=1 bash cmd/executor/image/build.sh ||
		die "building the images for linux/$arch failed"
done

out=${RELEASE_OUT:-.}
if [ "$out" != . ]; then
	mkdir -p "$out" && rm -rf "${out:?}/catalog" "$out/examples"
	cp -r catalog examples README.md "$out/"
fi
$GO run ./cmd/release -registry "$REGISTRY" -version "$VERSION" -layouts "$work/layouts" \
	-out "$out/catalog/release.json" -insecure="$([ "${INSECURE:-}" = 1 ] && echo true || echo false)"
$GO run ./cmd/catalog -root "$out" -release "$out/catalog/release.json"
log "rendered catalog/, examples/ and README.md in $out"
