package main

import (
	"bytes"
	"context"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
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
	// Again, the cache holds the registry's image: it is left alone,
	// unless --force.
	for _, force := range []bool{false, true} {
		stderr.Reset()
		args := []string{"-i", base, "-c", cacheDir, "--cache-ttl=1h"}
		if force {
			args = append(args, "-f")
		}
		if code := Main(context.Background(), args, &stderr); code != 0 {
			t.Fatalf("warmer exit %d: %s", code, stderr.String())
		}
		if got := strings.HasPrefix(stderr.String(), "already cached "+base); got == force {
			t.Errorf("--force=%v: %s", force, stderr.String())
		}
	}
	srv.Close() // from here on, only the cache has the base
	_, err = engine.Build(context.Background(), engine.Options{
		Context: engine.ContextOptions{Source: dir}, Cache: engine.CacheOptions{Dir: cacheDir},
		Output: engine.OutputOptions{NoPush: true, OCILayoutPath: filepath.Join(t.TempDir(), "out")},
		Root:   engine.RootOptions{TempDir: t.TempDir()},
	})
	if err != nil {
		t.Fatalf("build from the warmed cache: %v", err)
	}
}

// The registry flags are the executor's: they parse into remote.Options
// by the same code (remote.RegistryOptions.Options).
func TestRegistryFlagsAreTheExecutors(t *testing.T) {
	t.Setenv("KANIKO_REGISTRY_MIRROR", "")
	t.Setenv("KANIKO_REGISTRY_MAP", "")
	c, err := parseArgs([]string{"-i", "busybox", "--insecure-registry=reg.local:5000", "--insecure-registry=",
		"--registry-map=index.docker.io=m1;quay.io=q1", "--registry-map=index.docker.io=m2",
		"--registry-mirror=mirror.local", "--registry-certificate=reg.local:5000=/ca.pem",
		"--skip-tls-verify-pull", "--push-retry=2", "--image-download-retry=7",
		"--custom-platform=linux/arm64/v8"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	o := c.remote
	if want := []string{"reg.local:5000"}; !reflect.DeepEqual(o.InsecureRegistries, want) {
		t.Errorf("insecure registries %q, want %q", o.InsecureRegistries, want)
	}
	if want := map[string][]string{"index.docker.io": {"m1", "m2"}, "quay.io": {"q1"}}; !reflect.DeepEqual(o.RegistryMap, want) {
		t.Errorf("registry map %v, want %v", o.RegistryMap, want)
	}
	if want := []string{"mirror.local"}; !reflect.DeepEqual(o.Mirrors, want) {
		t.Errorf("mirrors %q, want %q", o.Mirrors, want)
	}
	if o.TLS.Certificates["reg.local:5000"] != "/ca.pem" || !o.TLS.SkipVerifyPull || o.Retries != 7 {
		t.Errorf("certificates %v, skip-tls-verify-pull %v, retries %d", o.TLS.Certificates, o.TLS.SkipVerifyPull, o.Retries)
	}
	if want := (v1.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}); !o.Platform.Equals(want) {
		t.Errorf("platform %+v, want %+v", o.Platform, want)
	}
	c, err = parseArgs([]string{"--custom-platform=windows/amd64:10.0.17763.1879"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if p := c.remote.Platform; p.OS != "windows" || p.Architecture != "amd64" || p.OSVersion != "10.0.17763.1879" {
		t.Errorf("os/arch:osversion: %+v", p)
	}
	if c, err = parseArgs(nil, io.Discard); err != nil {
		t.Fatal(err)
	}
	if p := c.remote.Platform; p.OS != runtime.GOOS || p.Architecture != runtime.GOARCH {
		t.Errorf("no --custom-platform: %+v, want this machine's", p)
	}
	for _, tc := range []struct{ arg, msg string }{
		{"--custom-platform=linux", "--custom-platform=linux"},
		{"--custom-platform=/amd64", "--custom-platform=/amd64"},
		{"--custom-platform=linux/arm64/v8/x", "--custom-platform=linux/arm64/v8/x"},
		{"--registry-map=m1", "--registry-map"},
		{"--registry-client-cert=reg=cert-only", "--registry-client-cert"},
		{"--verbosity=loud", "--verbosity=loud"},
	} {
		var stderr bytes.Buffer
		if code := Main(context.Background(), []string{"-i", "busybox", tc.arg}, &stderr); code != 2 || !strings.Contains(stderr.String(), tc.msg) {
			t.Errorf("%s: exit %d (%s), want 2 naming %s", tc.arg, code, stderr.String(), tc.msg)
		}
	}
}
