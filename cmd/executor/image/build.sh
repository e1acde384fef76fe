#!/usr/bin/env bash
# Builds the executor image offline with the executor itself (no registry,
# no internet): release and debug variants and the warmer image.
#
# By default (`make image`) for this machine's platform, as docker-load
# tarballs under _out/image, loaded into the local Docker engine when one
# runs. `make release` (cmd/release/release.sh) runs it once per platform
# with:
#
#   PLATFORM=linux/arm64   the platform of EXECUTOR, WARMER and BUSYBOX
#   EXECUTOR, WARMER       the binaries to put in (default bin/executor, bin/warmer)
#   BUSYBOX                a static busybox for the debug variant (default
#                          /bin/busybox, installed with busybox-static if need be)
#   APPLETS_FROM           a busybox this machine runs, to list the applets
#                          (default BUSYBOX; the same version for another platform)
#   OUT                    the work directory (default _out/image)
#   LAYOUT=1               write each variant as an OCI image layout OUT/<variant>
#                          (OCI media types) instead of a tarball; load nothing
#
# The builder is always bin/executor (BUILDER), which runs here.
set -euo pipefail
cd "$(dirname "$0")/../../.."
out=${OUT:-_out/image}
builder=${BUILDER:-bin/executor}
executor=${EXECUTOR:-bin/executor}
warmer=${WARMER:-bin/warmer}
platform=${PLATFORM:-}
tag=${IMAGE:-kaniko-build/executor}
warmer_tag=${WARMER_IMAGE:-kaniko-build/warmer}
rm -rf "$out/ctx" && mkdir -p "$out/ctx/workspace" "$out/ctx/busybox" "$out/ctx/bin"
cp "$executor" "$out/ctx/executor"
cp "$warmer" "$out/ctx/warmer"
ln -s /busybox/sh "$out/ctx/bin/sh"
cp /etc/ssl/certs/ca-certificates.crt "$out/ctx/"
echo '{}' > "$out/ctx/docker-config.json"
bb=${BUSYBOX:-/bin/busybox}
if [ -z "${BUSYBOX:-}" ] && ! file -L "$bb" 2>/dev/null | grep -q 'statically linked'; then
  # The debug variant's shell: Debian's static busybox.
  if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq busybox-static file >/dev/null
  fi
  if ! file -L "$bb" 2>/dev/null | grep -q 'statically linked'; then
    echo "image: a static busybox is needed for the debug variant (apt-get install busybox-static)" >&2
    exit 1
  fi
fi
cp "$bb" "$out/ctx/busybox/busybox"
for applet in $("${APPLETS_FROM:-$bb}" --list); do
  [ "$applet" = busybox ] || ln -s busybox "$out/ctx/busybox/$applet"
done
for variant in release debug warmer; do
  name="$tag:latest"
  [ "$variant" = debug ] && name="$tag:debug"
  [ "$variant" = warmer ] && name="$warmer_tag:latest"
  args=(--context "$out/ctx" --dockerfile cmd/executor/image/Dockerfile
    --target "$variant" --no-push --reproducible --destination "$name")
  [ -n "$platform" ] && args+=(--custom-platform "$platform")
  if [ "${LAYOUT:-}" = 1 ]; then
    rm -rf "${out:?}/$variant"
    "$builder" "${args[@]}" --image-format oci --oci-layout-path "$out/$variant"
    continue
  fi
  "$builder" "${args[@]}" --tar-path "$out/executor-$variant.tar"
  if docker info >/dev/null 2>&1; then
    docker load -i "$out/executor-$variant.tar"
  fi
  printf '%s: %s bytes compressed\n' "$name" "$(gzip -c "$out/executor-$variant.tar" | wc -c)"
done
