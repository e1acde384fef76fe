# `make bench`: cold builds of e2e/bench/contexts/ by our executor and its
# peers (Kaniko, BuildKit, buildah, docker's legacy builder) into a local
# registry; prints the table and writes e2e/bench/results.json and
# results.png. See e2e/bench/README.md. The top-level Makefile includes this:
#
#   include e2e/bench/bench.mk
#
# It needs root, dockerd (setup), our image (image) and the peers
# (bench-peers: apt packages, Kaniko and BuildKit built from the module
# proxy into ~/.cache/kaniko-build-bench, a debootstrapped Debian base).
# BENCH_RUNS (default 5), BENCH_CONTEXTS and BENCH_BUILDERS (comma lists)
# narrow a run, BENCH_SCALE the scale cases and BENCH_PLATFORMS the
# multi-platform case's builders (none for none); BENCH_KEEP=1
# keeps the work directory with every log.

GO ?= go
BENCH_RUNS ?= 5
export BENCH_RUNS

# Keep the including Makefile's default goal.
bench_default_goal := $(.DEFAULT_GOAL)

.PHONY: bench bench-peers bench-go bench-scale bench-platforms

bench: setup image bench-peers
	$(GO) run ./e2e/bench

# The scale cases alone (files, a 10 GiB file, steps, stages, builds at
# once), our image only: replaces the scale rows of results.json and
# keeps the rest. BENCH_SCALE narrows it.
bench-scale: setup image
	BENCH_CONTEXTS=none BENCH_CACHED=none BENCH_BUILDERS=ours BENCH_FLOOR=0 BENCH_PLATFORMS=none $(GO) run ./e2e/bench

# The multi-platform case alone (linux/amd64 and linux/arm64 into one
# index: our image one platform after the other and two at once,
# BuildKit in one build): replaces its rows and keeps the rest.
bench-platforms: setup image bench-peers
	BENCH_CONTEXTS=none BENCH_CACHED=none BENCH_BUILDERS=ours BENCH_FLOOR=0 BENCH_SCALE=none $(GO) run ./e2e/bench

bench-peers:
	bash e2e/bench/peers.sh

# The Go micro-benchmarks, a regression guard for the hot paths: the
# snapshot walk and diff (100k files), a layer's tar + compression + hash
# (~200 MB), a layer's extraction (~200 MB) and the cache key of a COPY
# of 20,000 files.
bench-go:
	$(GO) test -run '^$$' -bench . -benchtime 3x ./engine/snapshot ./engine/image ./engine/filetree ./engine/buildctx
	$(GO) test -run '^$$' -bench Start ./engine/run

.DEFAULT_GOAL := $(bench_default_goal)
