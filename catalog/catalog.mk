# Generated Tekton and Argo catalog. The top-level Makefile includes this:
#
#   include catalog/catalog.mk
#
# `make catalog` rewrites catalog/task, catalog/stepaction, catalog/argo,
# examples/tekton and examples/argo from the Go code in tekton/ and argo/;
# the tests in those packages fail while the committed files are stale.

GO ?= go

.PHONY: catalog catalog-check catalog-test

catalog:
	$(GO) run ./cmd/catalog

catalog-check:
	$(GO) run ./cmd/catalog -check

catalog-test:
	$(GO) test ./catalog/... ./cmd/catalog ./tekton/... ./argo/... ./examples/kubernetes/...
