package engine_test

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/google/go-containerregistry/pkg/v1/validate"
	"golang.org/x/sys/unix"

	"github.com/kaniko-build/kaniko-build/e2e/baseimage"
	"github.com/kaniko-build/kaniko-build/engine"
	"github.com/kaniko-build/kaniko-build/engine/run"
)

func TestMain(m *testing.M) {
	run.Init() // the RUN sandbox re-executes the test binary
	os.Exit(m.Run())
}

// env is an in-process registry holding the busybox base image.
type env struct {
	host string
	base string
}

func newEnv(t *testing.T) env {
	t.Helper()
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")
	img, err := baseimage.Busybox()
	if err != nil {
		t.Fatalf("making base image (is busybox-static installed? make setup): %v", err)
	}
	base := host + "/base/busybox:latest"
	ref, err := name.ParseReference(base)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img); err != nil {
		t.Fatal(err)
	}
	return env{host: host, base: base}
}

// build writes files (the Dockerfile among them) into a context and builds
// it to dest; BASE in the Dockerfile is replaced by the base image.
func (e env) build(t *testing.T, files map[string]string, dest string, mod func(*engine.Options)) (v1.Image, error) {
	t.Helper()
	dir := t.TempDir()
	e.writeFiles(t, dir, files)
	return e.buildDir(t, dir, dest, mod)
}

func (e env) writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for p, content := range files {
		content = strings.ReplaceAll(content, "BASE", e.base)
		full := filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// buildDir builds the context dir to dest and pulls the image back.
func (e env) buildDir(t *testing.T, dir, dest string, mod func(*engine.Options)) (v1.Image, error) {
	t.Helper()
	ref := e.host + "/test/" + dest
	opt := engine.Options{
		Context: engine.ContextOptions{Source: dir, Dockerfile: "Dockerfile"},
		Output:  engine.OutputOptions{Destinations: []string{ref}},
		Root:    engine.RootOptions{TempDir: t.TempDir()},
	}
	if mod != nil {
		mod(&opt)
	}
	if _, err := engine.Build(context.Background(), opt); err != nil {
		return nil, err
	}
	r, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	img, err := remote.Image(r)
	if err != nil {
		t.Fatalf("pulling %s back: %v", ref, err)
	}
	if err := validate.Image(img); err != nil {
		t.Fatalf("validate.Image: %v", err)
	}
	return img, nil
}

type file struct {
	typ     byte
	mode    int64
	uid     int
	gid     int
	content string
	link    string
}

// flatten reads the image's final filesystem.
func flatten(t *testing.T, img v1.Image) map[string]file {
	t.Helper()
	rc := mutate.Extract(img)
	defer rc.Close()
	out := map[string]file{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		f := file{typ: h.Typeflag, mode: h.Mode & 0o7777, uid: h.Uid, gid: h.Gid, link: h.Linkname}
		if h.Typeflag == tar.TypeReg {
			dt, _ := io.ReadAll(tr)
			f.content = string(dt)
		}
		out["/"+strings.TrimSuffix(h.Name, "/")] = f
	}
}

func mustBuild(t *testing.T, e env, files map[string]string, mod func(*engine.Options)) (v1.Image, map[string]file) {
	t.Helper()
	img, err := e.build(t, files, strings.ToLower(strings.ReplaceAll(t.Name(), "/", "-")), mod)
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	return img, flatten(t, img)
}

func wantContent(t *testing.T, fs map[string]file, p, want string) {
	t.Helper()
	f, ok := fs[p]
	if !ok {
		t.Fatalf("%s missing from the image", p)
	}
	if f.content != want {
		t.Errorf("%s = %q, want %q", p, f.content, want)
	}
}

func TestRunChangesAndWhiteouts(t *testing.T) {
	e := newEnv(t)
	_, fs := mustBuild(t, e, map[string]string{"Dockerfile": `FROM BASE
RUN mkdir -p /d/sub && echo one > /d/sub/f && rm /bin/cat
RUN rm -rf /d && mkdir /d && echo two > /d/g
RUN mkdir /x && ln -s /d /y && rm -rf /x && ln -s /d /x
RUN echo hi > /h && ln /h /h2 && chmod 4755 /h
`}, nil)
	if _, ok := fs["/bin/cat"]; ok {
		t.Error("/bin/cat was deleted in a RUN but is still there")
	}
	if _, ok := fs["/d/sub/f"]; ok {
		t.Error("/d/sub/f came back after its directory was replaced")
	}
	wantContent(t, fs, "/d/g", "two\n")
	if fs["/x"].typ != tar.TypeSymlink || fs["/x"].link != "/d" {
		t.Errorf("/x = %+v, want a symlink to /d", fs["/x"])
	}
	if fs["/h"].mode != 0o4755 {
		t.Errorf("/h mode = %o, want 4755", fs["/h"].mode)
	}
}

func TestArgScoping(t *testing.T) {
	e := newEnv(t)
	img, fs := mustBuild(t, e, map[string]string{"Dockerfile": `ARG TAG=latest
ARG GLOBAL=g
FROM BASE
ARG GLOBAL
ARG LOCAL=l
ARG FROMFLAG=default
ENV SHADOW=env
ARG SHADOW=arg
RUN echo "$GLOBAL $LOCAL $FROMFLAG $TAG" > /args
RUN echo "$SHADOW" > /shadow
`}, func(o *engine.Options) { o.Build.Args = []string{"FROMFLAG=flag"} })
	wantContent(t, fs, "/args", "g l flag \n")
	// As BuildKit: the ARG declared after ENV wins inside RUN, the config keeps ENV.
	wantContent(t, fs, "/shadow", "arg\n")
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	for _, kv := range cfg.Config.Env {
		if strings.HasPrefix(kv, "LOCAL=") || strings.HasPrefix(kv, "GLOBAL=") {
			t.Errorf("ARG leaked into the config: %s", kv)
		}
	}
}

func TestMultiStageSkipsUnneededStages(t *testing.T) {
	e := newEnv(t)
	_, fs := mustBuild(t, e, map[string]string{"Dockerfile": `FROM BASE AS broken
RUN false
FROM BASE AS builder
RUN mkdir /out && echo built > /out/artifact && chown 1000:1000 /out/artifact
FROM BASE
COPY --from=builder /out/artifact /app/
COPY --from=1 /out /copied
`}, nil)
	wantContent(t, fs, "/app/artifact", "built\n")
	// BuildKit keeps the owner of files copied from a stage.
	if f := fs["/app/artifact"]; f.uid != 1000 || f.gid != 1000 {
		t.Errorf("/app/artifact owner = %d:%d, want 1000:1000", f.uid, f.gid)
	}
	wantContent(t, fs, "/copied/artifact", "built\n")
}

// A stage that starts FROM another and also copies from it reads the
// other as it was built, not its own changes to the files it started with.
func TestStageReadsTheStageItStartsFrom(t *testing.T) {
	e := newEnv(t)
	_, fs := mustBuild(t, e, map[string]string{"Dockerfile": `FROM BASE AS runner
RUN mkdir /out && echo ran > /out/ran
FROM runner AS editor
RUN rm /out/ran && echo edited > /out/edited
COPY --from=runner /out/ran /out/ran-again
`}, nil)
	wantContent(t, fs, "/out/ran-again", "ran\n")
	wantContent(t, fs, "/out/edited", "edited\n")
	if _, ok := fs["/out/ran"]; ok {
		t.Error("/out/ran is in the image; editor deleted it")
	}
}

func TestHeredocs(t *testing.T) {
	e := newEnv(t)
	_, fs := mustBuild(t, e, map[string]string{"Dockerfile": `FROM BASE
ARG NAME=world
RUN <<EOF
echo "hello $NAME" > /greeting
echo second >> /greeting
EOF
RUN <<EOF
#!/bin/sh
echo "from a script" > /script-out
EOF
COPY <<EOF /etc/app.conf
name=${NAME}
EOF
`}, nil)
	wantContent(t, fs, "/greeting", "hello world\nsecond\n")
	wantContent(t, fs, "/script-out", "from a script\n")
	wantContent(t, fs, "/etc/app.conf", "name=world\n")
}

func TestSecretNeverInLayers(t *testing.T) {
	e := newEnv(t)
	secret := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(secret, []byte("s3cr3t"), 0o600); err != nil {
		t.Fatal(err)
	}
	img, fs := mustBuild(t, e, map[string]string{"Dockerfile": `FROM BASE
RUN --mount=type=secret,id=token cat /run/secrets/token | wc -c > /len
RUN --mount=type=tmpfs,target=/scratch echo x > /scratch/y && ls /scratch > /listing
RUN --network=none cat /proc/net/dev | grep -c : > /ifaces
`}, func(o *engine.Options) { o.Build.Secrets = []string{"id=token,src=" + secret} })
	wantContent(t, fs, "/len", "6\n")
	wantContent(t, fs, "/listing", "y\n")
	wantContent(t, fs, "/ifaces", "1\n")
	for p := range fs {
		if strings.HasPrefix(p, "/run/secrets") || strings.HasPrefix(p, "/scratch") {
			t.Errorf("mount point %s ended up in the image", p)
		}
	}
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range layers {
		rc, err := l.Uncompressed()
		if err != nil {
			t.Fatal(err)
		}
		dt, _ := io.ReadAll(rc)
		rc.Close()
		if strings.Contains(string(dt), "s3cr3t") {
			t.Fatal("the secret's content is in a layer")
		}
	}
}

func TestReproducible(t *testing.T) {
	e := newEnv(t)
	files := map[string]string{"Dockerfile": "FROM BASE\nCOPY a /a\nRUN echo x > /x\n", "a": "a"}
	mod := func(o *engine.Options) { o.Build.Reproducible = true }
	img1, err := e.build(t, files, "repro1", mod)
	if err != nil {
		t.Fatal(err)
	}
	img2, err := e.build(t, files, "repro2", mod)
	if err != nil {
		t.Fatal(err)
	}
	d1, _ := img1.Digest()
	d2, _ := img2.Digest()
	if d1 != d2 {
		t.Errorf("reproducible builds differ: %s vs %s", d1, d2)
	}
}

func TestFailedBuildNamesLineAndPushesNothing(t *testing.T) {
	e := newEnv(t)
	_, err := e.build(t, map[string]string{"Dockerfile": "FROM BASE\nRUN true\nRUN false\n"}, "failed:latest", nil)
	if err == nil || !strings.Contains(err.Error(), "Dockerfile:3") {
		t.Fatalf("err = %v, want it to name Dockerfile:3", err)
	}
	ref, _ := name.ParseReference(e.host + "/test/failed:latest")
	_, err = remote.Head(ref)
	var te *transport.Error
	if !errors.As(err, &te) || te.StatusCode != 404 {
		t.Fatalf("the failed build's tag exists or the check failed: %v", err)
	}
	_, err = e.build(t, map[string]string{"Dockerfile": "FROM BASE\nCOPY missing /x\n"}, "missing", nil)
	if err == nil || !strings.Contains(err.Error(), "Dockerfile:2") || !strings.Contains(err.Error(), "missing") {
		t.Fatalf("err = %v, want it to name Dockerfile:2 and the missing file", err)
	}
	_, err = e.build(t, map[string]string{"Dockerfile": "FROM BASE\nNOPE x\n"}, "unknown", nil)
	if err == nil || !strings.Contains(err.Error(), "Dockerfile:2") {
		t.Fatalf("err = %v, want it to name Dockerfile:2", err)
	}
}

func TestCopySemantics(t *testing.T) {
	e := newEnv(t)
	_, fs := mustBuild(t, e, map[string]string{
		"Dockerfile": `FROM BASE
WORKDIR /app
COPY src/ ./
COPY *.txt /texts/
COPY --chown=1000:50 --chmod=640 one.txt /owned/deep/one
COPY --parents src/a/x.go /p/
COPY --exclude=*.md docs /docs
USER app
WORKDIR /home/app/work
`,
		"src/a/x.go":    "package a",
		"src/b.go":      "package b",
		"one.txt":       "1",
		"two.txt":       "2",
		"docs/keep.go":  "k",
		"docs/drop.md":  "d",
		".dockerignore": "two.txt\n",
	}, nil)
	wantContent(t, fs, "/app/a/x.go", "package a")
	wantContent(t, fs, "/app/b.go", "package b")
	wantContent(t, fs, "/texts/one.txt", "1")
	if _, ok := fs["/texts/two.txt"]; ok {
		t.Error(".dockerignore'd two.txt was copied")
	}
	if f := fs["/owned/deep/one"]; f.uid != 1000 || f.gid != 50 || f.mode != 0o640 {
		t.Errorf("/owned/deep/one = %d:%d %o, want 1000:50 640", f.uid, f.gid, f.mode)
	}
	if f := fs["/owned/deep"]; f.uid != 1000 {
		t.Errorf("implicit parent /owned/deep owner = %d, want 1000 as --chown", f.uid)
	}
	wantContent(t, fs, "/p/src/a/x.go", "package a")
	wantContent(t, fs, "/docs/keep.go", "k")
	if _, ok := fs["/docs/drop.md"]; ok {
		t.Error("--exclude'd file was copied")
	}
	if f := fs["/home/app/work"]; f.uid != 1000 {
		t.Errorf("WORKDIR after USER app: owner %d, want 1000 (BuildKit)", f.uid)
	}
}

func TestFromPlatformPicksFromIndex(t *testing.T) {
	e := newEnv(t)
	img, err := baseimage.Busybox()
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	arm := cfg.DeepCopy()
	arm.Architecture = "arm64"
	armImg, err := mutate.ConfigFile(img, arm)
	if err != nil {
		t.Fatal(err)
	}
	idx := mutate.AppendManifests(empty.Index,
		mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}},
		mutate.IndexAddendum{Add: armImg, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "arm64"}}})
	ref, err := name.ParseReference(e.host + "/base/multi:latest")
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.WriteIndex(ref, idx); err != nil {
		t.Fatal(err)
	}
	out, _ := mustBuild(t, e, map[string]string{"Dockerfile": "ARG ARCH=arm64\nFROM --platform=linux/$ARCH " + ref.String() + "\nCOPY f /f\n", "f": "x"}, nil)
	got, err := out.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if got.Architecture != "arm64" {
		t.Errorf("architecture = %s, want arm64 from FROM --platform", got.Architecture)
	}
}

// --custom-platform for each platform Kaniko's users asked for: the base
// is picked from an index by os, architecture and variant, the config
// names the platform, and the TARGET* arguments say it beside the
// BUILD* ones (this machine's).
func TestCustomPlatformsPickBaseAndSetConfig(t *testing.T) {
	e := newEnv(t)
	img, err := baseimage.Busybox()
	if err != nil {
		t.Fatal(err)
	}
	platforms := []v1.Platform{
		{OS: "linux", Architecture: "amd64"},
		{OS: "linux", Architecture: "arm64"},
		{OS: "linux", Architecture: "arm", Variant: "v7"},
		{OS: "linux", Architecture: "arm", Variant: "v6"},
		{OS: "linux", Architecture: "ppc64le"},
		{OS: "linux", Architecture: "s390x"},
		{OS: "linux", Architecture: "riscv64"},
	}
	idx := mutate.IndexMediaType(empty.Index, types.DockerManifestList)
	for _, p := range platforms {
		cfg, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		cfg = cfg.DeepCopy()
		cfg.Architecture, cfg.Variant = p.Architecture, p.Variant
		cfg.Config.Labels = map[string]string{"base": p.String()}
		pi, err := mutate.ConfigFile(img, cfg)
		if err != nil {
			t.Fatal(err)
		}
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: pi, Descriptor: v1.Descriptor{Platform: &p}})
	}
	ref, err := name.ParseReference(e.host + "/base/all:latest")
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.WriteIndex(ref, idx); err != nil {
		t.Fatal(err)
	}
	df := "FROM " + ref.String() + "\nARG TARGETPLATFORM TARGETOS TARGETARCH TARGETVARIANT BUILDPLATFORM\n" +
		"LABEL target=$TARGETPLATFORM os=$TARGETOS arch=$TARGETARCH variant=$TARGETVARIANT build=$BUILDPLATFORM\n"
	for _, p := range []string{"linux/arm/v7", "linux/ppc64le", "linux/s390x", "linux/riscv64", "linux/arm64"} {
		out, _ := mustBuild(t, e, map[string]string{"Dockerfile": df}, func(o *engine.Options) { o.Build.Platform = p })
		cfg, err := out.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		want, err := v1.ParsePlatform(p)
		if err != nil {
			t.Fatal(err)
		}
		l := cfg.Config.Labels
		if cfg.OS != want.OS || cfg.Architecture != want.Architecture || cfg.Variant != want.Variant || l["base"] != want.String() {
			t.Errorf("%s: config %s/%s/%s from the base for %s", p, cfg.OS, cfg.Architecture, cfg.Variant, l["base"])
		}
		if l["target"] != p || l["os"] != want.OS || l["arch"] != want.Architecture || l["variant"] != want.Variant ||
			l["build"] != "linux/"+runtime.GOARCH {
			t.Errorf("%s: the arguments gave %v", p, l)
		}
	}
}

// A bad platform, given by flag or by FROM --platform, fails the build
// with an error that names where it came from.
func TestPlatformErrorsNameTheFlag(t *testing.T) {
	for _, tc := range []struct{ flag, from, want string }{
		{"linux", "", `--custom-platform=linux: platform "linux" is not os/arch[/variant]`},
		{"linux/arm64/v8/x", "", "--custom-platform=linux/arm64/v8/x: too many slashes"},
		{"", "/amd64", `FROM --platform=/amd64: platform "/amd64" is not os/arch[/variant]`},
		{"", "linux/$NOARCH", `FROM --platform=linux/$NOARCH: platform "linux/" is not os/arch[/variant]`},
	} {
		dir := t.TempDir()
		df := "FROM scratch\n"
		if tc.from != "" {
			df = "FROM --platform=" + tc.from + " scratch\n"
		}
		if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(df), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := engine.Build(context.Background(), engine.Options{
			Context: engine.ContextOptions{Source: dir}, Build: engine.BuildOptions{Platform: tc.flag},
			Output: engine.OutputOptions{NoPush: true}, Root: engine.RootOptions{TempDir: t.TempDir()},
		})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("--custom-platform=%q, FROM --platform=%q: %v, want %q", tc.flag, tc.from, err, tc.want)
		}
	}
}

// Two RUNs on one sharing=locked cache mount take turns: the second asks
// for the mount while the first is in it and waits. Two on one
// sharing=private mount are in at once, each in a directory of its own.
func TestCacheMountSharing(t *testing.T) {
	for _, sharing := range []string{"locked", "private"} {
		t.Run(sharing, func(t *testing.T) {
			e := newEnv(t)
			dir := t.TempDir()
			p := newCacheProbe()
			p.add(t, dir, "s1", "s2")
			e.writeFiles(t, dir, map[string]string{"Dockerfile": "FROM BASE AS s1\n" + p.run(sharing, "s1") +
				"FROM BASE AS s2\n" + p.run(sharing, "s2") +
				"FROM BASE\nCOPY --from=s1 /r /s1\nCOPY --from=s2 /r /s2\n"})
			var img v1.Image
			var err error
			p.watch(t, sharing, func() {
				img, err = e.buildDir(t, dir, "sharing-"+sharing+":1", p.options)
			})
			if err != nil {
				t.Fatal(err)
			}
			fs := flatten(t, img)
			wantContent(t, fs, "/s1", "s1\n")
			wantContent(t, fs, "/s2", "s2\n")
		})
	}
}

// sharing=locked and sharing=private also hold between two builds on one
// --cache-dir, as two executors on a shared cache volume.
func TestCacheMountSharingAcrossBuilds(t *testing.T) {
	for _, sharing := range []string{"locked", "private"} {
		t.Run(sharing, func(t *testing.T) {
			e := newEnv(t)
			cacheDir := t.TempDir()
			p := newCacheProbe()
			dirs := []string{t.TempDir(), t.TempDir()}
			for i, d := range dirs {
				name := fmt.Sprint("b", i)
				p.add(t, d, name)
				e.writeFiles(t, d, map[string]string{"Dockerfile": "FROM BASE\n" + p.run(sharing, name)})
			}
			imgs, errs := make([]v1.Image, 2), make([]error, 2)
			p.watch(t, sharing, func() {
				var wg sync.WaitGroup
				for i := range 2 {
					wg.Add(1)
					go func() {
						defer wg.Done()
						imgs[i], errs[i] = e.buildDir(t, dirs[i], fmt.Sprintf("%s-across:%d", sharing, i), func(o *engine.Options) {
							p.options(o)
							o.Cache.Dir = cacheDir
						})
					}()
				}
				wg.Wait()
			})
			for i := range 2 {
				if errs[i] != nil {
					t.Fatalf("build %d: %v", i, errs[i])
				}
				wantContent(t, flatten(t, imgs[i]), "/r", fmt.Sprint("b", i, "\n"))
			}
		})
	}
}

// cacheProbe has RUNs on one cache mount tell the test when they are in
// it, and stay in it until the test lets them go, so that the test knows
// whether one got in while another was in, rather than hoping that they
// overlapped in time. The RUNs reach the test through FIFOs in a probe
// directory of their context, bound read-only; the engine's log says
// when a RUN waits for a locked mount.
type cacheProbe struct {
	mu     sync.Mutex
	gates  map[string]*os.File // each RUN's go-NAME FIFO, open here
	let    map[string]bool     // the RUNs let go
	inside chan string         // a RUN is in the cache mount
	waits  chan struct{}       // a RUN waits for a locked cache mount
}

func newCacheProbe() *cacheProbe {
	return &cacheProbe{
		gates: map[string]*os.File{}, let: map[string]bool{},
		inside: make(chan string, 8), waits: make(chan struct{}, 8),
	}
}

// add makes the probe directory in the context dir, for the RUNs names.
// The test holds every FIFO open for reading and writing, so that no
// open of them on either side blocks.
func (p *cacheProbe) add(t *testing.T, dir string, names ...string) {
	t.Helper()
	probe := filepath.Join(dir, "probe")
	if err := os.Mkdir(probe, 0o755); err != nil {
		t.Fatal(err)
	}
	open := func(name string) *os.File {
		fifo := filepath.Join(probe, name)
		if err := unix.Mkfifo(fifo, 0o600); err != nil {
			t.Fatal(err)
		}
		f, err := os.OpenFile(fifo, os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		return f
	}
	in := open("in")
	go func() {
		sc := bufio.NewScanner(in)
		for sc.Scan() {
			p.inside <- sc.Text()
		}
	}()
	for _, n := range names {
		p.gates[n] = open("go-" + n)
	}
}

// run is a RUN, named name, that says it is in the cache mount at /c,
// waits to be let go, then writes to /r what it sees there: its own
// name only, unless another RUN was in the same directory.
func (p *cacheProbe) run(sharing, name string) string {
	return fmt.Sprintf("RUN --mount=type=bind,source=probe,target=/probe --mount=type=cache,target=/c,sharing=%s "+
		"touch /c/%[2]s && echo %[2]s > /probe/in && read x < /probe/go-%[2]s && ls /c > /r && rm /c/%[2]s\n", sharing, name)
}

// options routes the engine's log to the probe.
func (p *cacheProbe) options(o *engine.Options) { o.Log = slog.New(waitHandler{p.waits}) }

// release lets the RUN name go; with no name, all of them.
func (p *cacheProbe) release(t *testing.T, name string) {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	for n, f := range p.gates {
		if (name == "" || n == name) && !p.let[n] {
			p.let[n] = true
			if _, err := f.Write([]byte("go\n")); err != nil {
				t.Errorf("letting %s go: %v", n, err)
			}
		}
	}
}

// watch runs build while it lets the RUNs go as sharing says, and fails
// the test if one got into the cache mount when it should not have: with
// locked, one RUN is let go only once another waits for the mount; with
// private, only once both are in.
func (p *cacheProbe) watch(t *testing.T, sharing string, build func()) {
	stop, watched := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(watched)
		defer p.release(t, "") // so that the builds end whatever happened
		next := func() (string, bool) {
			select {
			case n := <-p.inside:
				return n, true
			case <-stop: // a build failed
				return "", false
			}
		}
		first, ok := next()
		if !ok {
			return
		}
		if sharing == "private" {
			next() // both in at once
			return
		}
		select {
		case second := <-p.inside:
			t.Errorf("%s got into the locked cache mount while %s was in it", second, first)
			return
		case <-p.waits:
		case <-stop:
			return
		}
		p.release(t, first)
		next()
	}()
	build()
	close(stop)
	<-watched
}

// waitHandler passes on the engine's "waiting for a locked cache mount".
type waitHandler struct{ waits chan<- struct{} }

func (h waitHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h waitHandler) Handle(_ context.Context, r slog.Record) error {
	if r.Message == "waiting for a locked cache mount" {
		select {
		case h.waits <- struct{}{}:
		default:
		}
	}
	return nil
}

func (h waitHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h waitHandler) WithGroup(string) slog.Handler      { return h }

// Outputs read the base image's layers again after the stages are done:
// they must not be tied to a stage's lifetime.
func TestTarAndLayoutOutputsWithAPulledBase(t *testing.T) {
	e := newEnv(t)
	dir := t.TempDir()
	e.writeFiles(t, dir, map[string]string{"Dockerfile": "FROM BASE\nRUN echo x > /x\n"})
	out := t.TempDir()
	tarPath, layoutPath := filepath.Join(out, "image.tar"), filepath.Join(out, "layout")
	if _, err := engine.Build(context.Background(), engine.Options{
		Context: engine.ContextOptions{Source: dir}, Root: engine.RootOptions{TempDir: t.TempDir()},
		Output: engine.OutputOptions{NoPush: true, Destinations: []string{e.host + "/test/outputs:1"},
			TarPath: tarPath, OCILayoutPath: layoutPath},
	}); err != nil {
		t.Fatal(err)
	}
	img, err := tarball.ImageFromPath(tarPath, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Image(img); err != nil {
		t.Fatalf("the tarball's image: %v", err)
	}
	lp, err := layout.FromPath(layoutPath)
	if err != nil {
		t.Fatal(err)
	}
	idx, err := lp.ImageIndex()
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Index(idx); err != nil {
		t.Fatalf("the layout's index: %v", err)
	}
}

// A Dockerfile given by URL is downloaded, as Kaniko does; a failed
// download names the flag.
func TestDockerfileURL(t *testing.T) {
	e := newEnv(t)
	df := strings.ReplaceAll("FROM BASE\nCOPY f.txt /f.txt\nRUN echo ran > /ran.txt\n", "BASE", e.base)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/app/Dockerfile.ci" {
			http.NotFound(w, r)
			return
		}
		io.WriteString(w, df)
	}))
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	e.writeFiles(t, dir, map[string]string{"f.txt": "from the context\n"})
	img, err := e.buildDir(t, dir, "url:latest", func(o *engine.Options) { o.Context.Dockerfile = srv.URL + "/app/Dockerfile.ci" })
	if err != nil {
		t.Fatal(err)
	}
	fs := flatten(t, img)
	wantContent(t, fs, "/f.txt", "from the context\n")
	wantContent(t, fs, "/ran.txt", "ran\n")

	_, err = e.buildDir(t, dir, "url-missing:latest", func(o *engine.Options) { o.Context.Dockerfile = srv.URL + "/nope/Dockerfile" })
	if err == nil || !strings.Contains(err.Error(), "--dockerfile") || !strings.Contains(err.Error(), "404") {
		t.Fatalf("missing Dockerfile URL: got %v, want an error naming --dockerfile and the 404", err)
	}
	// A password or a token in the URL stays out of the error.
	u := strings.Replace(srv.URL, "http://", "http://user:s3cret@", 1) + "/nope/Dockerfile?token=t0ken"
	_, err = e.buildDir(t, dir, "url-secret:latest", func(o *engine.Options) { o.Context.Dockerfile = u })
	if err == nil || strings.Contains(err.Error(), "s3cret") || strings.Contains(err.Error(), "t0ken") {
		t.Fatalf("got %v, want an error without the URL's secrets", err)
	}
	_, err = e.buildDir(t, dir, "url-closed:latest", func(o *engine.Options) {
		o.Context.Dockerfile = "http://user:s3cret@127.0.0.1:1/Dockerfile?token=t0ken"
	})
	if err == nil || strings.Contains(err.Error(), "s3cret") || strings.Contains(err.Error(), "t0ken") {
		t.Fatalf("got %v, want an error without the URL's secrets", err)
	}
}

// A RUN of another processor's program where no binfmt_misc handler runs
// it says so, naming the platform and the command that registers QEMU.
func TestForeignRunWithoutEmulationExplains(t *testing.T) {
	// An ELF header for a machine no emulator claims (e_machine 0xbeef)
	// and nothing else: the kernel refuses it as it would an arm64
	// program with no QEMU registered.
	elf := make([]byte, 64)
	copy(elf, "\x7fELF\x02\x01\x01")
	binary.LittleEndian.PutUint16(elf[16:], 2)      // ET_EXEC
	binary.LittleEndian.PutUint16(elf[18:], 0xbeef) // no such machine
	binary.LittleEndian.PutUint32(elf[20:], 1)
	dir := t.TempDir()
	e := env{}
	e.writeFiles(t, dir, map[string]string{"Dockerfile": "FROM scratch\nCOPY --chmod=755 sh /bin/sh\nRUN true\n", "sh": string(elf)})
	var logs bytes.Buffer
	_, err := engine.Build(context.Background(), engine.Options{
		Context: engine.ContextOptions{Source: dir}, Build: engine.BuildOptions{Platform: "linux/arm64"},
		Output: engine.OutputOptions{NoPush: true}, Root: engine.RootOptions{TempDir: t.TempDir()},
		Log: slog.New(slog.NewTextHandler(&logs, nil)),
	})
	if err == nil || !strings.Contains(err.Error(), "Dockerfile:3") {
		t.Fatalf("err = %v, want the RUN at Dockerfile:3 to fail", err)
	}
	for _, want := range []string{"RUN true", "exec format error", "linux/arm64 program", "tonistiigi/binfmt --install arm64"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the error does not say %q: %v", want, err)
		}
	}
	var ee *run.ExitError
	if errors.As(err, &ee) {
		t.Errorf("the RUN's command never started, yet the error is its exit code %d", ee.Code)
	}
}

// A program the sandbox cannot find fails the RUN naming it, in the
// error and not as an exit code of a command that never ran.
func TestRunOfMissingProgramSaysSo(t *testing.T) {
	dir := t.TempDir()
	e := env{}
	e.writeFiles(t, dir, map[string]string{"Dockerfile": "FROM scratch\nRUN [\"/no/such/program\"]\n"})
	_, err := engine.Build(context.Background(), engine.Options{
		Context: engine.ContextOptions{Source: dir},
		Output:  engine.OutputOptions{NoPush: true}, Root: engine.RootOptions{TempDir: t.TempDir()},
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err == nil || !strings.Contains(err.Error(), "Dockerfile:2") || !strings.Contains(err.Error(), "running /no/such/program: no such file or directory") {
		t.Fatalf("err = %v, want the RUN at Dockerfile:2 to fail naming /no/such/program", err)
	}
}
