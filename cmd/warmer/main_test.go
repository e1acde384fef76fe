package main

import (
	"bytes"
	"context"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/kaniko-build/kaniko-build/e2e/baseimage"
	"github.com/kaniko-build/kaniko-build/engine"
)

// The warmer fills --cache-dir; a build given it needs no registry for
// its base, even when the registry is gone.
func TestWarmedBaseNeedsNoRegistry(t *testing.T) {
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	host := strings.TrimPrefix(srv.URL, "http://")
	img, err := baseimage.Busybox()
	if err != nil {
		t.Fatal(err)
	}
	base := host + "/base/busybox:1"
	ref, _ := name.ParseReference(base)
	if err := remote.Write(ref, img); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	df := filepath.Join(dir, "Dockerfile")
	if err := os.WriteFile(df, []byte("ARG B="+base+"\nFROM ${B} AS a\nFROM a\nCOPY Dockerfile /df\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cacheDir := t.TempDir()
	var stderr bytes.Buffer
	if code := Main(context.Background(), []string{"--dockerfile", df, "--cache-dir", cacheDir}, &stderr); code != 0 {
		t.Fatalf("warmer exit %d: %s", code, stderr.String())
	}
	if !strings.Contains(stderr.String(), "cached "+base) {
		t.Fatalf("warmer output: %s", stderr.String())
	}
	srv.Close() // from here on, only the cache has the base
	_, err = engine.Build(context.Background(), engine.Options{
		Context: dir, NoPush: true, CacheDir: cacheDir, TempDir: t.TempDir(),
		OCILayoutPath: filepath.Join(t.TempDir(), "out"),
	})
	if err != nil {
		t.Fatalf("build from the warmed cache: %v", err)
	}
}
