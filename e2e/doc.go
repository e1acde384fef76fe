// Package e2e holds the end-to-end tests of kaniko-build. They build the
// Dockerfiles under testdata/ with docker's legacy builder and with our
// executor and compare the pushed images; see README.md.
//
// The tests carry the build tag e2e, so `go test ./...` leaves them out:
//
//	bash e2e/setup.sh && go test -tags e2e -timeout 60m ./e2e/...
package e2e
