# kaniko-build: `make demo` for a first build, `make test` for the tests.
SHELL := /bin/bash
GO ?= go
BIN := $(CURDIR)/bin
export CGO_ENABLED ?= 0

.PHONY: all build demo test unit e2e setup image release clean

include catalog/catalog.mk
include e2e/bench/bench.mk
include e2e/cluster/cluster.mk

all: build

build:
	$(GO) build -trimpath -ldflags="-s -w" -o $(BIN)/executor ./cmd/executor
	$(GO) build -trimpath -ldflags="-s -w" -o $(BIN)/warmer ./cmd/warmer

# Builds examples/hello (a static binary on scratch) with the executor into
# an OCI layout and an in-process registry, and prints the digest.
demo: build
	$(GO) build -o examples/hello/hello ./examples/hello
	$(GO) run ./examples/demo $(BIN)/executor examples/hello

# Unit tests, then the conformance suite against docker build. setup.sh
# installs and starts the Docker engine and the registry it needs.
test: setup unit e2e

setup:
	bash e2e/setup.sh

# The engine builds stages and extracts layers concurrently: its packages
# run once more under the race detector (cgo: setup installs gcc).
unit:
	$(GO) test -count=1 ./...
	@if command -v gcc >/dev/null 2>&1; then \
		echo "CGO_ENABLED=1 $(GO) test -race -count=1 ./engine/..."; CGO_ENABLED=1 $(GO) test -race -count=1 ./engine/...; \
	else echo "unit: no gcc here (make setup installs it): no -race run"; fi

# image first: the Tekton and Argo tests run the catalog's steps in the
# executor image (kaniko-build/executor:latest). ./cmd/release runs `make
# release` into a registry of its own, with RELEASE_OUT (TestMakeRelease).
e2e: image
	@mkdir -p _out && rm -f _out/e2e-summary.txt
	E2E_SUMMARY=$(CURDIR)/_out/e2e-summary.txt $(GO) test -count=1 -tags e2e -timeout 40m ./e2e/... ./cmd/release
	@cat _out/e2e-summary.txt

clean:
	rm -rf $(BIN) _out examples/hello/hello

# The executor image (release and :debug), built offline by the executor
# itself and loaded into the local Docker engine.
image: build
	bash cmd/executor/image/build.sh

# The images for linux/amd64 and linux/arm64, pushed as indexes
# REGISTRY/executor:VERSION, REGISTRY/executor:VERSION-debug and
# REGISTRY/warmer:VERSION; catalog/, examples/ and README.md rendered with
# their digests (in RELEASE_OUT instead, when set). See cmd/release/release.sh.
#
#   make release REGISTRY=registry.example.com/team VERSION=v0.1.0
release: build
	REGISTRY='$(REGISTRY)' VERSION='$(VERSION)' RELEASE_OUT='$(RELEASE_OUT)' INSECURE='$(INSECURE)' \
		bash cmd/release/release.sh
