#!/usr/bin/env bash
# Makes the Debian base image's root filesystem: debootstrap --variant=minbase
# bookworm from this machine's apt mirror, less what the official image
# leaves out (package lists, caches, /dev's entries), as a gzipped tar at
# $1. Does nothing when $1 is already there. Root only (debootstrap).
#
# Used by e2e/setup.sh (the {{debian}} base of the conformance suite) and
# e2e/bench/peers.sh (the apt context).
#
# Environment:
#   DEBIAN_MIRROR  default: the first Debian URI in the apt sources
set -euo pipefail

out=${1:?usage: debian-base.sh OUT.tar.gz}
log() { printf 'debian-base.sh: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

[ -s "$out" ] && exit 0
[ "$(id -u)" -eq 0 ] || die "must run as root (debootstrap)"
for pkg in debootstrap pigz; do
	if ! command -v "$pkg" >/dev/null && [ ! -x "/usr/sbin/$pkg" ]; then
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$pkg" >/dev/null ||
			die "apt-get install $pkg failed"
	fi
done

# The first Debian archive URI (not -security) of the apt sources, in
# one-line or deb822 format.
debian_mirror() {
	local f
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
		if [ -r "$f" ]; then cat "$f"; fi
	done | awk '/^[[:space:]]*(URIs:|deb[[:space:]])/ {
		for (i = 1; i <= NF; i++) if ($i ~ /^https?:\/\/.*\/debian\/?$/) { print $i; exit }
	}' || true
}

mirror=${DEBIAN_MIRROR:-$(debian_mirror)}
[ -n "$mirror" ] || die "no Debian mirror in the apt sources; set DEBIAN_MIRROR"
mkdir -p "$(dirname "$out")"
work=$(mktemp -d "$(dirname "$out")/debootstrap.XXXXXX")
trap 'rm -rf "$work"' EXIT
log "debootstrap --variant=minbase bookworm from $mirror (takes minutes)"
debootstrap --variant=minbase bookworm "$work/rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 ||
	{ tail -n 30 "$work/debootstrap.log" >&2; die "debootstrap failed"; }
# As the official image: no package lists or caches, an empty /dev.
rm -rf "$work"/rootfs/var/lib/apt/lists/* "$work"/rootfs/var/cache/apt/*.bin \
	"$work"/rootfs/var/cache/apt/archives/*.deb "$work"/rootfs/dev/*
tar --numeric-owner --xattrs -C "$work/rootfs" -cf - . | pigz >"$out.tmp"
mv "$out.tmp" "$out"
log "made $out ($(du -h "$out" | cut -f1))"
