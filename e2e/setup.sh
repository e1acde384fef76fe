#!/usr/bin/env bash
# Installs and starts what the end-to-end tests need: a docker engine (for
# the reference builds with the legacy builder), buildkitd and buildctl
# built from the module proxy (e2e/buildkit.sh) with runc, the
# Distribution registry,
# a static busybox (the base images are made from it), skopeo, buildah,
# pigz and htpasswd, busybox-static for arm64 and qemu-user-static (the
# multi-platform tests), uidmap and subordinate IDs for user nobody (the
# rootless tests), the Debian base's root filesystem (debootstrap,
# e2e/debian-base.sh), and Azurite (npm) for the unit tests of Azure Blob
# contexts. Safe to run again: it installs only what is missing
# and starts dockerd only when `docker info` fails.
#
# Environment:
#   E2E_STATE           directory for dockerd's log and pid (default /tmp/kaniko-build-e2e)
#   E2E_DOCKER_TIMEOUT  seconds to wait for dockerd to answer (default 60)
#   E2E_DOCKER_FS       auto (default): on an ext4 without a journal,
#                       dockerd's storage goes on a journaled one in a file
#                       (docker-fs.sh); host: its default storage
#   E2E_BUSYBOX_ARM64   where to put busybox-static's arm64 binary (default
#                       ~/.cache/kaniko-build-e2e/busybox-arm64)
#   E2E_DEBIAN_BASE     the Debian root filesystem's tarball (default
#                       ~/.cache/kaniko-build-bench/debian-bookworm-minbase.tar.gz,
#                       which make bench shares)
set -euo pipefail

state="${E2E_STATE:-/tmp/kaniko-build-e2e}"
timeout="${E2E_DOCKER_TIMEOUT:-60}"
mkdir -p "$state"

log() { printf 'e2e/setup.sh: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

if [ "$(id -u)" -ne 0 ]; then
	die "must run as root (it installs packages and starts dockerd)"
fi

# package -> a file that tells it is installed
declare -A want=(
	[docker.io]=/usr/sbin/dockerd
	[docker-registry]=/usr/bin/docker-registry
	[busybox-static]=/bin/busybox
	[skopeo]=/usr/bin/skopeo
	[buildah]=/usr/bin/buildah
	[pigz]=/usr/bin/pigz
	[apache2-utils]=/usr/bin/htpasswd
	# the Debian base (debian-base.sh)
	[debootstrap]=/usr/sbin/debootstrap
	# BuildKit's OCI worker, for the cases the legacy builder cannot build
	[runc]=/usr/sbin/runc
	# RUN of arm64 programs in the multi-platform tests (qemu-binfmt.sh)
	[qemu-user-static]=/usr/bin/qemu-aarch64-static
	# rootless builds map subordinate IDs with these (nonroot_test.go)
	[uidmap]=/usr/bin/newuidmap
	# go test -race (make unit) needs cgo: a C compiler and libc's headers.
	[gcc]=/usr/bin/gcc
	[libc6-dev]=/usr/include/stdio.h
)
missing=()
for pkg in "${!want[@]}"; do
	if [ ! -e "${want[$pkg]}" ]; then
		missing+=("$pkg")
	fi
done
# busybox-static must really be static: the base images copy it alone.
# (ldd fails on a static binary.)
if [ -e /bin/busybox ] && ldd /bin/busybox >/dev/null 2>&1; then
	missing+=(busybox-static)
fi

if [ "${#missing[@]}" -gt 0 ]; then
	log "installing: ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >"$state/apt.log" 2>&1 ||
		{ tail -n 30 "$state/apt.log" >&2; die "apt-get install failed (full log: $state/apt.log)"; }
fi

# Azurite's Blob service, which the Azure Blob context tests
# (engine/buildctx) start; node and npm are on the machine.
if ! command -v azurite-blob >/dev/null; then
	command -v npm >/dev/null || die "npm not found: azurite (for the Azure Blob context tests) installs with it"
	log "installing azurite 3.37.0 (npm)"
	npm install -g --no-fund --no-audit azurite@3.37.0 >"$state/npm.log" 2>&1 ||
		{ tail -n 30 "$state/npm.log" >&2; die "npm install azurite failed (full log: $state/npm.log)"; }
fi

# The docker CLI may be a newer client than Debian's engine; any client that
# can talk to the engine will do.
command -v docker >/dev/null || die "no docker client on PATH after installing docker.io"

if ! docker info >/dev/null 2>&1; then
	if ! command -v dockerd >/dev/null; then
		die "dockerd not found"
	fi
	# Its storage on a journaled filesystem where the host's has none.
	data_root=$(bash "$(dirname "$0")/docker-fs.sh")
	log "starting dockerd (log: $state/dockerd.log${data_root:+, storage: $data_root})"
	# setsid: dockerd must outlive this script and its caller's process group.
	# The system's PATH: dockerd's containerd looks its shim and runc up
	# there, and a caller's PATH may hold others (e2e/cluster builds them).
	# It keeps no other descriptor of the caller's either (a flock's, a
	# pipe a caller waits on to close).
	(
		for fd in /proc/$BASHPID/fd/*; do
			fd=${fd##*/}
			if [ "$fd" -gt 2 ]; then eval "exec $fd>&-"; fi
		done
		PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin exec setsid dockerd ${data_root:+--data-root "$data_root"} >"$state/dockerd.log" 2>&1 </dev/null
	) &
	echo $! >"$state/dockerd.pid"
	deadline=$((SECONDS + timeout))
	until docker info >/dev/null 2>&1; do
		if ! kill -0 "$(cat "$state/dockerd.pid")" 2>/dev/null; then
			tail -n 30 "$state/dockerd.log" >&2 || true
			die "dockerd exited while starting (log: $state/dockerd.log)"
		fi
		if [ "$SECONDS" -ge "$deadline" ]; then
			tail -n 30 "$state/dockerd.log" >&2 || true
			die "dockerd did not answer within ${timeout}s (log: $state/dockerd.log)"
		fi
		sleep 1
	done
	log "dockerd is ready"
fi

# BuildKit, the reference for what the legacy builder cannot build; the
# bench shares it.
bash "$(dirname "$0")/buildkit.sh" >/dev/null

# Subordinate IDs for user nobody, who runs the rootless e2e builds: the
# executor maps them into its user namespace with newuidmap/newgidmap.
for f in /etc/subuid /etc/subgid; do
	if ! grep -q '^nobody:' "$f" 2>/dev/null; then
		echo 'nobody:3000000:65536' >>"$f"
	fi
done

# busybox-static for arm64, the same version as the host's: the second
# platform of the multi-platform base (e2e/baseimage).
arm64_busybox=${E2E_BUSYBOX_ARM64:-$HOME/.cache/kaniko-build-e2e/busybox-arm64}
if [ ! -s "$arm64_busybox" ]; then
	version=$(dpkg-query -W -f='${Version}' busybox-static)
	log "downloading busybox-static:arm64=$version"
	if ! dpkg --print-foreign-architectures | grep -qx arm64; then
		dpkg --add-architecture arm64
	fi
	apt-get update -qq
	work=$(mktemp -d)
	(cd "$work" && apt-get download -qq "busybox-static:arm64=$version" 2>"$work/download.log") ||
		{ cat "$work/download.log" >&2; rm -rf "$work"; die "apt-get download busybox-static:arm64 failed"; }
	dpkg-deb -x "$work"/busybox-static_*_arm64.deb "$work/root"
	mkdir -p "$(dirname "$arm64_busybox")"
	cp "$work/root/bin/busybox" "$arm64_busybox.tmp"
	mv "$arm64_busybox.tmp" "$arm64_busybox"
	rm -rf "$work"
fi

# The {{debian}} base of the conformance suite; the bench's apt context
# uses the same file.
bash "$(dirname "$0")/debian-base.sh" "${E2E_DEBIAN_BASE:-$HOME/.cache/kaniko-build-bench/debian-bookworm-minbase.tar.gz}"

log "ready: $(docker version --format 'docker engine {{.Server.Version}}' 2>/dev/null), $(/usr/bin/docker-registry --version 2>/dev/null | head -n1)"
