// Package catalog holds what the Tekton and Argo catalog generators share:
// the released builder image, a set of generated files, and the YAML form
// every generated manifest takes.
//
// The directories beside this file (task/, stepaction/, argo/) are output:
// `make catalog` (go run ./cmd/catalog) writes them, and the staleness tests
// in tekton/ and argo/ fail when they differ from what the code generates.
package catalog
