//go:build e2e

package e2e

// The layer cache (--cache) against the run's Distribution registry, with
// the executor on the host: which steps hit, which miss and why, and that
// what a hit gives is the image a full build would give.

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/kaniko-build/kaniko-build/e2e/baseimage"
	"github.com/kaniko-build/kaniko-build/e2e/imagecmp"
)

// cacheProject is a build context of its own, built again and again with
// the layer cache as a test changes it.
type cacheProject struct {
	t         *testing.T
	h         *harness
	name      string
	dir       string // the build context
	logs      string // one executor log per build
	dest      string // <registry>/cache-e2e/<name>: builds are tagged 1, 2, ...
	cacheRepo string // --cache-repo; empty: the executor's default
	builds    int
}

// newCacheProject makes an empty context under the run's work directory.
// Its cache repository is <registry>/cache-e2e/<name>/cache, which no
// other test uses.
func newCacheProject(t *testing.T, name string) *cacheProject {
	t.Helper()
	h := suite
	base := filepath.Join(h.work, "cache", name)
	p := &cacheProject{
		t: t, h: h, name: name,
		dir:  filepath.Join(base, "context"),
		logs: base,
		dest: fmt.Sprintf("%s/cache-e2e/%s", h.reg.Host, name),
	}
	p.cacheRepo = p.dest + "/cache"
	if err := os.MkdirAll(p.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// write writes a context file (mode 0644), replacing {{busybox}} and
// {{registry}}.
func (p *cacheProject) write(rel, content string) {
	p.t.Helper()
	content = strings.ReplaceAll(content, "{{busybox}}", p.h.bases["busybox"])
	content = strings.ReplaceAll(content, "{{registry}}", p.h.reg.Host)
	f := filepath.Join(p.dir, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
		p.t.Fatal(err)
	}
	if err := os.WriteFile(f, []byte(content), 0o644); err != nil {
		p.t.Fatal(err)
	}
	// WriteFile keeps the mode of a file that exists.
	if err := os.Chmod(f, 0o644); err != nil {
		p.t.Fatal(err)
	}
}

func (p *cacheProject) path(rel string) string {
	return filepath.Join(p.dir, filepath.FromSlash(rel))
}

// cacheBuild is one build's result: its image and its cache report.
type cacheBuild struct {
	p     *cacheProject
	ref   string
	out   string
	steps []cacheStep
	made  int // "files of stage N made" lines
	img   *built
}

// cacheStep is a HIT or MISS line of the executor's output.
type cacheStep struct {
	hit    bool
	text   string
	reason string // MISS only: "not in the cache" or "changed: ..."
}

func (s cacheStep) String() string {
	if s.hit {
		return "HIT " + s.text
	}
	return fmt.Sprintf("MISS %s (%s)", s.text, s.reason)
}

var (
	cacheLine     = regexp.MustCompile(`(?m)^\s+\[\S+ (\d+)/\d+\] (HIT|MISS) (.*)$`)
	missReason    = regexp.MustCompile(`^(.*) \((not in the cache|changed: [a-z, ]+)\)$`)
	stageMadeLine = regexp.MustCompile(`(?m)^\s+files of stage \d+ made from its base and \d+ cached layers`)
)

// parseCacheSteps returns the HIT and MISS lines stage by stage, in build
// order: stages built at the same time print theirs interleaved.
func parseCacheSteps(out string) ([]cacheStep, error) {
	var steps []cacheStep
	var stages []int
	for _, m := range cacheLine.FindAllStringSubmatch(out, -1) {
		n, _ := strconv.Atoi(m[1])
		line := strings.TrimRight(m[3], "\r")
		if m[2] == "HIT" {
			steps, stages = append(steps, cacheStep{hit: true, text: line}), append(stages, n)
			continue
		}
		r := missReason.FindStringSubmatch(line)
		if r == nil {
			return nil, fmt.Errorf("a MISS line without a reason: %q", m[0])
		}
		steps, stages = append(steps, cacheStep{text: r[1], reason: r[2]}), append(stages, n)
	}
	order := make([]int, len(steps))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return stages[order[a]] < stages[order[b]] })
	sorted := make([]cacheStep, len(steps))
	for i, j := range order {
		sorted[i] = steps[j]
	}
	return sorted, nil
}

// build runs the executor with --cache on the context's Dockerfile and
// the given extra flags, and pushes the image to <dest>:<n>.
func (p *cacheProject) build(args ...string) *cacheBuild {
	p.t.Helper()
	b, err := p.tryBuild(args...)
	if err != nil {
		p.t.Fatal(err)
	}
	return b
}

func (p *cacheProject) tryBuild(args ...string) (*cacheBuild, error) {
	p.builds++
	ref := fmt.Sprintf("%s:%d", p.dest, p.builds)
	all := []string{"--context", p.dir, "--dockerfile", filepath.Join(p.dir, "Dockerfile"), "--destination", ref, "--cache"}
	if p.cacheRepo != "" {
		all = append(all, "--cache-repo", p.cacheRepo)
	}
	all = append(all, args...)
	r := &caseRun{name: p.name, logs: p.logs, c: &Case{}}
	out, err := r.run(context.Background(), fmt.Sprintf("build-%d.log", p.builds), os.Environ(), p.h.executor, all...)
	if err != nil {
		return nil, fmt.Errorf("build %d: executor: %v\n%s", p.builds, err, tail(out, 6000))
	}
	steps, err := parseCacheSteps(out)
	if err != nil {
		return nil, fmt.Errorf("build %d: %v\n%s", p.builds, err, tail(out, 6000))
	}
	return &cacheBuild{p: p, ref: ref, out: out, steps: steps, made: len(stageMadeLine.FindAllString(out, -1))}, nil
}

// stepWant is an expected HIT or MISS line: the step's text starts with text;
// a MISS's reason is exactly reason.
type stepWant struct {
	hit          bool
	text, reason string
}

func wantHit(text string) stepWant           { return stepWant{hit: true, text: text} }
func wantMiss(text, reason string) stepWant  { return stepWant{text: text, reason: reason} }
func wantNotCached(text string) stepWant     { return wantMiss(text, "not in the cache") }
func wantChanged(text, what string) stepWant { return wantMiss(text, "changed: "+what) }
func (w stepWant) matches(s cacheStep) bool {
	return w.hit == s.hit && strings.HasPrefix(s.text, w.text) && (w.hit || w.reason == s.reason)
}

func (w stepWant) String() string {
	return cacheStep{hit: w.hit, text: w.text + "…", reason: w.reason}.String()
}

// wantSteps checks the build's HIT and MISS lines, in order, one per
// cached step.
func (b *cacheBuild) wantSteps(what string, ws ...stepWant) {
	b.p.t.Helper()
	ok := len(ws) == len(b.steps)
	for i := 0; ok && i < len(ws); i++ {
		ok = ws[i].matches(b.steps[i])
	}
	if ok {
		return
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "build %s (%s): the cache's steps are not as expected\nwant:\n", b.ref, what)
	for _, w := range ws {
		fmt.Fprintf(&sb, "  %s\n", w)
	}
	sb.WriteString("got:\n")
	for _, s := range b.steps {
		fmt.Fprintf(&sb, "  %s\n", s)
	}
	fmt.Fprintf(&sb, "executor output:\n%s", tail(b.out, 4000))
	b.p.t.Error(sb.String())
}

// wantAllHit checks that every one of n steps hit and that no stage's
// files were made.
func (b *cacheBuild) wantAllHit(what string, n int) {
	b.p.t.Helper()
	var ws []stepWant
	for _, s := range b.steps {
		ws = append(ws, wantHit(s.text))
	}
	for len(ws) < n {
		ws = append(ws, wantHit("(a step)"))
	}
	b.wantSteps(what, ws[:n]...)
	if b.made != 0 {
		b.p.t.Errorf("build %s (%s): every step hit, yet the files of %d stage(s) were made:\n%s", b.ref, what, b.made, tail(b.out, 3000))
	}
}

// wantMade checks how many stages' files the build made.
func (b *cacheBuild) wantMade(what string, n int) {
	b.p.t.Helper()
	if b.made != n {
		b.p.t.Errorf("build %s (%s): the files of %d stage(s) were made, want %d:\n%s", b.ref, what, b.made, n, tail(b.out, 3000))
	}
}

// image pulls, validates and flattens the build's image (once).
func (b *cacheBuild) image() *built {
	b.p.t.Helper()
	if b.img == nil {
		img, err := load(context.Background(), b.ref)
		if err != nil {
			b.p.t.Fatalf("%v\nexecutor output:\n%s", err, tail(b.out, 3000))
		}
		b.img = img
	}
	return b.img
}

// wantFiles checks regular files' contents (path -> content) and that the
// absent paths are not in the image.
func (b *cacheBuild) wantFiles(what string, files map[string]string, absent ...string) {
	b.p.t.Helper()
	exp := &imagecmp.Expect{Files: map[string]imagecmp.FileExpect{}, Absent: absent}
	for p, c := range files {
		exp.Files[p] = imagecmp.FileExpect{Type: "file", Content: &c}
	}
	b.check(what, exp)
}

func (b *cacheBuild) check(what string, exp *imagecmp.Expect) {
	b.p.t.Helper()
	img := b.image()
	problems, err := exp.Check(img.img, img.fs, imagecmp.Ignore{})
	if err != nil {
		b.p.t.Fatal(err)
	}
	report(b.p.t, fmt.Sprintf("image %s (%s)", b.ref, what), problems)
}

// layerDigests are the digests of the image's layers, in order.
func (b *cacheBuild) layerDigests() []string {
	b.p.t.Helper()
	ls, err := b.image().img.Layers()
	if err != nil {
		b.p.t.Fatal(err)
	}
	var out []string
	for _, l := range ls {
		d, err := l.Digest()
		if err != nil {
			b.p.t.Fatal(err)
		}
		out = append(out, d.String())
	}
	return out
}

// wantSameImage checks that b has a's layers (by digest), files and
// config.
func (b *cacheBuild) wantSameImage(a *cacheBuild) {
	t := b.p.t
	t.Helper()
	if x, y := a.layerDigests(), b.layerDigests(); strings.Join(x, " ") != strings.Join(y, " ") {
		t.Errorf("%s and %s have different layers:\n  %s\n  %s", a.ref, b.ref, strings.Join(x, "\n  "), strings.Join(y, "\n  "))
	}
	report(t, fmt.Sprintf("%s and %s have different files", a.ref, b.ref),
		imagecmp.DiffFS(a.ref, a.image().fs, b.ref, b.image().fs, imagecmp.Ignore{}))
	diffs, err := imagecmp.DiffConfig(a.ref, a.image().raw, b.ref, b.image().raw, imagecmp.Ignore{})
	if err != nil {
		t.Fatal(err)
	}
	report(t, fmt.Sprintf("%s and %s have different configs", a.ref, b.ref), diffs)
}

// fileOf returns a path of the image, failing when it is not there.
func (b *cacheBuild) fileOf(p string) *imagecmp.File {
	b.p.t.Helper()
	f := b.image().fs[p]
	if f == nil {
		b.p.t.Fatalf("%s: no %s", b.ref, p)
	}
	return f
}

// repoTags lists a repository's tags; a repository that does not exist has
// none.
func repoTags(t *testing.T, repo string) []string {
	t.Helper()
	r, err := name.NewRepository(repo)
	if err != nil {
		t.Fatal(err)
	}
	list, err := remote.List(r, remote.WithContext(context.Background()))
	var te *transport.Error
	if errors.As(err, &te) && te.StatusCode == http.StatusNotFound {
		return nil
	}
	if err != nil {
		t.Fatalf("listing %s: %v", repo, err)
	}
	return list
}

// TestCacheUnchangedRebuild: a second build of the same context hits every
// step, makes no stage's files and gives the same layers, files and
// config. The cache repository is the default, <destination>/cache.
func TestCacheUnchangedRebuild(t *testing.T) {
	t.Parallel()
	p := newCacheProject(t, "unchanged")
	p.cacheRepo = "" // the default: <destination repository>/cache
	p.write("Dockerfile", `FROM {{busybox}} AS tool
RUN echo "tool built" > /tool.txt && mkdir -p /opt/tool && echo x > /opt/tool/x

FROM {{busybox}}
ARG V=1
ENV E=e
WORKDIR /work
RUN echo "run $V $E" > run.txt
COPY a.txt sub/ /app/
ADD b.txt /app/b.txt
COPY --from=tool /tool.txt /opt/tool/ /from-tool/
RUN cat /app/a.txt run.txt /app/c.txt > both.txt && chmod 600 both.txt && rm /app/b.txt
USER app
RUN id -u > /tmp/uid.txt
`)
	p.write("a.txt", "a\n")
	p.write("b.txt", "b\n")
	p.write("sub/c.txt", "c\n")
	steps := []string{
		"RUN echo \"tool built\"", "WORKDIR /work", "RUN echo \"run $V $E\"", "COPY a.txt sub/ /app/",
		"ADD b.txt /app/b.txt", "COPY --from=tool", "RUN cat /app/a.txt", "RUN id -u",
	}
	first := p.build()
	var ws []stepWant
	for _, s := range steps {
		ws = append(ws, wantNotCached(s))
	}
	first.wantSteps("an empty cache", ws...)
	first.wantMade("an empty cache", 2)
	first.wantFiles("first build", map[string]string{
		"/work/both.txt":      "a\nrun 1 e\nc\n",
		"/from-tool/tool.txt": "tool built\n",
		"/from-tool/x":        "x\n",
		"/tmp/uid.txt":        "1000\n",
	}, "/app/b.txt")
	if n := len(repoTags(t, p.dest+"/cache")); n == 0 {
		t.Errorf("nothing in the default cache repository %s/cache", p.dest)
	}

	second := p.build()
	second.wantAllHit("an unchanged rebuild", len(steps))
	second.wantSameImage(first)
	if t.Failed() {
		t.Logf("first build's output:\n%s", tail(first.out, 3000))
	}
}

// filesDockerfile copies one named file and one directory, then lists
// what it got.
const filesDockerfile = `FROM {{busybox}}
RUN echo before > /before.txt
COPY conf.txt /etc/app.conf
COPY app/ /app/
RUN cd /app && for f in *; do echo "$f $(stat -c '%a %u:%g' $f) $(cat $f)"; done > /listing.txt
`

// TestCacheContextFileChanges: each change to a copied context file
// (content, name, mode, owner) misses at the COPY that reads it, after
// hits for every step before, and the image has the new file.
func TestCacheContextFileChanges(t *testing.T) {
	t.Parallel()
	p := newCacheProject(t, "files")
	p.write("Dockerfile", filesDockerfile)
	p.write("conf.txt", "conf 1\n")
	p.write("app/data.txt", "data 1\n")
	p.write("app/other.txt", "other\n")
	const (
		before  = "RUN echo before"
		conf    = "COPY conf.txt /etc/app.conf"
		app     = "COPY app/ /app/"
		listing = "RUN cd /app"
	)

	b := p.build()
	b.wantSteps("an empty cache", wantNotCached(before), wantNotCached(conf), wantNotCached(app), wantNotCached(listing))
	b = p.build()
	b.wantAllHit("an unchanged rebuild", 4)

	// Content.
	p.write("app/data.txt", "data 2\n")
	b = p.build()
	b.wantSteps("app/data.txt's content changed", wantHit(before), wantHit(conf), wantChanged(app, "files"), wantChanged(listing, "parent"))
	b.wantMade("a miss", 1)
	b.wantFiles("new content", map[string]string{
		"/app/data.txt": "data 2\n",
		"/listing.txt":  "data.txt 644 0:0 data 2\nother.txt 644 0:0 other\n",
	})

	// Mode.
	if err := os.Chmod(p.path("app/data.txt"), 0o600); err != nil {
		t.Fatal(err)
	}
	b = p.build()
	b.wantSteps("app/data.txt's mode changed", wantHit(before), wantHit(conf), wantChanged(app, "files"), wantChanged(listing, "parent"))
	b.wantFiles("new mode", map[string]string{"/listing.txt": "data.txt 600 0:0 data 2\nother.txt 644 0:0 other\n"})
	if f := b.fileOf("/app/data.txt"); f.Mode != 0o600 {
		t.Errorf("/app/data.txt: mode %o, want 600", f.Mode)
	}

	// Owner. COPY without --chown gives root the files, as docker does,
	// so the image is the same; but the cache must not assume so.
	if err := os.Chown(p.path("app/data.txt"), 1234, 5678); err != nil {
		t.Fatal(err)
	}
	b = p.build()
	b.wantSteps("app/data.txt's owner changed", wantHit(before), wantHit(conf), wantChanged(app, "files"), wantChanged(listing, "parent"))
	b.wantFiles("new owner", map[string]string{"/listing.txt": "data.txt 600 0:0 data 2\nother.txt 644 0:0 other\n"})
	if f := b.fileOf("/app/data.txt"); f.UID != 0 || f.GID != 0 {
		t.Errorf("/app/data.txt: owner %d:%d, want 0:0 (COPY without --chown)", f.UID, f.GID)
	}

	// Name: the file and the COPY that names it.
	if err := os.Rename(p.path("conf.txt"), p.path("settings.txt")); err != nil {
		t.Fatal(err)
	}
	p.write("Dockerfile", strings.Replace(filesDockerfile, "COPY conf.txt", "COPY settings.txt", 1))
	b = p.build()
	b.wantSteps("conf.txt renamed settings.txt", wantHit(before), wantChanged("COPY settings.txt /etc/app.conf", "instruction, files"),
		wantChanged(app, "parent"), wantChanged(listing, "parent"))
	b.wantFiles("renamed source", map[string]string{"/etc/app.conf": "conf 1\n"})

	// Name of a file in a copied directory: only the files differ.
	if err := os.Rename(p.path("app/other.txt"), p.path("app/renamed.txt")); err != nil {
		t.Fatal(err)
	}
	b = p.build()
	b.wantSteps("app/other.txt renamed", wantHit(before), wantHit("COPY settings.txt"), wantChanged(app, "files"), wantChanged(listing, "parent"))
	b.wantFiles("renamed file", map[string]string{
		"/app/renamed.txt": "other\n",
		"/listing.txt":     "data.txt 600 0:0 data 2\nrenamed.txt 644 0:0 other\n",
	}, "/app/other.txt")

	// Back to an earlier state of the directory: hits again.
	b = p.build()
	b.wantAllHit("nothing changed since the last build", 4)
}

// TestCacheDockerignoreAndDeletion: with COPY . /app, a .dockerignore line
// that excludes or includes a file misses at the COPY, one that changes
// no file does not, and a deleted file misses and is gone from the image.
func TestCacheDockerignoreAndDeletion(t *testing.T) {
	t.Parallel()
	p := newCacheProject(t, "dockerignore")
	p.write("Dockerfile", `FROM {{busybox}}
RUN echo before > /before.txt
COPY . /app
RUN find /app -type f | sort > /found.txt
`)
	// The Dockerfile and .dockerignore exclude themselves, so that
	// editing .dockerignore changes no copied file by itself.
	p.write(".dockerignore", "Dockerfile\n.dockerignore\n*.log\n")
	p.write("keep.txt", "keep\n")
	p.write("gone.txt", "gone\n")
	p.write("secret.txt", "secret\n")
	p.write("debug.log", "log\n")
	const (
		before = "RUN echo before"
		cp     = "COPY . /app"
		find   = "RUN find /app"
	)
	b := p.build()
	b.wantSteps("an empty cache", wantNotCached(before), wantNotCached(cp), wantNotCached(find))
	b.wantFiles("first build", map[string]string{"/found.txt": "/app/gone.txt\n/app/keep.txt\n/app/secret.txt\n"},
		"/app/debug.log", "/app/Dockerfile", "/app/.dockerignore")

	p.write(".dockerignore", "Dockerfile\n.dockerignore\n*.log\nno-such-file\n")
	b = p.build()
	b.wantAllHit("a .dockerignore line that matches no file", 3)

	p.write(".dockerignore", "Dockerfile\n.dockerignore\n*.log\nsecret.txt\n")
	b = p.build()
	b.wantSteps("secret.txt newly ignored", wantHit(before), wantChanged(cp, "files"), wantChanged(find, "parent"))
	b.wantFiles("secret.txt ignored", map[string]string{"/found.txt": "/app/gone.txt\n/app/keep.txt\n"}, "/app/secret.txt")

	p.write(".dockerignore", "Dockerfile\n.dockerignore\nsecret.txt\n")
	b = p.build()
	b.wantSteps("*.log no longer ignored", wantHit(before), wantChanged(cp, "files"), wantChanged(find, "parent"))
	b.wantFiles("debug.log included", map[string]string{
		"/app/debug.log": "log\n",
		"/found.txt":     "/app/debug.log\n/app/gone.txt\n/app/keep.txt\n",
	}, "/app/secret.txt")

	if err := os.Remove(p.path("gone.txt")); err != nil {
		t.Fatal(err)
	}
	b = p.build()
	b.wantSteps("gone.txt deleted", wantHit(before), wantChanged(cp, "files"), wantChanged(find, "parent"))
	b.wantFiles("gone.txt deleted", map[string]string{"/found.txt": "/app/debug.log\n/app/keep.txt\n"}, "/app/gone.txt")

	b = p.build()
	b.wantAllHit("nothing changed since the last build", 3)
	b.wantFiles("rebuild after the deletion", map[string]string{"/found.txt": "/app/debug.log\n/app/keep.txt\n"}, "/app/gone.txt")
}

// TestCacheBuildArg: a build-arg misses at the first RUN after its ARG
// (RUNs see ARGs as variables) and not before; its old value hits again.
func TestCacheBuildArg(t *testing.T) {
	t.Parallel()
	p := newCacheProject(t, "build-arg")
	p.write("Dockerfile", `FROM {{busybox}}
RUN echo before > /before.txt
ARG V=default
RUN echo "v=$V" > /v.txt
RUN echo after > /after.txt
`)
	const (
		before = "RUN echo before"
		v      = `RUN echo "v=$V"`
		after  = "RUN echo after"
	)
	b := p.build("--build-arg", "V=1")
	b.wantSteps("an empty cache", wantNotCached(before), wantNotCached(v), wantNotCached(after))
	b = p.build("--build-arg", "V=1")
	b.wantAllHit("the same build-arg", 3)
	b.wantFiles("V=1", map[string]string{"/v.txt": "v=1\n"})
	// A build-arg that no ARG declares is seen by no step.
	b = p.build("--build-arg", "V=1", "--build-arg", "UNDECLARED=x")
	b.wantAllHit("an undeclared build-arg", 3)

	b = p.build("--build-arg", "V=2")
	b.wantSteps("V changed", wantHit(before), wantChanged(v, "env"), wantChanged(after, "parent, env"))
	b.wantFiles("V=2", map[string]string{"/v.txt": "v=2\n", "/after.txt": "after\n"})

	b = p.build()
	b.wantSteps("V's default", wantHit(before), wantChanged(v, "env"), wantChanged(after, "parent, env"))
	b.wantFiles("V's default", map[string]string{"/v.txt": "v=default\n"})

	b = p.build("--build-arg", "V=1")
	b.wantAllHit("V back to 1", 3)
	b.wantFiles("V back to 1", map[string]string{"/v.txt": "v=1\n"})
}

// TestCacheEnv: changing ENV X= misses at every step after it (they all
// see X) and at none before.
func TestCacheEnv(t *testing.T) {
	t.Parallel()
	p := newCacheProject(t, "env")
	const dockerfile = `FROM {{busybox}}
RUN echo before > /before.txt
ENV X=one
RUN echo "x=$X" > /x.txt
RUN echo after > /after.txt
`
	p.write("Dockerfile", dockerfile)
	const (
		before = "RUN echo before"
		x      = `RUN echo "x=$X"`
		after  = "RUN echo after"
	)
	b := p.build()
	b.wantSteps("an empty cache", wantNotCached(before), wantNotCached(x), wantNotCached(after))
	b = p.build()
	b.wantAllHit("an unchanged rebuild", 3)

	p.write("Dockerfile", strings.Replace(dockerfile, "ENV X=one", "ENV X=two", 1))
	b = p.build()
	b.wantSteps("ENV X changed", wantHit(before), wantChanged(x, "env"), wantChanged(after, "parent, env"))
	b.check("ENV X=two", &imagecmp.Expect{
		Files: map[string]imagecmp.FileExpect{"/x.txt": {Type: "file", Content: ptrTo("x=two\n")}},
		Env:   map[string]*string{"X": ptrTo("two")},
	})
}

func ptrTo[T any](v T) *T { return &v }

// baseWith is busybox plus a layer holding /base.txt.
func baseWith(t *testing.T, content string) v1.Image {
	t.Helper()
	img, err := baseimage.Busybox()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	hdr := &tar.Header{Name: "base.txt", Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(content)), ModTime: baseimage.Epoch()}
	if err := tw.WriteHeader(hdr); err != nil {
		t.Fatal(err)
	}
	if _, err := tw.Write([]byte(content)); err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	data := buf.Bytes()
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil })
	if err != nil {
		t.Fatal(err)
	}
	img, err = mutate.Append(img, mutate.Addendum{Layer: layer, History: v1.History{
		CreatedBy: "base.txt", Created: v1.Time{Time: baseimage.Epoch()},
	}})
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// TestCacheBaseImage: another image pushed under the base's tag misses
// at the first step, and the old one hits again.
func TestCacheBaseImage(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p := newCacheProject(t, "base-image")
	baseRef := p.dest + "-base:latest"
	otherRef := p.dest + "-other:latest"
	p.write("Dockerfile", "FROM "+baseRef+`
RUN cat /base.txt > /seen.txt
COPY a.txt /a.txt
COPY --from=`+otherRef+` /base.txt /other.txt
`)
	p.write("a.txt", "a\n")
	const (
		seen  = "RUN cat /base.txt"
		cp    = "COPY a.txt /a.txt"
		other = "COPY --from="
	)
	v1img, v2img := baseWith(t, "v1\n"), baseWith(t, "v2\n")
	push := func(img v1.Image, ref string) {
		t.Helper()
		if err := baseimage.Push(ctx, img, ref); err != nil {
			t.Fatal(err)
		}
	}
	push(v1img, baseRef)
	push(v1img, otherRef)
	first := p.build()
	first.wantSteps("an empty cache", wantNotCached(seen), wantNotCached(cp), wantNotCached(other))
	b := p.build()
	b.wantAllHit("the same base", 3)

	push(v2img, baseRef)
	b = p.build()
	b.wantSteps("another base under the tag", wantChanged(seen, "parent"), wantChanged(cp, "parent"), wantChanged(other, "parent"))
	b.wantFiles("base v2", map[string]string{"/seen.txt": "v2\n", "/base.txt": "v2\n", "/a.txt": "a\n", "/other.txt": "v1\n"})

	push(v1img, baseRef)
	b = p.build()
	b.wantAllHit("the first base again", 3)
	b.wantFiles("base v1 again", map[string]string{"/seen.txt": "v1\n", "/base.txt": "v1\n"})
	b.wantSameImage(first)

	// COPY --from an image: keyed by the image's digest.
	push(v2img, otherRef)
	b = p.build()
	// Its last run (the third build) was on base v2: the parent differs
	// from that too.
	b.wantSteps("another image under COPY --from's tag", wantHit(seen), wantHit(cp), wantChanged(other, "parent, files"))
	b.wantFiles("COPY --from v2", map[string]string{"/seen.txt": "v1\n", "/other.txt": "v2\n"})
}

// TestCacheSharedByTwoDockerfiles: two projects, each with its own
// "Dockerfile", share a cache repository: the steps they have in common
// hit, the first that differs misses and so does every step after it,
// even one with the same text; each image keeps its own content.
func TestCacheSharedByTwoDockerfiles(t *testing.T) {
	t.Parallel()
	a := newCacheProject(t, "shared-a")
	b := newCacheProject(t, "shared-b")
	shared := fmt.Sprintf("%s/cache-e2e/shared/cache", suite.reg.Host)
	a.cacheRepo, b.cacheRepo = shared, shared
	const dockerfile = `FROM {{busybox}}
RUN echo shared > /shared.txt
COPY common.txt /common.txt
RUN echo WHICH > /which.txt
RUN cat /which.txt /common.txt > /joined.txt
`
	a.write("Dockerfile", strings.Replace(dockerfile, "WHICH", "a", 1))
	b.write("Dockerfile", strings.Replace(dockerfile, "WHICH", "b", 1))
	a.write("common.txt", "common\n")
	b.write("common.txt", "common\n")
	const (
		sh     = "RUN echo shared"
		common = "COPY common.txt /common.txt"
		joined = "RUN cat /which.txt /common.txt"
	)

	ba := a.build()
	ba.wantSteps("a, empty cache", wantNotCached(sh), wantNotCached(common), wantNotCached("RUN echo a"), wantNotCached(joined))
	ba.wantFiles("a", map[string]string{"/which.txt": "a\n", "/joined.txt": "a\ncommon\n"})

	bb := b.build()
	bb.wantSteps("b after a", wantHit(sh), wantHit(common), wantChanged("RUN echo b", "instruction"), wantChanged(joined, "parent"))
	bb.wantFiles("b", map[string]string{"/which.txt": "b\n", "/joined.txt": "b\ncommon\n"})

	ba = a.build()
	ba.wantAllHit("a again", 4)
	ba.wantFiles("a again", map[string]string{"/which.txt": "a\n", "/joined.txt": "a\ncommon\n"})
	bb = b.build()
	bb.wantAllHit("b again", 4)
	bb.wantFiles("b again", map[string]string{"/which.txt": "b\n", "/joined.txt": "b\ncommon\n"})

	// Same steps, another file under the same name.
	b.write("common.txt", "b's own\n")
	bb = b.build()
	bb.wantSteps("b's common.txt changed", wantHit(sh), wantChanged(common, "files"), wantChanged("RUN echo b", "parent"), wantChanged(joined, "parent"))
	bb.wantFiles("b's own common.txt", map[string]string{"/common.txt": "b's own\n", "/joined.txt": "b\nb's own\n"})
	ba = a.build()
	ba.wantAllHit("a after b's change", 4)
	ba.wantFiles("a after b's change", map[string]string{"/common.txt": "common\n", "/joined.txt": "a\ncommon\n"})
}

// TestCacheOCILayout: --cache-repo oci:/path keeps the cache in an OCI
// layout on disk, and nothing in the registry.
func TestCacheOCILayout(t *testing.T) {
	t.Parallel()
	p := newCacheProject(t, "oci")
	dir := filepath.Join(p.logs, "layout")
	p.cacheRepo = "oci:" + dir
	p.write("Dockerfile", `FROM {{busybox}}
RUN echo one > /one.txt
COPY a.txt /a.txt
RUN cat /a.txt /one.txt > /both.txt
`)
	p.write("a.txt", "a\n")
	const (
		one  = "RUN echo one"
		cp   = "COPY a.txt /a.txt"
		both = "RUN cat /a.txt"
	)
	first := p.build()
	first.wantSteps("an empty cache", wantNotCached(one), wantNotCached(cp), wantNotCached(both))
	lp, err := layout.FromPath(dir)
	if err != nil {
		t.Fatalf("no OCI layout at %s: %v", dir, err)
	}
	idx, err := lp.ImageIndex()
	if err != nil {
		t.Fatal(err)
	}
	m, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Manifests) == 0 {
		t.Errorf("the OCI layout %s holds no entries", dir)
	}

	second := p.build()
	second.wantAllHit("an unchanged rebuild", 3)
	second.wantSameImage(first)

	p.write("a.txt", "b\n")
	b := p.build()
	b.wantSteps("a.txt changed", wantHit(one), wantChanged(cp, "files"), wantChanged(both, "parent"))
	b.wantFiles("a.txt changed", map[string]string{"/both.txt": "b\none\n"})

	if n := repoTags(t, p.dest+"/cache"); len(n) != 0 {
		t.Errorf("with an OCI layout cache, %s/cache got tags %v", p.dest, n)
	}
}

// TestCacheNoPushCache: --no-push-cache reads the cache but never writes
// to it.
func TestCacheNoPushCache(t *testing.T) {
	t.Parallel()
	p := newCacheProject(t, "no-push")
	p.write("Dockerfile", `FROM {{busybox}}
RUN echo one > /one.txt
ARG V=1
RUN echo "v=$V" > /v.txt
`)
	const (
		one = "RUN echo one"
		v   = `RUN echo "v=$V"`
	)
	b := p.build("--no-push-cache")
	b.wantSteps("an empty cache", wantNotCached(one), wantNotCached(v))
	b.wantFiles("first build", map[string]string{"/v.txt": "v=1\n"})
	if n := repoTags(t, p.cacheRepo); len(n) != 0 {
		t.Fatalf("--no-push-cache wrote %s: %v", p.cacheRepo, n)
	}
	b = p.build("--no-push-cache")
	b.wantSteps("still an empty cache", wantNotCached(one), wantNotCached(v))

	// Fill it, then read it without writing.
	b = p.build()
	b.wantSteps("a build that writes", wantNotCached(one), wantNotCached(v))
	filled := repoTags(t, p.cacheRepo)
	if len(filled) == 0 {
		t.Fatalf("a build without --no-push-cache wrote nothing to %s", p.cacheRepo)
	}
	b = p.build("--no-push-cache")
	b.wantAllHit("reading a filled cache", 2)

	b = p.build("--no-push-cache", "--build-arg", "V=2")
	b.wantSteps("V changed", wantHit(one), wantChanged(v, "env"))
	b.wantFiles("V=2", map[string]string{"/v.txt": "v=2\n"})
	b = p.build("--no-push-cache", "--build-arg", "V=2")
	b.wantSteps("V changed, not written", wantHit(one), wantChanged(v, "env"))
	if now := repoTags(t, p.cacheRepo); strings.Join(now, " ") != strings.Join(filled, " ") {
		t.Errorf("--no-push-cache changed %s's tags:\n  before %v\n  after  %v", p.cacheRepo, filled, now)
	}
}

// TestCacheMountKeepsDownloads: a RUN --mount=type=cache that downloads
// into the cache only what is not there yet downloads nothing on its
// second run when --cache-dir is kept, even though the RUN itself runs
// again (its layer is not taken from the cache).
func TestCacheMountKeepsDownloads(t *testing.T) {
	t.Parallel()
	var requests atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		if r.URL.Path != "/thing.txt" {
			http.NotFound(w, r)
			return
		}
		io.WriteString(w, "the thing\n")
	}))
	defer srv.Close()
	if !strings.HasPrefix(srv.URL, "http://127.0.0.1:") {
		t.Fatalf("the file server is at %s, not on 127.0.0.1", srv.URL)
	}

	p := newCacheProject(t, "cache-mount")
	p.write("Dockerfile", `FROM {{busybox}}
ARG URL
ARG BUST=1
RUN --mount=type=cache,target=/var/cache/thing,sharing=locked \
    if [ ! -f /var/cache/thing/thing.txt ]; then \
      wget -q -O /var/cache/thing/thing.part "$URL/thing.txt" && mv /var/cache/thing/thing.part /var/cache/thing/thing.txt; \
    fi && \
    cp /var/cache/thing/thing.txt /installed.txt && echo "bust=$BUST" > /bust.txt
`)
	cacheDir := filepath.Join(p.logs, "cache-dir")
	url := []string{"--build-arg", "URL=" + srv.URL}
	const run = "RUN --mount=type=cache,target=/var/cache/thing,sharing=locked"
	wantRequests := func(what string, n int64) {
		t.Helper()
		if got := requests.Load(); got != n {
			t.Errorf("%s: the server had %d requests in all, want %d", what, got, n)
		}
	}
	wantImage := func(b *cacheBuild, bust string) {
		t.Helper()
		b.check("cache mount", &imagecmp.Expect{
			Files: map[string]imagecmp.FileExpect{
				"/installed.txt": {Type: "file", Content: ptrTo("the thing\n")},
				"/bust.txt":      {Type: "file", Content: ptrTo("bust=" + bust + "\n")},
			},
			// The mount's contents stay out of the image.
			AbsentFromLayers: []string{"/var/cache/thing/thing.txt", "/var/cache/thing/thing.part"},
		})
	}

	b := p.build(append(url, "--cache-dir", cacheDir, "--build-arg", "BUST=1")...)
	b.wantSteps("first build", wantNotCached(run))
	wantImage(b, "1")
	wantRequests("first build", 1)
	found, err := filepath.Glob(filepath.Join(cacheDir, "run-cache", "*", "thing.txt"))
	if err != nil || len(found) != 1 {
		t.Errorf("the downloaded file is not kept under --cache-dir %s: %v %v", cacheDir, found, err)
	}

	// The RUN misses (BUST changed) and runs, with the file already there.
	b = p.build(append(url, "--cache-dir", cacheDir, "--build-arg", "BUST=2")...)
	b.wantSteps("BUST changed", wantChanged(run, "env"))
	wantImage(b, "2")
	wantRequests("second build, BUST changed", 1)

	// Without the layer cache at all.
	b = p.build(append(url, "--cache-dir", cacheDir, "--build-arg", "BUST=3", "--cache=false")...)
	b.wantSteps("--cache=false")
	wantImage(b, "3")
	wantRequests("third build, --cache=false", 1)

	// A new --cache-dir downloads again: the count above is the cache's
	// doing.
	b = p.build(append(url, "--cache-dir", filepath.Join(p.logs, "other-cache-dir"), "--build-arg", "BUST=4", "--cache=false")...)
	wantImage(b, "4")
	wantRequests("a build with a new --cache-dir", 2)
}

// TestCacheDockerignoreException: a file that a "!" line of .dockerignore
// brings back from an excluded directory is an input of the COPY too.
func TestCacheDockerignoreException(t *testing.T) {
	t.Parallel()
	p := newCacheProject(t, "dockerignore-exception")
	p.write("Dockerfile", `FROM {{busybox}}
RUN echo before > /before.txt
COPY . /app
`)
	p.write(".dockerignore", "Dockerfile\n.dockerignore\nsub\n!sub/keep.txt\n")
	p.write("sub/keep.txt", "keep 1\n")
	p.write("sub/drop.txt", "drop\n")
	b := p.build()
	b.wantSteps("an empty cache", wantNotCached("RUN echo before"), wantNotCached("COPY . /app"))
	b.wantFiles("first build", map[string]string{"/app/sub/keep.txt": "keep 1\n"}, "/app/sub/drop.txt")

	p.write("sub/drop.txt", "drop 2\n")
	b = p.build()
	b.wantAllHit("an ignored file changed", 2)

	p.write("sub/keep.txt", "keep 2\n")
	b = p.build()
	b.wantSteps("the file brought back changed", wantHit("RUN echo before"), wantChanged("COPY . /app", "files"))
	b.wantFiles("the file brought back changed", map[string]string{"/app/sub/keep.txt": "keep 2\n"}, "/app/sub/drop.txt")
}

// TestCacheBindMount: the files a RUN --mount=type=bind mounts are an
// input of the RUN, though its layer holds none of them.
func TestCacheBindMount(t *testing.T) {
	t.Parallel()
	p := newCacheProject(t, "bind-mount")
	p.write("Dockerfile", `FROM {{busybox}}
RUN echo before > /before.txt
RUN --mount=type=bind,source=src,target=/src cat /src/* > /cat.txt
RUN echo after > /after.txt
`)
	p.write("src/a", "a 1\n")
	const (
		before = "RUN echo before"
		bind   = "RUN --mount=type=bind"
		after  = "RUN echo after"
	)
	b := p.build()
	b.wantSteps("an empty cache", wantNotCached(before), wantNotCached(bind), wantNotCached(after))
	b = p.build()
	b.wantAllHit("an unchanged rebuild", 3)
	p.write("src/a", "a 2\n")
	b = p.build()
	b.wantSteps("a mounted file changed", wantHit(before), wantChanged(bind, "mounts"), wantChanged(after, "parent"))
	b.check("a mounted file changed", &imagecmp.Expect{
		Files:            map[string]imagecmp.FileExpect{"/cat.txt": {Type: "file", Content: ptrTo("a 2\n")}},
		AbsentFromLayers: []string{"/src"},
	})
}

// TestCacheTTL: an entry older than --cache-ttl is not used.
func TestCacheTTL(t *testing.T) {
	t.Parallel()
	p := newCacheProject(t, "ttl")
	p.write("Dockerfile", "FROM {{busybox}}\nRUN echo a > /a.txt\n")
	b := p.build()
	b.wantSteps("an empty cache", wantNotCached("RUN echo a"))
	time.Sleep(2 * time.Second)
	b = p.build("--cache-ttl=1s")
	b.wantSteps("an entry older than --cache-ttl", wantNotCached("RUN echo a"))
	b = p.build("--cache-ttl=1h")
	b.wantAllHit("an entry younger than --cache-ttl", 1)
}

// TestCacheHitsMatchAFullBuild: a build that takes some steps from the
// cache and runs the others gives the files and config a build without
// the cache gives: the stage's files are made from the base (with its
// whiteouts) and the cached layers (with theirs) before a step runs,
// whether the miss comes first in a stage, after a stage it starts from,
// or after steps that are chained but not cached (--cache-copy-layers=false).
func TestCacheHitsMatchAFullBuild(t *testing.T) {
	t.Parallel()
	p := newCacheProject(t, "match-full-build")
	p.write("Dockerfile", "FROM "+suite.bases["layered"]+` AS tool
RUN rm /data/keep && rm -rf /opt/old && mkdir /opt/old && echo n2 > /opt/old/n2 && rm /etc/group
RUN true
WORKDIR /tmp
COPY x.txt /x.txt
RUN echo tool > /tool.txt && rm /x.txt && mkdir -p /d && echo d > /d/f && chmod 700 /d

FROM tool AS mid
ARG V=1
RUN find / -xdev \( -path /proc -o -path /sys -o -path /dev -o -path /find.txt \) -prune -o -print | sort > /find.txt && echo "mid $V" > /mid.txt

FROM `+suite.bases["busybox"]+`
ARG W=1
RUN echo "w $W" > /w.txt && rm /bin/vi
COPY --from=mid /tool.txt /mid.txt /find.txt /out/
RUN cat /out/tool.txt /out/mid.txt /w.txt > /all.txt; ls /bin | wc -l > /bin-count.txt
`)
	p.write("x.txt", "x\n")
	same := func(what string, b *cacheBuild, args ...string) {
		t.Helper()
		u := p.build(append(args, "--cache=false")...)
		if len(u.steps) != 0 {
			t.Errorf("--cache=false printed cache lines: %v", u.steps)
		}
		report(t, fmt.Sprintf("%s: the files differ from a build without the cache", what),
			imagecmp.DiffFS("cached", b.image().fs, "uncached", u.image().fs, imagecmp.Ignore{}))
		diffs, err := imagecmp.DiffConfig("cached", b.image().raw, "uncached", u.image().raw, imagecmp.Ignore{})
		if err != nil {
			t.Fatal(err)
		}
		report(t, fmt.Sprintf("%s: the config differs from a build without the cache", what), diffs)
	}
	const (
		rm   = "RUN rm /data/keep"
		tru  = "RUN true"
		wd   = "WORKDIR /tmp"
		cp   = "COPY x.txt /x.txt"
		tool = "RUN echo tool"
		find = "RUN find /"
		w    = `RUN echo "w $W"`
		from = "COPY --from=mid"
		all  = "RUN cat /out/tool.txt"
	)
	b := p.build()
	b.wantSteps("an empty cache", wantNotCached(rm), wantNotCached(tru), wantNotCached(wd), wantNotCached(cp), wantNotCached(tool),
		wantNotCached(find), wantNotCached(w), wantNotCached(from), wantNotCached(all))
	b.wantFiles("first build", map[string]string{"/all.txt": "tool\nmid 1\nw 1\n"}, "/bin/vi")

	// The last stage misses; the stages it copies from are made from
	// their cached layers.
	b = p.build("--build-arg", "W=2")
	b.wantSteps("W changed", wantHit(rm), wantHit(tru), wantHit(wd), wantHit(cp), wantHit(tool), wantHit(find),
		wantChanged(w, "env"), wantChanged(from, "parent"), wantChanged(all, "parent, env"))
	b.wantFiles("W=2", map[string]string{"/all.txt": "tool\nmid 1\nw 2\n"}, "/bin/vi")
	same("W=2", b, "--build-arg", "W=2")

	// A stage that starts from a cached one misses.
	b = p.build("--build-arg", "V=2", "--build-arg", "W=2")
	b.wantSteps("V changed", wantHit(rm), wantHit(tru), wantHit(wd), wantHit(cp), wantHit(tool),
		wantChanged(find, "env"), wantHit(w), wantChanged(from, "files"), wantChanged(all, "parent"))
	b.wantFiles("V=2", map[string]string{"/all.txt": "tool\nmid 2\nw 2\n"}, "/bin/vi")
	mid := string(b.fileOf("/out/find.txt").Content)
	for _, p := range []string{"/data/keep\n", "/opt/old/a\n", "/opt/old/sub\n", "/x.txt\n", "/etc/group\n"} {
		if strings.Contains(mid, p) {
			t.Errorf("stage mid, made from its base and cached layers, has %s (deleted by a whiteout):\n%s", strings.TrimSpace(p), mid)
		}
	}
	for _, p := range []string{"/data\n", "/opt/old/n2\n", "/tool.txt\n", "/d/f\n"} {
		if !strings.Contains(mid, p) {
			t.Errorf("stage mid, made from its base and cached layers, lacks %s:\n%s", strings.TrimSpace(p), mid)
		}
	}
	same("V=2", b, "--build-arg", "V=2", "--build-arg", "W=2")

	// WORKDIR and COPY run but are not cached (no HIT or MISS line), so
	// the steps after them hit on files that are already made.
	b = p.build("--cache-copy-layers=false", "--build-arg", "V=3", "--build-arg", "W=2")
	b.wantSteps("COPY layers not cached, V changed", wantHit(rm), wantHit(tru), wantHit(tool),
		wantChanged(find, "env"), wantHit(w), wantChanged(all, "parent"))
	b.wantFiles("V=3", map[string]string{"/all.txt": "tool\nmid 3\nw 2\n"}, "/bin/vi")
	same("COPY layers not cached, V=3", b, "--build-arg", "V=3", "--build-arg", "W=2")
}
