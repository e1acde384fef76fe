//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/validate"

	"github.com/kaniko-build/kaniko-build/e2e/baseimage"
	"github.com/kaniko-build/kaniko-build/e2e/registry"
)

// envWarmerImage names the warmer image instead of defaultWarmerImage,
// which `make image` builds next to the executor's.
const (
	envWarmerImage     = "E2E_WARMER_IMAGE"
	defaultWarmerImage = "kaniko-build/warmer:latest"
)

// kanikoWarmerFlags are the 19 flags of Kaniko's warmer (its
// cmd/warmer/cmd/root.go); TestImageWarmer uses each.
var kanikoWarmerFlags = []string{
	"verbosity", "log-format", "log-timestamp", "image", "cache-dir", "force", "cache-ttl",
	"insecure-pull", "skip-tls-verify-pull", "insecure-registry", "skip-tls-verify-registry",
	"registry-certificate", "registry-client-cert", "registry-map", "registry-mirror",
	"skip-default-registry-fallback", "customPlatform", "dockerfile", "build-arg",
}

// TestImageWarmer runs the warmer image as a Kaniko user's warm-up job
// would, each of Kaniko's warmer flags doing what it says, against
// registries on 127.0.0.1; then the executor image builds from the warmed
// cache after the base's registry is gone.
func TestImageWarmer(t *testing.T) {
	h := suite
	needImage(t)
	ctx := context.Background()
	image := os.Getenv(envWarmerImage)
	if image == "" {
		image = defaultWarmerImage
	}
	used := map[string]bool{}
	// warm runs the warmer image with the cache at /cache (a host
	// directory) and returns its output; ok says whether it must succeed.
	warm := func(t *testing.T, cache string, ok bool, c container) string {
		t.Helper()
		for _, a := range c.args {
			if f, found := strings.CutPrefix(a, "--"); found {
				used[strings.SplitN(f, "=", 2)[0]] = true
			}
		}
		c.image = image
		c.volumes = append(c.volumes, cache+":/cache")
		out, err := h.runContainer(ctx, &c)
		if ok && err != nil {
			t.Fatalf("warmer %q: %v\n%s", c.args, err, tail(out, 4000))
		}
		if !ok && err == nil {
			t.Fatalf("warmer %q succeeded, want a failure:\n%s", c.args, tail(out, 4000))
		}
		return executorOutput(out)
	}
	want := func(t *testing.T, out string, parts ...string) {
		t.Helper()
		for _, p := range parts {
			if !strings.Contains(out, p) {
				t.Errorf("output lacks %q:\n%s", p, tail(out, 3000))
			}
		}
	}

	plain, base := startRegistry(t, registry.Options{})
	digest := registryDigest(t, base)

	t.Run("dockerfile-then-build-offline", func(t *testing.T) {
		// Kaniko's flags spelled as its docs do, JSON logs at debug level.
		cache, src := t.TempDir(), t.TempDir()
		writeTree(t, src, map[string]string{
			"Dockerfile": "ARG BASE\nFROM $BASE AS a\nFROM a\nCOPY hello.txt /hello.txt\n",
			"hello.txt":  "warm\n",
		})
		out := warm(t, cache, true, container{
			args: []string{"--dockerfile", "/workspace/Dockerfile", "--build-arg", "BASE=" + base,
				"--cache-dir", "/cache", "--log-format=json", "--log-timestamp", "--verbosity", "debug"},
			volumes: []string{src + ":/workspace:ro"},
		})
		debug := false
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			var rec map[string]any
			if err := json.Unmarshal([]byte(line), &rec); err != nil {
				t.Errorf("not a JSON line: %q", line)
				continue
			}
			if _, ok := rec["time"]; !ok {
				t.Errorf("no time in %q (--log-timestamp)", line)
			}
			debug = debug || rec["level"] == "DEBUG"
		}
		if !debug {
			t.Errorf("no DEBUG line with --verbosity debug:\n%s", out)
		}
		want(t, out, fmt.Sprintf("cached %s (%s)", base, digest))

		// The registry is gone: only the cache has the base.
		plain.Close()
		ref := h.reg.Host + "/warmer/offline:1"
		if log, err := h.runContainer(ctx, &container{
			args: []string{"--context", "/workspace", "--build-arg", "BASE=" + base,
				"--cache-dir", "/cache", "--destination", ref},
			volumes: []string{src + ":/workspace:ro", cache + ":/cache"},
		}); err != nil {
			t.Fatalf("executor from the warmed cache: %v\n%s", err, tail(log, 4000))
		}
		checkFiles(t, ref, map[string]string{"/hello.txt": "warm\n"})
	})

	// The rest pulls from the suite's registry.
	busybox := h.bases["busybox"]
	bbDigest := registryDigest(t, busybox)

	t.Run("cache-ttl-and-force", func(t *testing.T) {
		cache := t.TempDir()
		want(t, warm(t, cache, true, container{args: []string{"-i", busybox, "-c", "/cache"}}),
			fmt.Sprintf("cached %s (%s)", busybox, bbDigest))
		want(t, warm(t, cache, true, container{args: []string{"--image", busybox, "-c", "/cache", "--cache-ttl=1h"}}),
			"already cached "+busybox)
		want(t, warm(t, cache, true, container{args: []string{"-i", busybox, "-c", "/cache", "--cache-ttl=1ns"}}),
			"again: cached longer ago than --cache-ttl=1ns")
		want(t, warm(t, cache, true, container{args: []string{"-i", busybox, "-c", "/cache", "--force"}}),
			"again: --force")
		want(t, warm(t, cache, true, container{args: []string{"-i", busybox, "-c", "/cache", "-f"}}),
			"again: --force")
	})

	t.Run("customPlatform", func(t *testing.T) {
		ref, arm := pushTwoPlatformIndex(t, h.reg.Host+"/warmer/multi:1")
		want(t, warm(t, t.TempDir(), true, container{args: []string{"-i", ref, "-c", "/cache", "--customPlatform=linux/arm64"}}),
			fmt.Sprintf("cached %s (%s)", ref, arm))
	})

	t.Run("registry-map-and-mirror", func(t *testing.T) {
		// docker.io/library/warmbase:1 lives only in the local registry.
		bb, err := baseimage.Busybox()
		if err != nil {
			t.Fatal(err)
		}
		if err := baseimage.Push(ctx, bb, h.reg.Host+"/library/warmbase:1"); err != nil {
			t.Fatal(err)
		}
		want(t, warm(t, t.TempDir(), true, container{args: []string{"-i", "warmbase:1", "-c", "/cache",
			"--registry-mirror", h.reg.Host, "--skip-default-registry-fallback"}}), "cached warmbase:1")
		want(t, warm(t, t.TempDir(), true, container{args: []string{"-i", "quay.io/library/warmbase:1", "-c", "/cache",
			"--registry-map", "quay.io=" + h.reg.Host}}), "cached quay.io/library/warmbase:1")
		// Not on the mirror, and no fallback: fails naming the mirror,
		// sending nothing to Docker Hub.
		want(t, warm(t, t.TempDir(), false, container{args: []string{"-i", "notthere:1", "-c", "/cache",
			"--registry-mirror", h.reg.Host, "--skip-default-registry-fallback"}}), h.reg.Host)
	})

	t.Run("insecure", func(t *testing.T) {
		// A name that is not 127.0.0.1 or localhost is reached over HTTPS
		// unless a flag says otherwise; the registry speaks plain HTTP.
		_, port, err := net.SplitHostPort(h.reg.Host)
		if err != nil {
			t.Fatal(err)
		}
		hostPort := "registry.e2e.test:" + port
		ref := hostPort + strings.TrimPrefix(busybox, h.reg.Host)
		hosts := []string{"registry.e2e.test:127.0.0.1"}
		warm(t, t.TempDir(), false, container{args: []string{"-i", ref, "-c", "/cache"}, hosts: hosts})
		for _, flags := range [][]string{{"--insecure-pull"}, {"--insecure-registry", hostPort}} {
			want(t, warm(t, t.TempDir(), true, container{args: append([]string{"-i", ref, "-c", "/cache"}, flags...), hosts: hosts}),
				fmt.Sprintf("cached %s (%s)", ref, bbDigest))
		}
	})

	t.Run("tls", func(t *testing.T) {
		reg, err := registry.Start(ctx, registry.Options{Dir: t.TempDir(), TLS: true})
		if err != nil {
			t.Fatalf("starting a TLS registry: %v", err)
		}
		t.Cleanup(func() { reg.Close() })
		ref := reg.Host + "/base/busybox:1"
		bb, err := baseimage.Busybox()
		if err != nil {
			t.Fatal(err)
		}
		if err := baseimage.Push(ctx, bb, ref, remote.WithTransport(reg.Transport())); err != nil {
			t.Fatal(err)
		}
		certs := filepath.Dir(reg.CAFile)
		mount := []string{certs + ":/certs:ro"}
		// Its CA is nobody's: refused unless trusted or not verified.
		want(t, warm(t, t.TempDir(), false, container{args: []string{"-i", ref, "-c", "/cache"}}), "x509")
		for _, flags := range [][]string{
			{"--registry-certificate", reg.Host + "=/certs/ca.pem"},
			{"--skip-tls-verify-registry", reg.Host},
			{"--skip-tls-verify-pull"},
			// A client certificate is offered (this registry asks for none).
			{"--registry-certificate", reg.Host + "=/certs/ca.pem",
				"--registry-client-cert", reg.Host + "=/certs/server.pem,/certs/server-key.pem"},
		} {
			want(t, warm(t, t.TempDir(), true, container{args: append([]string{"-i", ref, "-c", "/cache"}, flags...), volumes: mount}),
				"cached "+ref)
		}
		// A client certificate that is not there: the flag and file named.
		want(t, warm(t, t.TempDir(), false, container{args: []string{"-i", ref, "-c", "/cache",
			"--registry-client-cert", reg.Host + "=/certs/none.pem,/certs/server-key.pem"}, volumes: mount}),
			"/certs/none.pem")
	})

	for _, f := range kanikoWarmerFlags {
		if !used[f] {
			t.Errorf("--%s: not used by this test", f)
		}
	}
}

// pushTwoPlatformIndex pushes an index of a linux/amd64 and a linux/arm64
// image to ref and returns ref and the arm64 image's digest.
func pushTwoPlatformIndex(t *testing.T, ref string) (string, string) {
	t.Helper()
	idx := v1.ImageIndex(empty.Index)
	var armDigest string
	for _, arch := range []string{"amd64", "arm64"} {
		img, err := random.Image(256, 1)
		if err != nil {
			t.Fatal(err)
		}
		cf, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		cf = cf.DeepCopy()
		cf.OS, cf.Architecture = "linux", arch
		if img, err = mutate.ConfigFile(img, cf); err != nil {
			t.Fatal(err)
		}
		d, err := img.Digest()
		if err != nil {
			t.Fatal(err)
		}
		if arch == "arm64" {
			armDigest = d.String()
		}
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: img,
			Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: arch}}})
	}
	if err := validate.Index(idx); err != nil {
		t.Fatal(err)
	}
	r, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.WriteIndex(r, idx); err != nil {
		t.Fatal(err)
	}
	return ref, armDigest
}
