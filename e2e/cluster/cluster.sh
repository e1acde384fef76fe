#!/usr/bin/env bash
# e2e/cluster/cluster.sh: a single-node Kubernetes with Tekton and Argo
# Workflows, built offline from the Go module proxy and Debian packages,
# started from plain processes (no systemd, no kubeadm), and torn down again.
#
#   cluster.sh build   build (or take from the cache) every binary and image
#   cluster.sh up      start the registry, `make release` into it, start etcd,
#                      containerd, Kubernetes, Tekton, Argo
#   cluster.sh test    run the Go tests (tag cluster) against the running cluster
#   cluster.sh down    stop everything and restore the machine
#   cluster.sh all     build, up, test, down (down runs on failure and interrupt)
#
# Everything built is cached under $KB_CLUSTER_CACHE (default
# ~/.cache/kaniko-build-cluster); a run lives in $KB_CLUSTER_STATE (default
# /tmp/kaniko-build-cluster) and is removed by `down`. Needs root.
set -euo pipefail

# Pins of the cluster's components.
K8S_VERSION=v1.34.4          # k8s.io/kubernetes
CONTAINERD_VERSION=v2.4.2    # github.com/containerd/containerd/v2: idmapped mounts for hostUsers: false
RUNC_VERSION=v1.5.3          # github.com/opencontainers/runc (cgo, libseccomp)
K8S_STAGING_VERSION=v0.34.4  # k8s.io/{api,client-go,...} for its ./staging replaces
TEKTON_VERSION=v1.12.0       # github.com/tektoncd/pipeline (as in go.mod)
ARGO_VERSION=v3.7.8          # github.com/argoproj/argo-workflows/v3 (as in go.mod)
TKN_VERSION=v0.45.0          # github.com/tektoncd/cli, on Tekton v1.12.0 (its pod template has hostUsers)
TKN_HUB_VERSION=v1.23.1      # github.com/tektoncd/hub (the proxy refuses the one tkn asks for)
KO_VERSION=v0.19.1           # github.com/google/ko

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
CACHE=${KB_CLUSTER_CACHE:-$HOME/.cache/kaniko-build-cluster}
STATE=${KB_CLUSTER_STATE:-/tmp/kaniko-build-cluster}
BIN=$CACHE/bin
# containerd, its shim and runc: not on PATH, where dockerd (started by
# e2e/setup.sh from this script) would take the shim for its own containerd.
RUNTIME=$CACHE/runtime
POD_CIDR=10.244.0.0/24
POD_GATEWAY=10.244.0.1 # cni0's address; the registry listens there
POD_NET=10.244.0.0/16
SERVICE_CIDR=10.96.0.0/16
SERVICE_IP=10.96.0.1
RELEASE_VERSION=${KB_RELEASE_VERSION:-v0.0.0-e2e}
TEST_TIMEOUT=${KB_CLUSTER_TEST_TIMEOUT:-30m}

export GOMODCACHE=$CACHE/gomod GOCACHE=$CACHE/go-build GOFLAGS=-mod=mod CGO_ENABLED=0
export GONOSUMDB='github.com/argoproj/*' GOTOOLCHAIN=local
export PATH=$BIN:/usr/local/go/bin:/usr/sbin:/usr/bin:/sbin:/bin

log() { printf '%s cluster: %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
now() { date +%s.%N; }
TIMINGS=()
timing() { # name start
	local d; d=$(awk -v a="$2" -v b="$(now)" 'BEGIN{printf "%.1f", b-a}')
	TIMINGS+=("$1 ${d}s"); log "timing: $1 ${d}s"
}

wait_quiet() {
	while [ -e /tmp/kb-quiet ]; do log "waiting: /tmp/kb-quiet exists"; sleep 20; done
}

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("0.0.0.0",0)); print(s.getsockname()[1])'
}

node_ip() {
	ip -4 route show default | awk '{for(i=1;i<NF;i++) if($i=="dev"){print $(i+1); exit}}' |
		{ read -r dev; ip -4 -o addr show dev "$dev" | awk '{split($4,a,"/"); print a[1]; exit}'; }
}

# ---------------------------------------------------------------- build

# heavy cmd...: runs a long compile niced, in its own process group, and
# holds it (SIGSTOP) while /tmp/kb-quiet exists: on a shared machine that file
# asks for quiet during a timing benchmark.
heavy() {
	setsid nice -n 10 "$@" &
	local pid=$! stopped=
	while kill -0 "$pid" 2>/dev/null; do
		if [ -e /tmp/kb-quiet ] && [ -z "$stopped" ]; then
			log "holding the build: /tmp/kb-quiet exists"; kill -STOP -- "-$pid" 2>/dev/null; stopped=1
		elif [ ! -e /tmp/kb-quiet ] && [ -n "$stopped" ]; then
			log "resuming the build"; kill -CONT -- "-$pid" 2>/dev/null; stopped=
		fi
		sleep 2
	done
	wait "$pid"
}
nicego() { heavy go "$@"; }

build_k8s() {
	local stamp=$BIN/.k8s-$K8S_VERSION
	[ -e "$stamp" ] && return
	local d=$CACHE/src/k8s; mkdir -p "$d" "$BIN"
	cat >"$d/go.mod" <<EOF
module kbcluster/k8s

go 1.24

require k8s.io/kubernetes $K8S_VERSION
EOF
	go mod download "k8s.io/kubernetes@$K8S_VERSION"
	local x
	for x in $(awk '$2=="=>" && $3 ~ /^\.\/staging/ {print $1}' "$GOMODCACHE/k8s.io/kubernetes@$K8S_VERSION/go.mod"); do
		echo "replace $x => $x $K8S_STAGING_VERSION" >>"$d/go.mod"
	done
	cat >"$d/tools.go" <<'EOF'
//go:build tools

package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-proxy"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubectl"
	_ "k8s.io/kubernetes/cmd/kubelet"
)
EOF
	local v=k8s.io/component-base/version minor=${K8S_VERSION#v1.}; minor=${minor%%.*}
	(cd "$d" && go mod tidy && nicego build -trimpath \
		-ldflags "-s -w -X $v.gitVersion=$K8S_VERSION -X $v.gitMajor=1 -X $v.gitMinor=$minor" -o "$BIN/" \
		k8s.io/kubernetes/cmd/{kube-apiserver,kube-controller-manager,kube-scheduler,kubelet,kube-proxy,kubectl})
	touch "$stamp"
}

# build_runtime: containerd and runc from their modules, as their Makefiles
# build them, in place of Debian's containerd 1.6 and runc 1.1, which cannot
# run a pod with hostUsers: false (no idmapped mounts).
build_runtime() {
	local stamp=$RUNTIME/.stamp-$CONTAINERD_VERSION-$RUNC_VERSION
	[ -e "$stamp" ] && return
	rm -rf "$RUNTIME"; mkdir -p "$RUNTIME"
	go mod download "github.com/opencontainers/runc@$RUNC_VERSION" "github.com/containerd/containerd/v2@$CONTAINERD_VERSION"
	# runc without libpathrs (a Rust library Debian 12 does not have), which it
	# falls back from.
	(cd "$GOMODCACHE/github.com/opencontainers/runc@$RUNC_VERSION" &&
		CGO_ENABLED=1 nicego build -trimpath -buildmode=pie -tags "seccomp urfave_cli_no_docs" \
			-ldflags "-X main.gitCommit=$RUNC_VERSION" -o "$RUNTIME/runc" .)
	local p=github.com/containerd/containerd/v2
	local ld="-s -w -X $p/version.Version=$CONTAINERD_VERSION -X $p/version.Revision=$CONTAINERD_VERSION -X $p/version.Package=github.com/containerd/containerd"
	(cd "$GOMODCACHE/github.com/containerd/containerd/v2@$CONTAINERD_VERSION" &&
		nicego build -trimpath -tags "urfave_cli_no_docs no_btrfs no_devmapper no_zfs" -ldflags "$ld" -o "$RUNTIME/" ./cmd/containerd ./cmd/ctr &&
		nicego build -trimpath -tags "urfave_cli_no_docs no_grpc" -ldflags "$ld" -o "$RUNTIME/" ./cmd/containerd-shim-runc-v2)
	"$RUNTIME/runc" features | grep -A1 '"idmap"' | grep -q '"enabled": true' || die "runc $RUNC_VERSION reports no idmapped mounts on this kernel"
	touch "$stamp"
}

build_tkn() {
	local stamp=$BIN/.tkn-$TKN_VERSION
	[ -e "$stamp" ] && return
	local d=$CACHE/src/tkn; mkdir -p "$d"
	go mod download "github.com/tektoncd/cli@$TKN_VERSION"
	{
		printf 'module kbcluster/tkn\n\ngo 1.24\n\nrequire github.com/tektoncd/cli %s\n\n' "$TKN_VERSION"
		grep '^replace ' "$GOMODCACHE/github.com/tektoncd/cli@$TKN_VERSION/go.mod" | grep -v '^replace github.com/tektoncd/hub ' || true
		echo "replace github.com/tektoncd/hub => github.com/tektoncd/hub $TKN_HUB_VERSION"
	} >"$d/go.mod"
	printf '//go:build tools\n\npackage tools\n\nimport _ "github.com/tektoncd/cli/cmd/tkn"\n' >"$d/tools.go"
	(cd "$d" && GOSUMDB=off go mod tidy && GOSUMDB=off nicego build -trimpath -ldflags "-s -w" -o "$BIN/tkn" github.com/tektoncd/cli/cmd/tkn)
	touch "$stamp"
}

build_ko() {
	local stamp=$BIN/.ko-$KO_VERSION
	[ -e "$stamp" ] && return
	GOBIN=$BIN nicego install "github.com/google/ko@$KO_VERSION"
	touch "$stamp"
}

build_tools() { # cheap, from this repo: always rebuilt
	(cd "$REPO" && go build -tags 'e2e cluster' -o "$BIN/mkimage" ./e2e/cluster/tools/mkimage &&
		go build -tags cluster -trimpath -ldflags "-s -w" -o "$BIN/pause" ./e2e/cluster/tools/pause)
}

# A registry of our own, without auth, on 127.0.0.1: for building the images
# into $CACHE/registry. Sets BR (host:port) and BR_PID.
start_build_registry() {
	local port; port=$(free_port)
	mkdir -p "$CACHE/registry" "$CACHE/tmp"
	cat >"$CACHE/tmp/build-registry.yml" <<EOF
version: 0.1
log: {level: warn, accesslog: {disabled: true}}
storage: {filesystem: {rootdirectory: $CACHE/registry}, delete: {enabled: true}}
http: {addr: 127.0.0.1:$port}
EOF
	/usr/bin/docker-registry serve "$CACHE/tmp/build-registry.yml" >"$CACHE/tmp/build-registry.log" 2>&1 &
	BR_PID=$!; BR=127.0.0.1:$port
	local i
	for i in $(seq 100); do
		kill -0 "$BR_PID" 2>/dev/null || die "build registry exited: $(cat "$CACHE/tmp/build-registry.log")"
		[ "$(curl -s -o /dev/null -w '%{http_code}' "http://$BR/v2/")" = 200 ] && return
		sleep 0.1
	done
	die "build registry did not start"
}
stop_build_registry() {
	trap - RETURN
	if [ -n "${BR_PID:-}" ]; then kill "$BR_PID" 2>/dev/null || true; wait "$BR_PID" 2>/dev/null || true; fi
	BR_PID=
}

build_images() {
	local stamp=$CACHE/images/.stamp-$TEKTON_VERSION-$ARGO_VERSION-5
	[ -e "$stamp" ] && return
	rm -rf "$CACHE/registry" "$CACHE/images"; mkdir -p "$CACHE/images"
	start_build_registry
	trap 'stop_build_registry' RETURN
	local base pause bb
	# Tekton's images and its shell image run as user 65532, as its
	# released ones (Chainguard's static and busybox) do: what its
	# set-security-context (runAsNonRoot) needs.
	base=$BR/kb/base@$(mkimage image -base -user 65532 "$BR/kb/base:1")
	pause=$BR/kb/pause@$(mkimage image -base -entrypoint /pause "$BR/kb/pause:1" "$BIN/pause=/pause")
	mkimage busybox "$BR/library/busybox:1.37" >/dev/null
	bb=$BR/kb/busybox@$(mkimage busybox -user 65532 "$BR/kb/busybox:1")
	echo "$pause" >"$CACHE/images/pause"

	# Tekton: ko builds its images from the pinned module onto our base.
	local tm=$GOMODCACHE/github.com/tektoncd/pipeline@$TEKTON_VERSION d=$CACHE/src/tekton
	go mod download "github.com/tektoncd/pipeline@$TEKTON_VERSION"
	rm -rf "$d"; mkdir -p "$d"
	{
		printf 'module kbcluster/tekton\n\ngo 1.24\n\nrequire github.com/tektoncd/pipeline %s\n\n' "$TEKTON_VERSION"
		grep '^replace ' "$tm/go.mod" | sed 's://.*$::' || true
	} >"$d/go.mod"
	printf '//go:build tools\n\npackage tools\n\nimport (\n' >"$d/tools.go"
	local c
	for c in controller webhook entrypoint nop sidecarlogresults workingdirinit; do
		printf '\t_ "github.com/tektoncd/pipeline/cmd/%s"\n' "$c" >>"$d/tools.go"
	done
	printf ')\n' >>"$d/tools.go"
	cp -r "$tm/config" "$d/config"; chmod -R u+w "$d/config"
	# No resolvers (they need git and the network), no events controller, no HPA.
	rm -rf "$d/config/resolvers" "$d/config/events.yaml" "$d/config/webhook-hpa.yaml" "$d/config/dummy.go"
	sed -i "s|\"-shell-image\", \"[^\"]*\"|\"-shell-image\", \"$bb\"|" "$d/config/controller.yaml"
	printf 'defaultBaseImage: %s\n' "$base" >"$d/.ko.yaml"
	(cd "$d" && go mod tidy && KO_DOCKER_REPO=$BR/tekton KOCACHE=$CACHE/ko-cache GOFLAGS="-mod=mod -trimpath" \
		heavy ko resolve --insecure-registry -B --sbom=none -R -f config/ >"$CACHE/images/tekton.yaml.tmp")
	sed "s|$BR|KB_REGISTRY|g" "$CACHE/images/tekton.yaml.tmp" >"$CACHE/images/tekton.yaml"

	# Argo: workflow-controller and argoexec from the pinned module; the
	# module zip lacks the symlink signal_linux.go -> signal_darwin.go.
	local am=$GOMODCACHE/github.com/argoproj/argo-workflows/v3@$ARGO_VERSION a=$CACHE/src/argo
	go mod download "github.com/argoproj/argo-workflows/v3@$ARGO_VERSION"
	rm -rf "$a"; mkdir -p "$a"
	cp -r "$am" "$a/argo-workflows"; chmod -R u+w "$a/argo-workflows"
	cp "$a/argo-workflows/workflow/executor/osspecific/signal_darwin.go" "$a/argo-workflows/workflow/executor/osspecific/signal_linux.go"
	{
		printf 'module kbcluster/argo\n\ngo 1.24\n\nrequire github.com/argoproj/argo-workflows/v3 %s\n\n' "$ARGO_VERSION"
		echo "replace github.com/argoproj/argo-workflows/v3 => ./argo-workflows"
		grep '^replace ' "$am/go.mod" || true
	} >"$a/go.mod"
	printf '//go:build tools\n\npackage tools\n\nimport (\n\t_ "github.com/argoproj/argo-workflows/v3/cmd/argoexec"\n\t_ "github.com/argoproj/argo-workflows/v3/cmd/workflow-controller"\n)\n' >"$a/tools.go"
	local av=github.com/argoproj/argo-workflows/v3
	(cd "$a" && go mod tidy && nicego build -trimpath \
		-ldflags "-s -w -X $av.version=$ARGO_VERSION -X $av.gitTag=$ARGO_VERSION" -o "$a/bin/" \
		$av/cmd/argoexec $av/cmd/workflow-controller)
	local wc ex
	wc=$BR/argo/workflow-controller@$(mkimage image -base -user 8737 -entrypoint workflow-controller \
		"$BR/argo/workflow-controller:$ARGO_VERSION" "$a/bin/workflow-controller=/bin/workflow-controller")
	ex=$BR/argo/argoexec@$(mkimage image -base -user 8737 -entrypoint argoexec \
		"$BR/argo/argoexec:$ARGO_VERSION" "$a/bin/argoexec=/bin/argoexec")
	mkdir -p "$a/argo-workflows/manifests/kb-overlay"
	cat >"$a/argo-workflows/manifests/kb-overlay/kustomization.yaml" <<EOF
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: argo
resources:
- ../base/crds/minimal
- ../base/workflow-controller
- ../cluster-install-no-crds/workflow-controller-rbac
images:
- name: quay.io/argoproj/workflow-controller
  newName: ${wc%@*}
  digest: ${wc#*@}
patches:
- target: {kind: Deployment, name: workflow-controller}
  patch: |-
    - op: replace
      path: /spec/template/spec/containers/0/args
      value: [--executor-image, "$ex", --executor-image-pull-policy, IfNotPresent]
    # etcd 3.4 cannot report watch progress, so the apiserver ends every
    # streaming list (client-go's WatchListClient) with an error, and the
    # controller's informers only catch up after their back-off: 30 s per step.
    - op: add
      path: /spec/template/spec/containers/0/env/-
      value: {name: KUBE_FEATURE_WatchListClient, value: "false"}
EOF
	kubectl kustomize "$a/argo-workflows/manifests/kb-overlay" | sed "s|$BR|KB_REGISTRY|g" >"$CACHE/images/argo.yaml"
	rm -rf "$a/argo-workflows" "$a/bin"
	sed -i "s|$BR|KB_REGISTRY|g" "$CACHE/images/pause"
	touch "$stamp"
}

# packages installs what the cluster takes from Debian, only what is
# missing (a fresh machine has none of it), after e2e/setup.sh's own.
packages() {
	bash "$REPO/e2e/setup.sh"
	local -A want=(
		[etcd-server]=/usr/bin/etcd [libseccomp-dev]=/usr/include/seccomp.h [pkg-config]=/usr/bin/pkg-config
		[gcc]=/usr/bin/gcc [libc6-dev]=/usr/include/stdio.h
		[containernetworking-plugins]=/usr/lib/cni/bridge [iptables]=/usr/sbin/iptables
		[conntrack]=/usr/sbin/conntrack [iproute2]=/usr/bin/ss [git]=/usr/bin/git
	)
	local missing=() pkg
	for pkg in "${!want[@]}"; do
		[ -e "${want[$pkg]}" ] || missing+=("$pkg")
	done
	[ "${#missing[@]}" = 0 ] && return 0
	log "installing: ${missing[*]}"
	DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null ||
		die "apt-get install ${missing[*]} failed"
}

do_build() {
	[ "$(id -u)" = 0 ] || die "run as root"
	local t
	t=$(now); packages; timing "packages" "$t"
	t=$(now); wait_quiet; build_k8s; timing "build kubernetes" "$t"
	t=$(now); wait_quiet; build_runtime; timing "build containerd and runc" "$t"
	t=$(now); wait_quiet; build_tkn; timing "build tkn" "$t"
	t=$(now); wait_quiet; build_ko; build_tools; timing "build ko and tools" "$t"
	t=$(now); wait_quiet; build_images; timing "build tekton and argo images" "$t"
}

# ---------------------------------------------------------------- up

SYSCTLS="kernel.panic kernel.panic_on_oops vm.overcommit_memory vm.panic_on_oom kernel.keys.root_maxkeys kernel.keys.root_maxbytes net.ipv4.conf.all.route_localnet net.ipv4.ip_forward net.bridge.bridge-nf-call-iptables net.bridge.bridge-nf-call-ip6tables net.netfilter.nf_conntrack_max net.netfilter.nf_conntrack_tcp_timeout_established net.netfilter.nf_conntrack_tcp_timeout_close_wait"

snapshot() {
	mkdir -p "$STATE/before"
	local s
	for s in $SYSCTLS; do
		sysctl -n "$s" >/dev/null 2>&1 && echo "$s=$(sysctl -n "$s")"
	done >"$STATE/before/sysctl"
	local t
	for t in filter nat mangle raw; do
		iptables -t "$t" -S >"$STATE/before/iptables-$t" 2>/dev/null || true
		ip6tables -t "$t" -S >"$STATE/before/ip6tables-$t" 2>/dev/null || true
	done
	ls /run/netns 2>/dev/null >"$STATE/before/netns" || true
	ls /run/containerd/s 2>/dev/null >"$STATE/before/shim-sockets" || true
	for t in /var/log/containers /var/log/pods /var/lib/cni /run/netns /etc/cni /opt/cni /var/lib/kubelet /etc/kubernetes /opt/containerd /run/containerd /run/containerd/s; do
		[ -e "$t" ] && echo "$t"
	done >"$STATE/before/paths" || true
}

spawn() { # name cmd...: start a daemon, log in $STATE/log/name.log, PID in $STATE/pids/name
	local name=$1; shift
	mkdir -p "$STATE/log" "$STATE/pids"
	setsid "$@" >"$STATE/log/$name.log" 2>&1 </dev/null &
	echo $! >"$STATE/pids/$name"
	log "started $name (pid $!)"
}

alive() { local p; p=$(cat "$STATE/pids/$1" 2>/dev/null) && kill -0 "$p" 2>/dev/null; }

wait_for() { # what timeout-seconds daemon cmd...
	local what=$1 t=$2 d=$3; shift 3
	local end=$(($(date +%s) + t))
	until "$@" >/dev/null 2>&1; do
		[ -z "$d" ] || alive "$d" || { tail -30 "$STATE/log/$d.log" >&2; die "$d exited while waiting for $what"; }
		[ "$(date +%s)" -lt "$end" ] || { [ -z "$d" ] || tail -30 "$STATE/log/$d.log" >&2; die "timed out waiting for $what"; }
		sleep 0.5
	done
}

port_free() { ! ss -Htln "( sport = :$1 )" | grep -q .; }

certs() {
	local c=$STATE/pki; mkdir -p "$c"; cd "$c"
	openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 2 -subj /CN=kb-cluster-ca 2>/dev/null
	mk() { # name subject [sans]
		openssl req -newkey rsa:2048 -nodes -keyout "$1.key" -out "$1.csr" -subj "$2" 2>/dev/null
		if [ -n "${3:-}" ]; then printf 'subjectAltName=%s\n' "$3" >"$1.ext"; else : >"$1.ext"; fi
		openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -out "$1.crt" -days 2 -extfile "$1.ext" 2>/dev/null
	}
	mk apiserver /CN=kube-apiserver "IP:$NODE_IP,IP:$SERVICE_IP,IP:127.0.0.1,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
	mk admin "/O=system:masters/CN=kb-cluster-admin"
	openssl genrsa -out sa.key 2048 2>/dev/null
	openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
	cd - >/dev/null
}

kubeconfig() {
	cat >"$STATE/kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: kb
  cluster: {server: "https://$NODE_IP:$APISERVER_PORT", certificate-authority: $STATE/pki/ca.crt}
users:
- name: admin
  user: {client-certificate: $STATE/pki/admin.crt, client-key: $STATE/pki/admin.key}
contexts:
- name: kb
  context: {cluster: kb, user: admin}
current-context: kb
EOF
}

start_registry() {
	REG_PORT=$(free_port)
	port_free "$REG_PORT" || die "port $REG_PORT is taken"
	# On the pod network's gateway: pods reach it directly, and being a
	# private (RFC 1918) address, clients such as Argo's image lookup use
	# plain HTTP with it as they do with loopback.
	REGISTRY=$POD_GATEWAY:$REG_PORT
	REG_USER=kb-e2e REG_PASS=$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
	mkdir -p "$STATE/registry"
	# The images built once: the registry's own storage, copied.
	cp -a "$CACHE/registry/." "$STATE/registry/data/"
	htpasswd -Bbn "$REG_USER" "$REG_PASS" >"$STATE/registry/htpasswd"
	cat >"$STATE/registry/config.yml" <<EOF
version: 0.1
log: {level: info, accesslog: {disabled: true}}
storage: {filesystem: {rootdirectory: $STATE/registry/data}, delete: {enabled: true}}
auth: {htpasswd: {realm: kb-cluster, path: $STATE/registry/htpasswd}}
http: {addr: $REGISTRY}
EOF
	spawn registry /usr/bin/docker-registry serve "$STATE/registry/config.yml"
	# Ours only if it answers as a registry that wants our credentials and
	# the listening socket belongs to our process.
	wait_for registry 30 registry sh -c "[ \"\$(curl -s -o /dev/null -w '%{http_code}' http://$REGISTRY/v2/)\" = 401 ] && \
		[ \"\$(curl -s -o /dev/null -w '%{http_code}' -u '$REG_USER:$REG_PASS' http://$REGISTRY/v2/)\" = 200 ]"
	ss -Htlnp "( sport = :$REG_PORT )" | grep -q "pid=$(cat "$STATE/pids/registry")," || die "port $REG_PORT is not our registry's"
	log "registry at $REGISTRY (user $REG_USER)"
}

# release_images: the path a user takes. `make release` into the cluster's
# registry (cross-compiled for amd64 and arm64, pushed as image indexes),
# rendering catalog/ and examples/ into $STATE/release; the tests apply them
# from there as they are, so the Task's BUILDER_IMAGE default is what runs.
release_images() {
	local t; t=$(now)
	mkdir -p "$STATE/docker"
	printf '{"auths": {"%s": {"auth": "%s"}}}\n' "$REGISTRY" "$(printf '%s:%s' "$REG_USER" "$REG_PASS" | base64 -w0)" \
		>"$STATE/docker/config.json"
	# The repository's own Go caches, not the cluster build's.
	if ! (cd "$REPO" && heavy env -u GOMODCACHE -u GOCACHE -u GOFLAGS DOCKER_CONFIG="$STATE/docker" \
		make release REGISTRY="$REGISTRY/kaniko-build" VERSION="$RELEASE_VERSION" RELEASE_OUT="$STATE/release") \
		>"$STATE/log/release.log" 2>&1; then
		tail -40 "$STATE/log/release.log" >&2
		die "make release into $REGISTRY failed (log: $STATE/log/release.log)"
	fi
	EXECUTOR_REF=$(sed -n 's/^ *"executor": "\(.*\)",$/\1/p' "$STATE/release/catalog/release.json")
	[ -n "$EXECUTOR_REF" ] || die "no executor in $STATE/release/catalog/release.json"
	log "released $EXECUTOR_REF"
	timing "make release" "$t"
}

start_etcd() {
	ETCD_PORT=$(free_port); local peer; peer=$(free_port)
	spawn etcd /usr/bin/etcd --name kb --data-dir "$STATE/etcd" \
		--listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
		--listen-peer-urls "http://127.0.0.1:$peer" --initial-advertise-peer-urls "http://127.0.0.1:$peer" \
		--initial-cluster "kb=http://127.0.0.1:$peer" --unsafe-no-fsync --quota-backend-bytes 2147483648
	wait_for etcd 30 etcd curl -sf "http://127.0.0.1:$ETCD_PORT/health"
}

start_containerd() {
	local c=$STATE/containerd; mkdir -p "$c/certs.d/$REGISTRY" "$STATE/cni/net.d" "$STATE/cni/ipam"
	cat >"$c/certs.d/$REGISTRY/hosts.toml" <<EOF
server = "http://$REGISTRY"
[host."http://$REGISTRY"]
  capabilities = ["pull", "resolve"]
  skip_verify = true
EOF
	# containerd 2's configuration (version 3); nothing of the machine's
	# /etc/containerd is imported. The registry's credentials in the CRI's
	# registry configs mean pulls without the transfer service.
	cat >"$c/config.toml" <<EOF
version = 3
root = "$c/root"
state = "$c/state"
imports = []
[grpc]
  address = "$c/containerd.sock"
[ttrpc]
  address = "$c/containerd.sock.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""
[plugins."io.containerd.internal.v1.opt"]
  path = "$c/opt"
[plugins."io.containerd.nri.v1.nri"]
  disable = true
[plugins."io.containerd.cri.v1.images"]
  snapshotter = "overlayfs"
  use_local_image_pull = true
  [plugins."io.containerd.cri.v1.images".pinned_images]
    sandbox = "$(sed "s|KB_REGISTRY|$REGISTRY|" "$CACHE/images/pause")"
  [plugins."io.containerd.cri.v1.images".registry]
    config_path = "$c/certs.d"
    [plugins."io.containerd.cri.v1.images".registry.configs."$REGISTRY".auth]
      username = "$REG_USER"
      password = "$REG_PASS"
[plugins."io.containerd.cri.v1.runtime"]
  restrict_oom_score_adj = true
  enable_selinux = false
  cdi_spec_dirs = []
  [plugins."io.containerd.cri.v1.runtime".containerd]
    default_runtime_name = "runc"
    [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc.options]
        BinaryName = "$RUNTIME/runc"
        SystemdCgroup = false
        Root = "$c/runc"
  [plugins."io.containerd.cri.v1.runtime".cni]
    bin_dirs = ["/usr/lib/cni"]
    conf_dir = "$STATE/cni/net.d"
[plugins."io.containerd.image-verifier.v1.bindir"]
  bin_dir = "$c/image-verifier"
EOF
	cat >"$STATE/cni/net.d/10-kb-cluster.conflist" <<EOF
{
  "cniVersion": "0.4.0",
  "name": "kb-cluster",
  "plugins": [
    {"type": "bridge", "bridge": "cni0", "isGateway": true, "ipMasq": false, "hairpinMode": true,
     "ipam": {"type": "host-local", "ranges": [[{"subnet": "$POD_CIDR"}]], "routes": [{"dst": "0.0.0.0/0"}], "dataDir": "$STATE/cni/ipam"}},
    {"type": "firewall", "backend": "iptables"},
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
EOF
	spawn containerd env PATH="$RUNTIME:$PATH" "$RUNTIME/containerd" --config "$c/config.toml"
	wait_for containerd 30 containerd "$RUNTIME/ctr" -a "$c/containerd.sock" version
	# Pods may reach this machine, never anything beyond it.
	iptables -t mangle -N KB-CLUSTER
	iptables -t mangle -A KB-CLUSTER -s "$POD_NET" -d "$POD_NET" -j RETURN
	iptables -t mangle -A KB-CLUSTER -s "$POD_NET" -j DROP
	iptables -t mangle -I FORWARD 1 -j KB-CLUSTER
}

start_kubernetes() {
	APISERVER_PORT=$(free_port)
	certs; kubeconfig
	local p=$STATE/pki
	spawn kube-apiserver kube-apiserver --etcd-servers "http://127.0.0.1:$ETCD_PORT" \
		--advertise-address "$NODE_IP" --bind-address "$NODE_IP" --secure-port "$APISERVER_PORT" \
		--service-cluster-ip-range "$SERVICE_CIDR" --allow-privileged=true \
		--client-ca-file "$p/ca.crt" --tls-cert-file "$p/apiserver.crt" --tls-private-key-file "$p/apiserver.key" \
		--kubelet-client-certificate "$p/admin.crt" --kubelet-client-key "$p/admin.key" \
		--kubelet-preferred-address-types InternalIP \
		--service-account-key-file "$p/sa.pub" --service-account-signing-key-file "$p/sa.key" \
		--service-account-issuer https://kubernetes.default.svc.cluster.local \
		--authorization-mode Node,RBAC --enable-aggregator-routing=true --profiling=false \
		--cert-dir "$p/apiserver-generated"
	wait_for kube-apiserver 90 kube-apiserver kubectl --kubeconfig "$STATE/kubeconfig" get --raw /readyz
	spawn kube-controller-manager kube-controller-manager --kubeconfig "$STATE/kubeconfig" \
		--authentication-kubeconfig "$STATE/kubeconfig" --authorization-kubeconfig "$STATE/kubeconfig" \
		--bind-address 127.0.0.1 --secure-port "$(free_port)" --cert-dir "$p/kcm" \
		--service-account-private-key-file "$p/sa.key" --root-ca-file "$p/ca.crt" \
		--use-service-account-credentials=true --cluster-cidr "$POD_NET" --allocate-node-cidrs=false \
		--service-cluster-ip-range "$SERVICE_CIDR" --leader-elect=false --controllers '*,-nodeipam,-cloud-node-lifecycle'
	spawn kube-scheduler kube-scheduler --kubeconfig "$STATE/kubeconfig" \
		--authentication-kubeconfig "$STATE/kubeconfig" --authorization-kubeconfig "$STATE/kubeconfig" \
		--bind-address 127.0.0.1 --secure-port "$(free_port)" --leader-elect=false
	local k=$STATE/kubelet; mkdir -p "$k/root" "$STATE/pod-logs"
	KUBELET_PORT=$(free_port)
	cat >"$k/config.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $NODE_IP
port: $KUBELET_PORT
readOnlyPort: 0
healthzPort: 0
cgroupDriver: cgroupfs
failCgroupV1: false
failSwapOn: false
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: false}
  x509: {clientCAFile: $STATE/pki/ca.crt}
authorization: {mode: AlwaysAllow}
podLogsDir: $STATE/pod-logs
resolvConf: /etc/resolv.conf
serializeImagePulls: false
evictionHard: {memory.available: "100Mi", nodefs.available: "1%", imagefs.available: "1%"}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
containerRuntimeEndpoint: unix://$STATE/containerd/containerd.sock
maxPods: 60
EOF
	spawn kubelet kubelet --config "$k/config.yaml" --kubeconfig "$STATE/kubeconfig" --root-dir "$k/root" \
		--cert-dir "$k/pki" --node-ip "$NODE_IP" --hostname-override kb-node
	cat >"$STATE/kube-proxy.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: {kubeconfig: $STATE/kubeconfig}
hostnameOverride: kb-node
mode: iptables
clusterCIDR: $POD_NET
bindAddress: 127.0.0.1
healthzBindAddress: 127.0.0.1:$(free_port)
metricsBindAddress: 127.0.0.1:$(free_port)
nodePortAddresses: [primary]
iptables: {localhostNodePorts: false, masqueradeAll: false}
conntrack: {maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
EOF
	spawn kube-proxy kube-proxy --config "$STATE/kube-proxy.yaml"
	wait_for "node Ready" 120 kubelet kubectl --kubeconfig "$STATE/kubeconfig" wait --for=condition=Ready node/kb-node --timeout=2s
	wait_for "default service account" 60 kube-controller-manager kubectl --kubeconfig "$STATE/kubeconfig" get sa default
}

start_tekton_argo() {
	local kc="kubectl --kubeconfig $STATE/kubeconfig"
	sed "s|KB_REGISTRY|$REGISTRY|g" "$CACHE/images/tekton.yaml" >"$STATE/tekton.yaml"
	sed "s|KB_REGISTRY|$REGISTRY|g" "$CACHE/images/argo.yaml" >"$STATE/argo.yaml"
	$kc apply -f "$STATE/tekton.yaml" >"$STATE/log/tekton-apply.log"
	$kc create namespace argo >/dev/null
	$kc apply --server-side -f "$STATE/argo.yaml" >"$STATE/log/argo-apply.log"
	wait_for "tekton" 180 kubelet $kc -n tekton-pipelines wait --for=condition=Available deploy --all --timeout=5s
	wait_for "argo" 180 kubelet $kc -n argo wait --for=condition=Available deploy --all --timeout=5s
	# The webhook answers only once its certificates are in place.
	cat >"$STATE/probe.yaml" <<EOF
apiVersion: tekton.dev/v1
kind: Task
metadata: {name: kb-probe, namespace: default}
spec: {steps: [{name: s, image: x, script: "true"}]}
EOF
	wait_for "tekton webhook" 120 kubelet $kc create --dry-run=server -f "$STATE/probe.yaml"
}

write_env() {
	cat >"$STATE/env" <<EOF
export KUBECONFIG=$STATE/kubeconfig
export KB_CLUSTER_STATE=$STATE
export KB_NODE_IP=$NODE_IP
export KB_REGISTRY=$REGISTRY
export KB_REG_USER=$REG_USER
export KB_REG_PASS=$REG_PASS
export KB_EXECUTOR_IMAGE=$EXECUTOR_REF
export KB_RELEASE=$STATE/release
export KB_BUSYBOX=$REGISTRY/library/busybox:1.37
export KB_BIN=$BIN
EOF
}

do_up() {
	[ "$(id -u)" = 0 ] || die "run as root"
	[ -e "$STATE/pids" ] && die "$STATE/pids exists: a cluster is running or was not torn down (cluster.sh down)"
	ip link show cni0 >/dev/null 2>&1 && die "cni0 exists already: not ours, refusing to start"
	wait_quiet
	rm -rf "$STATE"; mkdir -p "$STATE/pids" "$STATE/log"
	local t; t=$(now)
	NODE_IP=$(node_ip); [ -n "$NODE_IP" ] || die "no node address"
	snapshot
	# linux/arm64 builds on this amd64 node run their RUNs through QEMU,
	# as on a node prepared with tonistiigi/binfmt; removed at down.
	bash "$REPO/e2e/qemu-binfmt.sh" add "$STATE/binfmt.state"
	# cni0 is made here, not by the bridge plugin, so that the registry can
	# listen on its address before the first pod.
	ip link add cni0 type bridge
	ip addr add "$POD_GATEWAY/${POD_CIDR#*/}" dev cni0
	ip link set cni0 up
	start_registry
	release_images
	start_etcd
	start_containerd
	start_kubernetes
	start_tekton_argo
	write_env
	timing "cluster start" "$t"
}

# ---------------------------------------------------------------- down

kill_pid_tree() { # pid: the process and its descendants, by PID
	local p=$1 c
	for c in $(pgrep -P "$p" 2>/dev/null); do kill_pid_tree "$c"; done
	kill -9 "$p" 2>/dev/null || true
}

stop_daemon() {
	local name=$1 p
	p=$(cat "$STATE/pids/$name" 2>/dev/null) || return 0
	if kill -0 "$p" 2>/dev/null; then
		kill -TERM "$p" 2>/dev/null || true
		local i; for i in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.2; done
		kill -0 "$p" 2>/dev/null && kill_pid_tree "$p"
	fi
	rm -f "$STATE/pids/$name"
}

do_down() {
	[ -d "$STATE" ] || { log "nothing to tear down"; return 0; }
	# Best effort, every step: a failing one must not stop the others.
	set +e
	local t; t=$(now)
	local sock=$STATE/containerd/containerd.sock kc="kubectl --kubeconfig $STATE/kubeconfig --request-timeout=10s"
	# Let the kubelet stop the pods: that runs CNI DEL for every sandbox.
	# The controller-manager goes first, so that nothing makes new pods.
	stop_daemon kube-controller-manager
	stop_daemon kube-scheduler
	if alive kubelet && alive kube-apiserver; then
		$kc delete pods -A --all --grace-period=1 --wait=false >/dev/null 2>&1
		local i
		for i in $(seq 60); do
			[ -z "$("$RUNTIME/ctr" -a "$sock" -n k8s.io tasks ls -q 2>/dev/null)" ] && break
			sleep 1
		done
	fi
	stop_daemon kube-proxy
	stop_daemon kubelet
	# Whatever the kubelet left: its tasks are killed and deleted through containerd.
	if alive containerd; then
		local id
		for id in $("$RUNTIME/ctr" -a "$sock" -n k8s.io tasks ls -q 2>/dev/null); do
			"$RUNTIME/ctr" -a "$sock" -n k8s.io tasks kill -s SIGKILL "$id" >/dev/null 2>&1 || true
		done
		sleep 1
		for id in $("$RUNTIME/ctr" -a "$sock" -n k8s.io tasks ls -q 2>/dev/null); do
			"$RUNTIME/ctr" -a "$sock" -n k8s.io tasks delete -f "$id" >/dev/null 2>&1 || true
		done
		for id in $("$RUNTIME/ctr" -a "$sock" -n k8s.io containers ls -q 2>/dev/null); do
			"$RUNTIME/ctr" -a "$sock" -n k8s.io containers delete "$id" >/dev/null 2>&1 || true
		done
	fi
	stop_daemon kube-apiserver
	stop_daemon containerd
	# Shims of our containerd (they name its socket), and their children.
	local p
	for p in $(pgrep -f "containerd-shim.*-address $sock( |$)" 2>/dev/null); do
		log "killing leftover shim $p"; kill_pid_tree "$p"
	done
	# The sockets of shims killed above: containerd 2 keeps them in
	# /run/containerd/s whatever its state directory, and a killed shim
	# leaves its own. Only new ones that nothing listens on go.
	if [ -d /run/containerd/s ]; then
		local live f
		live=$(ss -Hxl 2>/dev/null | awk '{print $5}')
		for f in /run/containerd/s/*; do
			[ -S "$f" ] || continue
			grep -qxF "$(basename "$f")" "$STATE/before/shim-sockets" 2>/dev/null && continue
			printf '%s\n' "$live" | grep -qxF "$f" && continue
			rm -f "$f"
		done
	fi
	stop_daemon etcd
	stop_daemon registry
	local n
	for n in "$STATE"/pids/*; do [ -e "$n" ] && stop_daemon "$(basename "$n")"; done
	# Mounts under the state directory (overlays, shm, pod volumes), deepest first.
	local m
	for m in $(awk '{print $2}' /proc/self/mounts | grep "^$STATE/" | sort -r); do
		umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || log "could not unmount $m"
	done
	# Network namespaces the CRI made, that were not there before.
	if [ -d /run/netns ]; then
		for n in $(ls /run/netns); do
			grep -qx "$n" "$STATE/before/netns" 2>/dev/null && continue
			case $n in cni-*) umount "/run/netns/$n" 2>/dev/null; rm -f "/run/netns/$n";; esac
		done
	fi
	ip link show cni0 >/dev/null 2>&1 && ip link delete cni0
	restore_iptables
	restore_sysctls
	bash "$REPO/e2e/qemu-binfmt.sh" remove "$STATE/binfmt.state"
	# cgroups the kubelet made (cgroupfs driver), deepest first.
	local cg
	for cg in /sys/fs/cgroup/*/kubepods /sys/fs/cgroup/*/kubepods.slice; do
		[ -d "$cg" ] && find "$cg" -depth -type d -exec rmdir {} \; 2>/dev/null
	done
	# Paths outside the state directory that the kubelet, libcni or containerd
	# made and that did not exist before.
	for n in /var/log/containers /var/log/pods /var/lib/cni /run/netns /opt/containerd /var/lib/kubelet /run/containerd/s /run/containerd; do
		[ -e "$n" ] || continue
		grep -qx "$n" "$STATE/before/paths" 2>/dev/null && continue
		case $n in
			/var/log/containers|/var/log/pods) rm -rf "$n" ;;
			/var/lib/cni) rm -rf "$n/results"/kb-cluster-* "$n/networks/kb-cluster"; find "$n" -depth -type d -empty -delete ;;
			*) rmdir "$n" 2>/dev/null || true ;;
		esac
	done
	# Where they existed before: only our entries.
	[ -d /var/log/containers ] && find /var/log/containers -type l -lname "$STATE/*" -delete
	if [ -d /var/lib/cni ] && grep -qx /var/lib/cni "$STATE/before/paths" 2>/dev/null; then
		rm -rf /var/lib/cni/results/kb-cluster-* /var/lib/cni/networks/kb-cluster
	fi
	if awk '{print $2}' /proc/self/mounts | grep -q "^$STATE/"; then
		log "mounts remain under $STATE: not removing it"
	else
		rm -rf "$STATE"
	fi
	timing "tear-down" "$t"
	set -e
}

restore_iptables() {
	local ipt t
	for ipt in iptables ip6tables; do
		command -v "$ipt" >/dev/null || continue
		for t in filter nat mangle raw; do
			local before=$STATE/before/$ipt-$t
			[ -e "$before" ] || continue
			# Only what Kubernetes, the CNI plugins and this script add (chains
			# KUBE-*, CNI-*, KB-* and the rules that jump to them); docker's
			# chains are left alone even if they changed meanwhile.
			$ipt -t "$t" -S 2>/dev/null | grep -E '^-A ' | grep -E -- '-j (KUBE|CNI|KB)-' | while IFS= read -r rule; do
				grep -qxF -- "$rule" "$before" && continue
				eval "$ipt -t $t ${rule/-A/-D}" 2>/dev/null || true
			done
			local chains
			chains=$($ipt -t "$t" -S 2>/dev/null | awk '$1=="-N" && $2 ~ /^(KUBE|CNI|KB)-/ {print $2}' | while read -r c; do grep -qx -- "-N $c" "$before" || echo "$c"; done)
			for c in $chains; do $ipt -t "$t" -F "$c" 2>/dev/null || true; done
			for c in $chains; do $ipt -t "$t" -X "$c" 2>/dev/null || log "could not delete $ipt -t $t chain $c"; done
		done
	done
}

restore_sysctls() {
	[ -e "$STATE/before/sysctl" ] || return 0
	local kv
	while IFS= read -r kv; do
		[ "$(sysctl -n "${kv%%=*}" 2>/dev/null)" = "${kv#*=}" ] || sysctl -qw "$kv" || log "could not restore $kv"
	done <"$STATE/before/sysctl"
}

# ---------------------------------------------------------------- test

do_test() {
	[ -e "$STATE/env" ] || die "no running cluster (cluster.sh up)"
	# shellcheck disable=SC1091
	. "$STATE/env"
	wait_quiet
	local t; t=$(now)
	# In the background, so that a signal reaches the trap at once.
	(cd "$REPO" && exec go test -count=1 -tags cluster -timeout "$TEST_TIMEOUT" -v ./e2e/cluster/ ${KB_CLUSTER_RUN:+-run "$KB_CLUSTER_RUN"}) \
		>"$STATE/test.log" 2>&1 &
	TEST_PID=$!
	tail -n +1 -f --pid="$TEST_PID" "$STATE/test.log" &
	local rc=0
	wait "$TEST_PID" || rc=$?
	TEST_PID=
	timing "tests" "$t"
	grep -E '^\s*--- (PASS|FAIL|SKIP)' "$STATE/test.log" | sed 's/^ */test: /' | while IFS= read -r l; do log "$l"; done
	mkdir -p "$CACHE/logs" && cp "$STATE/test.log" "$CACHE/logs/test-$(date -u +%Y%m%dT%H%M%S).log"
	return "$rc"
}

stop_tests() {
	if [ -n "${WATCHER:-}" ]; then kill "$WATCHER" 2>/dev/null; WATCHER=; fi
	if [ -n "${TEST_PID:-}" ]; then kill_pid_tree "$TEST_PID"; TEST_PID=; fi
	true
}

# On this shared machine a timing benchmark asks for quiet with
# /tmp/kb-quiet: the watcher interrupts the run, which then tears down.
watch_quiet() {
	local main=$1
	while sleep 10; do
		if [ -e /tmp/kb-quiet ]; then kill -INT "$main"; return; fi
	done
}

do_all() {
	local t0 rc=0; t0=$(now)
	do_build
	trap 'log "interrupted"; stop_tests; do_down; exit 130' INT TERM
	trap 'stop_tests; do_down' EXIT
	watch_quiet $$ &
	WATCHER=$!
	do_up
	do_test || rc=$?
	stop_tests
	trap - EXIT INT TERM
	do_down
	timing "total" "$t0"
	printf '\ntimings:\n' >&2; printf '  %s\n' "${TIMINGS[@]}" >&2
	if [ "$rc" = 0 ]; then log "PASS"; else log "FAIL"; fi
	return "$rc"
}

case ${1:-all} in
	build) do_build ;;
	up) trap 'rc=$?; [ $rc = 0 ] || { log "start failed: tearing down"; do_down; }' EXIT; do_up; trap - EXIT ;;
	test) do_test ;;
	down) do_down ;;
	all) do_all ;;
	*) die "usage: $0 build|up|test|down|all" ;;
esac
