#!/usr/bin/env bash
# Prints the directory dockerd keeps its storage in, for setup.sh to start
# it with (--data-root), or nothing for dockerd's default.
#
# On an ext4 without a journal (some VMs' root filesystem), ext4 does not
# reuse an inode within 60 seconds of its deletion, and each new file's
# allocation reads past every recently deleted one: 20,000 files created
# right after 20,000 were deleted took up to five times as long here. The tests'
# and the bench's times would then depend on what ran just before. There,
# dockerd's storage goes on a journaled ext4 kept in a sparse file
# (/var/lib/kaniko-build.img, a loop device with direct I/O, discard so that
# deleted files give their space back) mounted at /var/lib/kaniko-build; the
# bench works beside it, on the same filesystem. Idempotent: an existing
# file is mounted again.
#
# Environment:
#   E2E_DOCKER_FS   auto (default) or host: dockerd's default storage, always
set -euo pipefail

dir=/var/lib/kaniko-build
img=/var/lib/kaniko-build.img
# Space left to the host filesystem beside the file, and the file's
# smallest and largest size.
margin=$((10 << 30))
smallest=$((30 << 30))
largest=$((200 << 30))

log() { printf 'e2e/docker-fs.sh: %s\n' "$*" >&2; }

[ "${E2E_DOCKER_FS:-auto}" = auto ] || exit 0
if mountpoint -q "$dir"; then
	echo "$dir/docker"
	exit 0
fi

# Only an ext4 without a journal needs it.
src=$(findmnt -no SOURCE -T /var/lib)
fstype=$(findmnt -no FSTYPE -T /var/lib)
[ "$fstype" = ext4 ] || exit 0
journal=/sys/fs/ext4/$(basename "$(readlink -f "$src")")/journal_task
[ "$(cat "$journal" 2>/dev/null)" = "<none>" ] || exit 0

if [ ! -e "$img" ]; then
	free=$(df --output=avail -B1 /var/lib | tail -n1)
	size=$(( free - margin < largest ? free - margin : largest ))
	if [ "$size" -lt "$smallest" ]; then
		log "only $((free >> 30)) GiB free on /var/lib: dockerd keeps its default storage"
		exit 0
	fi
	log "/var/lib is ext4 without a journal: dockerd's storage goes on a journaled ext4 of $((size >> 30)) GiB in $img"
	truncate -s "$size" "$img.tmp"
	mkfs.ext4 -q -F -L kaniko-build "$img.tmp"
	mv "$img.tmp" "$img"
fi
loop=$(losetup -j "$img" | head -n1 | cut -d: -f1)
if [ -z "$loop" ]; then
	loop=$(losetup -f --show --direct-io=on "$img")
fi
mkdir -p "$dir"
mount -o discard "$loop" "$dir"
echo "$dir/docker"
