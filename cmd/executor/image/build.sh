#!/usr/bin/env bash
# Builds the executor image offline with the executor itself (no registry,
# no internet): release and debug variants as docker-load tarballs, loaded
# into the local Docker engine when one runs.
set -euo pipefail
cd "$(dirname "$0")/../../.."
out=_out/image
executor=${EXECUTOR:-bin/executor}
warmer=${WARMER:-bin/warmer}
tag=${IMAGE:-kaniko-build/executor}
warmer_tag=${WARMER_IMAGE:-kaniko-build/warmer}
rm -rf "$out/ctx" && mkdir -p "$out/ctx/workspace" "$out/ctx/busybox" "$out/ctx/bin"
cp "$executor" "$out/ctx/executor"
cp "$warmer" "$out/ctx/warmer"
ln -s /busybox/sh "$out/ctx/bin/sh"
cp /etc/ssl/certs/ca-certificates.crt "$out/ctx/"
echo '{}' > "$out/ctx/docker-config.json"
bb=/bin/busybox
if ! file -L "$bb" 2>/dev/null | grep -q 'statically linked'; then
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
for applet in $("$bb" --list); do
  [ "$applet" = busybox ] || ln -s busybox "$out/ctx/busybox/$applet"
done
for variant in release debug warmer; do
  name="$tag:latest"
  [ "$variant" = debug ] && name="$tag:debug"
  [ "$variant" = warmer ] && name="$warmer_tag:latest"
  "$executor" --context "$out/ctx" --dockerfile cmd/executor/image/Dockerfile \
    --target "$variant" --no-push --reproducible \
    --destination "$name" --tar-path "$out/executor-$variant.tar"
  if docker info >/dev/null 2>&1; then
    docker load -i "$out/executor-$variant.tar"
  fi
  printf '%s: %s bytes compressed\n' "$name" "$(gzip -c "$out/executor-$variant.tar" | wc -c)"
done
