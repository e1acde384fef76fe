// Command demo shows a first build with no outside registry: it builds
// examples/hello with the executor into an OCI layout and into a registry
// running in this process, pulls the image back and prints its digest.
package main

import (
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: demo EXECUTOR CONTEXT")
		os.Exit(2)
	}
	layoutDir := filepath.Join("_out", "hello-oci")
	dest, digest, err := run(os.Args[1], os.Args[2], layoutDir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
	fmt.Printf("\nimage %s\ndigest %s\nOCI layout in %s\n", dest, digest, layoutDir)
}

// run builds ctxDir with the executor into layoutDir and a registry in
// this process, and returns where the image went and its digest, as
// pulled back.
func run(executor, ctxDir, layoutDir string) (dest, digest string, err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", "", fmt.Errorf("listening: %w", err)
	}
	srv := &http.Server{Handler: registry.New(registry.Logger(log.New(io.Discard, "", 0)))}
	go srv.Serve(ln)
	defer srv.Close()

	out, err := os.MkdirTemp("", "demo-")
	if err != nil {
		return "", "", err
	}
	defer os.RemoveAll(out)
	dest = ln.Addr().String() + "/examples/hello:latest"
	digestFile := filepath.Join(out, "digest")
	cmd := exec.Command(executor,
		"--context", ctxDir,
		// Explicit: as with Kaniko, a relative --dockerfile is looked up
		// in the working directory first, and the repository has one.
		"--dockerfile", filepath.Join(ctxDir, "Dockerfile"),
		"--destination", dest,
		"--oci-layout-path", layoutDir,
		"--digest-file", digestFile,
		"--build-arg", "VERSION=demo",
		"--reproducible")
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", "", fmt.Errorf("running the executor: %w", err)
	}
	want, err := os.ReadFile(digestFile)
	if err != nil {
		return "", "", err
	}
	ref, err := name.ParseReference(dest)
	if err != nil {
		return "", "", err
	}
	img, err := remote.Image(ref, remote.WithContext(context.Background()))
	if err != nil {
		return "", "", fmt.Errorf("pulling the image back: %w", err)
	}
	got, err := img.Digest()
	if err != nil {
		return "", "", err
	}
	if got.String() != strings.TrimSpace(string(want)) {
		return "", "", fmt.Errorf("registry has %s, the executor reported %s", got, want)
	}
	return dest, got.String(), nil
}
