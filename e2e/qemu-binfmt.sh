#!/usr/bin/env bash
# Registers (add) or removes (remove) this machine's binfmt_misc handler
# for AArch64 programs: qemu-user-static's emulator with the F flag, so
# that the kernel holds the emulator open and a RUN in a chroot, a mount
# namespace or a container finds it (as docker buildx relies on), and
# the P flag, so that a program sees the argv[0] it was started with
# (busybox's sh runs its applets by argv[0]), as tonistiigi/binfmt and
# Debian register it.
#
#   qemu-binfmt.sh add STATE     register unless a handler for AArch64 is
#                                there already; STATE records what to undo
#   qemu-binfmt.sh remove STATE  undo what add did with STATE, nothing else
#
# A handler registered by someone else is left alone, and so is a
# binfmt_misc mounted by someone else. Root only.
set -euo pipefail

cmd=${1:?usage: qemu-binfmt.sh add|remove STATE}
state=${2:?usage: qemu-binfmt.sh add|remove STATE}
dir=/proc/sys/fs/binfmt_misc
name=kaniko-build-e2e-aarch64
qemu=/usr/bin/qemu-aarch64-static
# The ELF header of a static or dynamic AArch64 executable (e_machine
# 0xb7), as qemu's own qemu-binfmt-conf.sh registers it.
magic='\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00'
mask='\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff'
hexmagic=7f454c460201010000000000000000000200b700

log() { printf 'qemu-binfmt.sh: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

case $cmd in
add)
	[ -x "$qemu" ] || die "no $qemu (run e2e/setup.sh, which installs qemu-user-static)"
	: >"$state"
	if [ ! -e "$dir/register" ]; then
		mount -t binfmt_misc binfmt_misc "$dir" || die "mounting binfmt_misc on $dir failed"
		echo mounted >>"$state"
	fi
	for f in "$dir"/*; do
		case ${f##*/} in register | status) continue ;; esac
		if grep -q "^magic $hexmagic" "$f" 2>/dev/null && grep -qx enabled "$f"; then
			log "AArch64 programs already run through ${f##*/}; leaving it"
			exit 0
		fi
	done
	printf ':%s:M::%s:%s:%s:PF' "$name" "$magic" "$mask" "$qemu" >"$dir/register" ||
		die "registering $qemu with binfmt_misc failed"
	echo registered >>"$state"
	;;
remove)
	[ -e "$state" ] || exit 0
	if grep -qx registered "$state" && [ -e "$dir/$name" ]; then
		echo -1 >"$dir/$name"
	fi
	if grep -qx mounted "$state"; then
		umount "$dir"
	fi
	rm -f "$state"
	;;
*) die "unknown command $cmd: want add or remove" ;;
esac
