package engine_test

import (
	"context"
	"io"
	"log"
	"net/http"
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

// The push access check runs alongside the build's first steps; when it
// fails, it stops the build and is the error, and nothing is pushed.
func TestPushCheckStopsTheBuild(t *testing.T) {
	host, base := registryWithBase(t, func(reg http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.HasPrefix(r.URL.Path, "/v2/denied/") && r.Method != http.MethodGet && r.Method != http.MethodHead {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusForbidden)
				io.WriteString(w, `{"errors":[{"code":"DENIED","message":"no pushes here"}]}`)
				return
			}
			reg.ServeHTTP(w, r)
		})
	})
	dir := t.TempDir()
	// Without the check, this would fail on its RUN, naming Dockerfile:2.
	df := "FROM " + base.String() + "\nRUN sleep 30 && false\n"
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(df), 0o644); err != nil {
		t.Fatal(err)
	}
	dest := host + "/denied/app:1"
	_, err := engine.Build(context.Background(), engine.Options{
		Context: engine.ContextOptions{Source: dir, Dockerfile: "Dockerfile"},
		Output:  engine.OutputOptions{Destinations: []string{dest}}, Root: engine.RootOptions{TempDir: t.TempDir()},
	})
	if err == nil || !strings.Contains(err.Error(), "checking push access to "+dest) || !strings.Contains(err.Error(), "DENIED") {
		t.Fatalf("err = %v, want the failed push access check", err)
	}
	ref, _ := name.ParseReference(dest)
	if _, err := remote.Head(ref); err == nil {
		t.Fatal("the tag exists")
	}
}

// A build that fails on its own is its own error, though the push check
// is still under way (here it would wait for ever).
func TestBuildErrorWinsOverAPendingPushCheck(t *testing.T) {
	host, base := registryWithBase(t, func(reg http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.HasPrefix(r.URL.Path, "/v2/slow/") && r.Method == http.MethodPost {
				<-r.Context().Done() // until the client gives up
				return
			}
			reg.ServeHTTP(w, r)
		})
	})
	dir := t.TempDir()
	df := "FROM " + base.String() + "\nRUN false\n"
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(df), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := engine.Build(context.Background(), engine.Options{
		Context: engine.ContextOptions{Source: dir, Dockerfile: "Dockerfile"},
		Output:  engine.OutputOptions{Destinations: []string{host + "/slow/app:1"}}, Root: engine.RootOptions{TempDir: t.TempDir()},
	})
	if err == nil || !strings.Contains(err.Error(), "Dockerfile:2") || strings.Contains(err.Error(), "push access") {
		t.Fatalf("err = %v, want the RUN's, naming Dockerfile:2", err)
	}
}

// registryWithBase starts a registry behind wrap and pushes busybox to it
// as host/base/busybox:latest.
func registryWithBase(t *testing.T, wrap func(http.Handler) http.Handler) (host string, base name.Reference) {
	t.Helper()
	srv := httptest.NewServer(wrap(registry.New(registry.Logger(log.New(io.Discard, "", 0)))))
	t.Cleanup(srv.Close)
	host = strings.TrimPrefix(srv.URL, "http://")
	img, err := baseimage.Busybox()
	if err != nil {
		t.Fatal(err)
	}
	base, _ = name.ParseReference(host + "/base/busybox:latest")
	if err := remote.Write(base, img); err != nil {
		t.Fatal(err)
	}
	return host, base
}
