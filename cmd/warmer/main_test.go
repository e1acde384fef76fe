package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	ggcr "github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/kaniko-build/kaniko-build/e2e/baseimage"
	"github.com/kaniko-build/kaniko-build/engine"
	"github.com/kaniko-build/kaniko-build/engine/remote"
)

// kanikoWarmerFlags are the flags of Kaniko's warmer (its
// cmd/warmer/cmd/root.go), each with its shorthand and our default, and
// a use of it with what it must change. The defaults are Kaniko's but for
// --log-format: text, as the executor's (Kaniko's is color).
var kanikoWarmerFlags = []struct {
	name, short, def string
	args             []string
	ok               func(c *config, logged string) bool
}{
	{"verbosity", "v", "info", []string{"-v", "debug"}, func(_ *config, logged string) bool {
		return strings.Contains(logged, "debug probe")
	}},
	{"log-format", "", "text", []string{"--log-format=json"}, func(_ *config, logged string) bool {
		return strings.HasPrefix(logged, "{") && strings.Contains(logged, `"msg":"info probe"`)
	}},
	{"log-timestamp", "", "false", []string{"--log-timestamp"}, func(_ *config, logged string) bool {
		return strings.Contains(logged, fmt.Sprint(time.Now().Year()))
	}},
	{"image", "i", "[]", []string{"-i", "a", "--image", "b"}, func(c *config, _ string) bool {
		return reflect.DeepEqual(c.images, []string{"base", "a", "b"})
	}},
	{"cache-dir", "c", "/cache", []string{"-c", "/tmp/warm"}, func(c *config, _ string) bool { return c.cacheDir == "/tmp/warm" }},
	{"force", "f", "false", []string{"-f"}, func(c *config, _ string) bool { return c.force }},
	{"cache-ttl", "", "336h0m0s", []string{"--cache-ttl=1h30m"}, func(c *config, _ string) bool { return c.cacheTTL == 90*time.Minute }},
	{"insecure-pull", "", "false", []string{"--insecure-pull"}, func(c *config, _ string) bool { return c.remote.InsecurePull }},
	{"skip-tls-verify-pull", "", "false", []string{"--skip-tls-verify-pull"}, func(c *config, _ string) bool { return c.remote.TLS.SkipVerifyPull }},
	{"insecure-registry", "", "[]", []string{"--insecure-registry=r:5000", "--insecure-registry", "s"}, func(c *config, _ string) bool {
		return reflect.DeepEqual(c.remote.InsecureRegistries, []string{"r:5000", "s"})
	}},
	{"skip-tls-verify-registry", "", "[]", []string{"--skip-tls-verify-registry=r:5000"}, func(c *config, _ string) bool {
		return reflect.DeepEqual(c.remote.TLS.SkipVerifyRegistries, []string{"r:5000"})
	}},
	{"registry-certificate", "", "[]", []string{"--registry-certificate=r:5000=/ca.pem"}, func(c *config, _ string) bool {
		return reflect.DeepEqual(c.remote.TLS.Certificates, map[string]string{"r:5000": "/ca.pem"})
	}},
	{"registry-client-cert", "", "[]", []string{"--registry-client-cert=r:5000=/c.pem,/k.pem"}, func(c *config, _ string) bool {
		return reflect.DeepEqual(c.remote.TLS.ClientCerts, map[string][2]string{"r:5000": {"/c.pem", "/k.pem"}})
	}},
	{"registry-map", "", "[]", []string{"--registry-map=quay.io=m.local;index.docker.io=h.local"}, func(c *config, _ string) bool {
		return reflect.DeepEqual(c.remote.RegistryMap, map[string][]string{"quay.io": {"m.local"}, "index.docker.io": {"h.local"}})
	}},
	{"registry-mirror", "", "[]", []string{"--registry-mirror=m.local", "--registry-mirror=n.local"}, func(c *config, _ string) bool {
		return reflect.DeepEqual(c.remote.Mirrors, []string{"m.local", "n.local"})
	}},
	{"skip-default-registry-fallback", "", "false", []string{"--skip-default-registry-fallback"}, func(c *config, _ string) bool {
		return c.remote.MirrorsOnly
	}},
	{"customPlatform", "", "", []string{"--customPlatform=linux/arm64/v8"}, func(c *config, _ string) bool {
		return c.remote.Platform.Equals(v1.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"})
	}},
	{"dockerfile", "d", "", []string{"-d", "/src/Dockerfile"}, func(c *config, _ string) bool { return c.dockerfile == "/src/Dockerfile" }},
	{"build-arg", "", "[]", []string{"--build-arg=A=1", "--build-arg", "B"}, func(c *config, _ string) bool {
		return reflect.DeepEqual(c.buildArgs, []string{"A=1", "B"})
	}},
}

// Every flag of Kaniko's warmer is ours, with its shorthand and default,
// and changes what it should.
func TestKanikoWarmerFlags(t *testing.T) {
	t.Setenv("KANIKO_REGISTRY_MIRROR", "")
	t.Setenv("KANIKO_REGISTRY_MAP", "")
	if len(kanikoWarmerFlags) != 19 {
		t.Fatalf("Kaniko's warmer has 19 flags, the table %d", len(kanikoWarmerFlags))
	}
	fs := newFlagSet(&config{}, &remote.RegistryOptions{}, new(string))
	for _, tc := range kanikoWarmerFlags {
		f := fs.Lookup(tc.name)
		if f == nil {
			t.Errorf("--%s: missing", tc.name)
			continue
		}
		if f.Shorthand != tc.short || f.DefValue != tc.def {
			t.Errorf("--%s: shorthand %q default %q, want %q %q", tc.name, f.Shorthand, f.DefValue, tc.short, tc.def)
		}
		var logged bytes.Buffer
		c, err := parseArgs(append([]string{"-i", "base"}, tc.args...), &logged)
		if err != nil {
			t.Errorf("%q: %v", tc.args, err)
			continue
		}
		c.log.Debug("debug probe")
		c.log.Info("info probe")
		if !tc.ok(c, logged.String()) {
			t.Errorf("%q: not in the options (logged %q)", tc.args, logged.String())
		}
	}
	// Without them: Kaniko's defaults.
	var logged bytes.Buffer
	c, err := parseArgs([]string{"-i", "base"}, &logged)
	if err != nil {
		t.Fatal(err)
	}
	c.log.Debug("debug probe")
	c.log.Info("info probe")
	if c.cacheDir != "/cache" || c.cacheTTL != 14*24*time.Hour || c.force || strings.Contains(logged.String(), "debug probe") {
		t.Errorf("defaults: cache dir %q, ttl %s, force %v, logged %q", c.cacheDir, c.cacheTTL, c.force, logged.String())
	}
	if p := c.remote.Platform; p.OS != runtime.GOOS || p.Architecture != runtime.GOARCH {
		t.Errorf("no --customPlatform: %+v, want this machine's", p)
	}
	// The executor's spelling is ours too.
	if c, err = parseArgs([]string{"-i", "base", "--custom-platform=linux/s390x"}, io.Discard); err != nil || c.remote.Platform.Architecture != "s390x" {
		t.Errorf("--custom-platform: %v %+v", err, c)
	}
}

// The registry flags are the executor's: they parse into remote.Options
// by the same code (remote.RegistryOptions.Options), with those Kaniko's
// warmer lacks.
func TestRegistryFlagsAreTheExecutors(t *testing.T) {
	t.Setenv("KANIKO_REGISTRY_MIRROR", "env.mirror")
	t.Setenv("KANIKO_REGISTRY_MAP", "quay.io=q2")
	c, err := parseArgs([]string{"-i", "busybox", "--insecure-registry=reg.local:5000", "--insecure-registry=",
		"--registry-map=index.docker.io=m1;quay.io=q1", "--registry-map=index.docker.io=m2",
		"--registry-mirror=mirror.local", "--push-retry=2", "--image-download-retry=7", "--insecure", "--skip-tls-verify",
		"--custom-platform=windows/amd64:10.0.17763.1879"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	o := c.remote
	if want := []string{"reg.local:5000"}; !reflect.DeepEqual(o.InsecureRegistries, want) {
		t.Errorf("insecure registries %q, want %q", o.InsecureRegistries, want)
	}
	if want := map[string][]string{"index.docker.io": {"m1", "m2"}, "quay.io": {"q1", "q2"}}; !reflect.DeepEqual(o.RegistryMap, want) {
		t.Errorf("registry map %v, want %v", o.RegistryMap, want)
	}
	if want := []string{"mirror.local", "env.mirror"}; !reflect.DeepEqual(o.Mirrors, want) {
		t.Errorf("mirrors %q, want %q", o.Mirrors, want)
	}
	if o.Retries != 7 || !o.Insecure || !o.TLS.SkipVerify {
		t.Errorf("retries %d, insecure %v, skip-tls-verify %v", o.Retries, o.Insecure, o.TLS.SkipVerify)
	}
	if p := o.Platform; p.OS != "windows" || p.Architecture != "amd64" || p.OSVersion != "10.0.17763.1879" {
		t.Errorf("os/arch:osversion: %+v", p)
	}
}

// A bad flag fails with exit 2 and an error naming it.
func TestFlagErrorsNameTheFlag(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		msg  string
	}{
		{nil, 2, "--image or --dockerfile"},
		{[]string{"-i", "busybox", "--customPlatform=linux"}, 2, "--custom-platform=linux"},
		{[]string{"-i", "busybox", "--custom-platform=/amd64"}, 2, "--custom-platform=/amd64"},
		{[]string{"-i", "busybox", "--custom-platform=linux/arm64/v8/x"}, 2, "--custom-platform=linux/arm64/v8/x"},
		{[]string{"-i", "busybox", "--cache-ttl=soon"}, 2, "--cache-ttl"},
		{[]string{"-i", "busybox", "--force=maybe"}, 2, "--force"},
		{[]string{"-i", "busybox", "--registry-map=m1"}, 2, "--registry-map"},
		{[]string{"-i", "busybox", "--registry-certificate=reg"}, 2, "--registry-certificate"},
		{[]string{"-i", "busybox", "--registry-client-cert=reg=cert-only"}, 2, "--registry-client-cert"},
		{[]string{"-i", "busybox", "--verbosity=loud"}, 2, "--verbosity=loud"},
		{[]string{"-i", "busybox", "--log-format=xml"}, 2, "--log-format=xml"},
		{[]string{"-d", filepath.Join(t.TempDir(), "none")}, 1, "--dockerfile"},
		{[]string{"-d", writeFile(t, "FROM scratch\n"), "--build-arg==x"}, 1, "--build-arg"},
	} {
		var stderr bytes.Buffer
		if code := Main(context.Background(), tc.args, &stderr); code != tc.code || !strings.Contains(stderr.String(), tc.msg) {
			t.Errorf("%q: exit %d (%s), want %d naming %s", tc.args, code, stderr.String(), tc.code, tc.msg)
		}
	}
}

func writeFile(t *testing.T, text string) string {
	p := filepath.Join(t.TempDir(), "Dockerfile")
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// testRegistry is a registry on 127.0.0.1 that counts the blobs it serves.
type testRegistry struct {
	host     string
	blobGets atomic.Int64
}

func newRegistry(t *testing.T) *testRegistry {
	t.Helper()
	r := &testRegistry{}
	h := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method == http.MethodGet && strings.Contains(req.URL.Path, "/blobs/") {
			r.blobGets.Add(1)
		}
		h.ServeHTTP(w, req)
	}))
	t.Cleanup(srv.Close)
	r.host = strings.TrimPrefix(srv.URL, "http://")
	return r
}

func (r *testRegistry) push(t *testing.T, ref string, img v1.Image) v1.Hash {
	t.Helper()
	n, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	if err := ggcr.Write(n, img); err != nil {
		t.Fatal(err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func randomImage(t *testing.T) v1.Image {
	t.Helper()
	img, err := random.Image(512, 2)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// warm runs the warmer, failing the test on a non-zero exit; it returns
// what it printed.
func warm(t *testing.T, args ...string) string {
	t.Helper()
	var stderr bytes.Buffer
	if code := Main(context.Background(), args, &stderr); code != 0 {
		t.Fatalf("warmer %q: exit %d: %s", args, code, stderr.String())
	}
	return stderr.String()
}

func lookup(t *testing.T, cacheDir, ref string, p v1.Platform) *remote.CachedEntry {
	t.Helper()
	e, err := (&remote.ImageCache{Path: filepath.Join(cacheDir, "images")}).Lookup(ref, p)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func here() v1.Platform { return v1.Platform{OS: runtime.GOOS, Architecture: runtime.GOARCH} }

// --cache-ttl: the registry's current image, cached less long ago, is
// left alone; cached longer ago, it is stored again. --force stores it
// again whatever its age, downloading a damaged blob anew.
func TestCacheTTLAndForce(t *testing.T) {
	reg := newRegistry(t)
	ref := reg.host + "/app/base:1"
	img := randomImage(t)
	d := reg.push(t, ref, img)
	cacheDir := t.TempDir()

	if out := warm(t, "-i", ref, "-c", cacheDir); !strings.Contains(out, fmt.Sprintf("cached %s (%s)", ref, d)) {
		t.Fatalf("first warm: %s", out)
	}
	first := lookup(t, cacheDir, ref, here())
	if first == nil || first.Digest != d || time.Since(first.Stored) > time.Minute {
		t.Fatalf("cached %+v, want %s stored now", first, d)
	}

	gets := reg.blobGets.Load()
	if out := warm(t, "-i", ref, "-c", cacheDir, "--cache-ttl=1h"); !strings.Contains(out, "already cached "+ref) {
		t.Errorf("within --cache-ttl: %s", out)
	}
	// The config alone: a pull reads it at once, under retry.
	if n := reg.blobGets.Load() - gets; n > 1 {
		t.Errorf("an image within --cache-ttl: %d blobs fetched", n)
	}
	if e := lookup(t, cacheDir, ref, here()); !e.Stored.Equal(first.Stored) {
		t.Errorf("within --cache-ttl, stored again: %s, was %s", e.Stored, first.Stored)
	}

	if out := warm(t, "-i", ref, "-c", cacheDir, "--cache-ttl=1ns"); !strings.Contains(out, "again: cached longer ago than --cache-ttl=1ns") {
		t.Errorf("past --cache-ttl: %s", out)
	}
	if e := lookup(t, cacheDir, ref, here()); e.Digest != d || !e.Stored.After(first.Stored) {
		t.Errorf("past --cache-ttl: %+v, first stored %s", e, first.Stored)
	}

	// A blob damaged in place, same size: only --force notices.
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	ld, err := layers[0].Digest()
	if err != nil {
		t.Fatal(err)
	}
	blob := filepath.Join(cacheDir, "images", "blobs", ld.Algorithm, ld.Hex)
	data, err := os.ReadFile(blob)
	if err != nil {
		t.Fatal(err)
	}
	data[0] ^= 0xff
	if err := os.WriteFile(blob, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if out := warm(t, "-i", ref, "-c", cacheDir); !strings.Contains(out, "already cached "+ref) {
		t.Errorf("without --force: %s", out)
	}
	for _, force := range []string{"-f", "--force"} {
		gets = reg.blobGets.Load()
		if out := warm(t, "-i", ref, "-c", cacheDir, force); !strings.Contains(out, fmt.Sprintf("cached %s (%s) again: --force", ref, d)) {
			t.Errorf("%s: %s", force, out)
		}
		if reg.blobGets.Load() == gets {
			t.Errorf("%s: the registry served no blob", force)
		}
		if got := fileDigest(t, blob); got != ld.Hex {
			t.Errorf("%s: the damaged blob is still damaged (sha256 %s, want %s)", force, got, ld.Hex)
		}
	}

	// The tag moved: the new image replaces the old, whatever the TTL.
	d2 := reg.push(t, ref, randomImage(t))
	if out := warm(t, "-i", ref, "-c", cacheDir); !strings.Contains(out, fmt.Sprintf("cached %s (%s), replacing %s", ref, d2, d)) {
		t.Errorf("moved tag: %s", out)
	}
	if e := lookup(t, cacheDir, ref, here()); e.Digest != d2 {
		t.Errorf("moved tag: cached %s, want %s", e.Digest, d2)
	}
}

func fileDigest(t *testing.T, p string) string {
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// --customPlatform (or --custom-platform) picks the image of an index;
// a Dockerfile stage's FROM --platform wins over it, as in a build.
func TestCustomPlatformPicksFromAnIndex(t *testing.T) {
	reg := newRegistry(t)
	ref := reg.host + "/multi/base:1"
	amd64 := v1.Platform{OS: "linux", Architecture: "amd64"}
	arm64 := v1.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}
	images := map[string]v1.Image{"amd64": randomImage(t), "arm64": randomImage(t)}
	idx := mutate.AppendManifests(empty.Index,
		mutate.IndexAddendum{Add: images["amd64"], Descriptor: v1.Descriptor{Platform: &amd64}},
		mutate.IndexAddendum{Add: images["arm64"], Descriptor: v1.Descriptor{Platform: &arm64}})
	n, _ := name.ParseReference(ref)
	if err := ggcr.WriteIndex(n, idx); err != nil {
		t.Fatal(err)
	}
	digest := func(arch string) v1.Hash {
		d, err := images[arch].Digest()
		if err != nil {
			t.Fatal(err)
		}
		return d
	}

	cacheDir := t.TempDir()
	warm(t, "-i", ref, "-c", cacheDir, "--customPlatform=linux/arm64/v8")
	if e := lookup(t, cacheDir, ref, arm64); e == nil || e.Digest != digest("arm64") {
		t.Errorf("--customPlatform=linux/arm64/v8: cached %+v, want %s", e, digest("arm64"))
	}
	if e := lookup(t, cacheDir, ref, amd64); e != nil {
		t.Errorf("--customPlatform=linux/arm64/v8 cached linux/amd64 too: %+v", e)
	}
	warm(t, "-i", ref, "-c", cacheDir, "--custom-platform=linux/amd64")
	if e := lookup(t, cacheDir, ref, amd64); e == nil || e.Digest != digest("amd64") {
		t.Errorf("--custom-platform=linux/amd64: cached %+v, want %s", e, digest("amd64"))
	}

	cacheDir = t.TempDir()
	df := writeFile(t, "FROM --platform=linux/amd64 "+ref+" AS tool\nFROM "+ref+"\nCOPY --from=tool / /\n")
	warm(t, "-d", df, "-c", cacheDir, "--customPlatform=linux/arm64/v8")
	for arch, p := range map[string]v1.Platform{"amd64": amd64, "arm64": arm64} {
		if e := lookup(t, cacheDir, ref, p); e == nil || e.Digest != digest(arch) {
			t.Errorf("Dockerfile stage for %s: cached %+v, want %s", arch, e, digest(arch))
		}
	}
}

// --registry-map and --registry-mirror send the pulls to the mirror; the
// image is cached under the name the Dockerfile uses.
func TestRegistryMapAndMirrorRedirect(t *testing.T) {
	t.Setenv("KANIKO_REGISTRY_MIRROR", "")
	t.Setenv("KANIKO_REGISTRY_MAP", "")
	reg := newRegistry(t)
	dApp := reg.push(t, reg.host+"/team/app:1", randomImage(t))
	dHub := reg.push(t, reg.host+"/library/busybox:1", randomImage(t))
	cacheDir := t.TempDir()
	// The fallback is off: nothing may reach the real registries.
	warm(t, "-c", cacheDir, "--skip-default-registry-fallback", "-i", "registry.invalid/team/app:1",
		"--registry-map=registry.invalid="+reg.host)
	if e := lookup(t, cacheDir, "registry.invalid/team/app:1", here()); e == nil || e.Digest != dApp {
		t.Errorf("--registry-map: cached %+v, want %s", e, dApp)
	}
	warm(t, "-c", cacheDir, "--skip-default-registry-fallback", "-i", "busybox:1", "--registry-mirror=http://"+reg.host+"/")
	if e := lookup(t, cacheDir, "busybox:1", here()); e == nil || e.Digest != dHub {
		t.Errorf("--registry-mirror: cached %+v, want %s", e, dHub)
	}
	t.Setenv("KANIKO_REGISTRY_MIRROR", reg.host)
	if out := warm(t, "-c", cacheDir, "--skip-default-registry-fallback", "-i", "docker.io/library/busybox:1"); !strings.Contains(out, "already cached") {
		t.Errorf("$KANIKO_REGISTRY_MIRROR: %s", out)
	}
}

// --dockerfile by URL, its FROM lines expanded with --build-arg (KEY=VALUE,
// or KEY from the environment, as the executor's).
func TestDockerfileBasesWithBuildArgs(t *testing.T) {
	reg := newRegistry(t)
	d1 := reg.push(t, reg.host+"/a/one:1", randomImage(t))
	d2 := reg.push(t, reg.host+"/a/two:1", randomImage(t))
	text := "ARG REG\nARG TAG=0\nFROM ${REG}/a/one:${TAG}\nFROM ${REG}/a/two:${TAG} AS two\nFROM two\nFROM scratch\n"
	web := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, text) }))
	defer web.Close()
	t.Setenv("TAG", "1")
	cacheDir := t.TempDir()
	out := warm(t, "-d", web.URL+"/Dockerfile", "-c", cacheDir, "--build-arg=REG="+reg.host, "--build-arg", "TAG")
	for ref, d := range map[string]v1.Hash{reg.host + "/a/one:1": d1, reg.host + "/a/two:1": d2} {
		if e := lookup(t, cacheDir, ref, here()); e == nil || e.Digest != d {
			t.Errorf("%s: cached %+v, want %s (%s)", ref, e, d, out)
		}
	}
	if strings.Count(out, "cached ") != 2 {
		t.Errorf("each base once: %s", out)
	}
}

// As Kaniko's warmer: an image that cannot be pulled is a warning while
// another is cached, an error when none is.
func TestFailsOnlyWhenNothingIsCached(t *testing.T) {
	reg := newRegistry(t)
	good := reg.host + "/ok/base:1"
	reg.push(t, good, randomImage(t))
	missing := reg.host + "/missing/base:1"
	cacheDir := t.TempDir()
	if out := warm(t, "-c", cacheDir, "-i", missing, "-i", good); !strings.Contains(out, "cached "+good) || !strings.Contains(out, missing) {
		t.Errorf("one of two cached: %s", out)
	}
	var stderr bytes.Buffer
	if code := Main(context.Background(), []string{"-c", cacheDir, "-i", missing}, &stderr); code != 1 || !strings.Contains(stderr.String(), missing) {
		t.Errorf("none cached: exit %d: %s", code, stderr.String())
	}
	// With --log-format=json, every line is JSON, the error too.
	stderr.Reset()
	if code := Main(context.Background(), []string{"-c", cacheDir, "-i", good, "-i", missing, "--log-format=json"}, &stderr); code != 0 {
		t.Errorf("json: exit %d: %s", code, stderr.String())
	}
	if code := Main(context.Background(), []string{"-c", cacheDir, "-i", missing, "--log-format=json"}, &stderr); code != 1 {
		t.Errorf("json, none cached: exit %d: %s", code, stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
	for _, l := range lines {
		if !json.Valid([]byte(l)) {
			t.Errorf("--log-format=json: not JSON: %s", l)
		}
	}
	if want := []string{`"event":"already-cached"`, `"event":"warm-failed"`, `"event":"error"`}; len(lines) != len(want) {
		t.Errorf("--log-format=json: %d lines, want %d: %s", len(lines), len(want), stderr.String())
	} else {
		for i, w := range want {
			if !strings.Contains(lines[i], w) {
				t.Errorf("--log-format=json line %d: %s, want %s", i, lines[i], w)
			}
		}
	}
}

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
	if err := ggcr.Write(ref, img); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	df := filepath.Join(dir, "Dockerfile")
	if err := os.WriteFile(df, []byte("ARG B="+base+"\nFROM ${B} AS a\nFROM a\nCOPY Dockerfile /df\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cacheDir := t.TempDir()
	if out := warm(t, "--dockerfile", df, "--cache-dir", cacheDir); !strings.Contains(out, "cached "+base) {
		t.Fatalf("warmer output: %s", out)
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
