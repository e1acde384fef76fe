//go:build e2e

package e2e

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/validate"

	"github.com/kaniko-build/kaniko-build/e2e/baseimage"
	"github.com/kaniko-build/kaniko-build/e2e/imagecmp"
	"github.com/kaniko-build/kaniko-build/e2e/registry"
)

// Environment variables that steer the suite.
const (
	// envSides is "both" (default), "docker" or "ours": which builder runs.
	// Anything but "both" is refused when CI=true.
	envSides = "E2E_SIDES"
	// envExecutor names a prebuilt executor instead of building one.
	envExecutor = "E2E_EXECUTOR"
	// envKeep keeps the work directory (contexts, logs) for a look after.
	envKeep = "E2E_KEEP"
	// envImage names the executor image instead of defaultImage.
	envImage = "E2E_EXECUTOR_IMAGE"
	// envSummary names a file for the line that counts the builds compared
	// with each reference.
	envSummary = "E2E_SUMMARY"
)

// defaultImage is the executor image the image tests run: `make image`
// builds it and loads it into docker, and `make e2e` does that first.
const defaultImage = "kaniko-build/executor:latest"

// buildTimeout bounds one docker build or one executor run.
const buildTimeout = 5 * time.Minute

// suite is what TestMain sets up once for all tests. It is written only
// by TestMain, before any test runs.
var suite *harness

type harness struct {
	root     string // module root
	work     string // scratch directory of this run
	executor string // path of our executor binary; empty with sides=docker
	image    string // the executor image in docker; empty without docker
	reg      *registry.Registry
	httpURL  string // http://127.0.0.1:port of the file server
	bases    map[string]string
	docker   bool // build the references: docker's legacy builder and BuildKit
	ours     bool // build with our executor
	bk       *buildkit
	// start is when the run began: a time after it was stamped by a build.
	start time.Time

	// refImages are the reference images, by case: a case that more than
	// one test compares is built by its reference once.
	refMu     sync.Mutex
	refImages map[string]*refImage
	// compared counts the cases compared with each reference, and those
	// built by ours alone, for the summary at the end of the run.
	compared map[string]int
}

// count adds a compared case to the summary.
func (h *harness) count(reference string) {
	h.refMu.Lock()
	defer h.refMu.Unlock()
	if h.compared == nil {
		h.compared = map[string]int{}
	}
	h.compared[reference]++
}

// summary says how many cases were compared with which reference.
func (h *harness) summary() string {
	h.refMu.Lock()
	defer h.refMu.Unlock()
	s := fmt.Sprintf("e2e: compared with a reference: %d builds with docker build, %d with BuildKit",
		h.compared[refDocker], h.compared[refBuildKit])
	if k := h.compared[""]; k > 0 {
		s += fmt.Sprintf("; %d built by ours alone, NOTHING COMPARED for them (%s=ours)", k, envSides)
	}
	return s
}

func TestMain(m *testing.M) {
	h, cleanup, err := setup()
	if err != nil {
		fmt.Fprintf(os.Stderr, "e2e setup failed: %v\n", err)
		cleanup()
		os.Exit(1)
	}
	suite = h
	code := m.Run()
	// go test shows a passing package's output only with -v: the summary
	// also goes to $E2E_SUMMARY, which `make e2e` prints.
	summary := h.summary()
	fmt.Fprintln(os.Stderr, summary)
	if p := os.Getenv(envSummary); p != "" {
		if err := os.WriteFile(p, []byte(summary+"\n"), 0o644); err != nil {
			fmt.Fprintf(os.Stderr, "e2e: writing %s: %v\n", p, err)
			code = 1
		}
	}
	cleanup()
	os.Exit(code)
}

func setup() (h *harness, cleanup func(), err error) {
	var cleanups []func()
	cleanup = func() {
		for i := len(cleanups) - 1; i >= 0; i-- {
			cleanups[i]()
		}
	}
	ctx := context.Background()
	h = &harness{start: time.Now()}

	switch sides := os.Getenv(envSides); sides {
	case "", "both":
		h.docker, h.ours = true, true
	case "docker":
		h.docker = true
	case "ours":
		h.ours = true
	default:
		return nil, cleanup, fmt.Errorf("%s=%q: want both, docker or ours", envSides, sides)
	}
	if os.Getenv("CI") == "true" && !(h.docker && h.ours) {
		return nil, cleanup, fmt.Errorf("%s=%s is not allowed in CI: CI runs both builders", envSides, os.Getenv(envSides))
	}

	h.root, err = filepath.Abs("..")
	if err != nil {
		return nil, cleanup, fmt.Errorf("finding module root: %w", err)
	}
	h.work, err = os.MkdirTemp("", "kaniko-build-e2e-")
	if err != nil {
		return nil, cleanup, fmt.Errorf("making work directory: %w", err)
	}
	if os.Getenv(envKeep) == "" {
		work := h.work
		cleanups = append(cleanups, func() { os.RemoveAll(work) })
	} else {
		fmt.Fprintf(os.Stderr, "e2e: keeping work directory %s\n", h.work)
	}

	if h.docker {
		out, err := exec.CommandContext(ctx, "docker", "info", "--format", "{{.ServerVersion}}").CombinedOutput()
		if err != nil {
			return nil, cleanup, fmt.Errorf("no docker engine (run `bash e2e/setup.sh` as root to install and start one): docker info: %v: %s", err, out)
		}
		// The image tests run the executor image: it must be there before
		// anything runs, not found missing halfway.
		h.image = os.Getenv(envImage)
		if h.image == "" {
			h.image = defaultImage
		}
		id, err := exec.CommandContext(ctx, "docker", "image", "inspect", "--format", "{{.Id}}", h.image).CombinedOutput()
		if err != nil {
			return nil, cleanup, fmt.Errorf("the executor image %s is not in docker: run `make image` (`make e2e` does it first), "+
				"or name another image in %s: docker image inspect: %v: %s", h.image, envImage, err, bytes.TrimSpace(id))
		}
		fmt.Fprintf(os.Stderr, "e2e: executor image %s (%s)\n", h.image, bytes.TrimSpace(id))
	}

	if h.ours {
		if exe := os.Getenv(envExecutor); exe != "" {
			h.executor = exe
		} else {
			h.executor = filepath.Join(h.work, "executor")
			cmd := exec.CommandContext(ctx, "go", "build", "-o", h.executor, "./cmd/executor")
			cmd.Dir = h.root
			if out, err := cmd.CombinedOutput(); err != nil {
				return nil, cleanup, fmt.Errorf("building the executor: %v\n%s", err, out)
			}
		}
	}

	h.reg, err = registry.Start(ctx, registry.Options{Dir: filepath.Join(h.work, "registry")})
	if err != nil {
		return nil, cleanup, fmt.Errorf("starting registry (run `bash e2e/setup.sh` to install docker-registry): %w", err)
	}
	reg := h.reg
	cleanups = append(cleanups, func() { reg.Close() })

	images, err := baseimage.All()
	if err != nil {
		return nil, cleanup, fmt.Errorf("making base images (busybox-static comes with e2e/setup.sh): %w", err)
	}
	// The one base not made from busybox: a real distribution, for cases
	// that install packages and add users as most Dockerfiles do.
	if images["debian"], err = baseimage.Debian(baseimage.DebianTarball()); err != nil {
		return nil, cleanup, err
	}
	h.bases = map[string]string{}
	for n, img := range images {
		ref := fmt.Sprintf("%s/base/%s:latest", h.reg.Host, n)
		if err := baseimage.Push(ctx, img, ref); err != nil {
			return nil, cleanup, err
		}
		h.bases[n] = ref
	}
	if err := h.platformBases(ctx); err != nil {
		return nil, cleanup, err
	}
	// RUN of arm64 programs, for the multi-platform tests.
	binfmt := filepath.Join(h.work, "binfmt.state")
	if out, err := exec.CommandContext(ctx, "bash", filepath.Join(h.root, "e2e", "qemu-binfmt.sh"), "add", binfmt).CombinedOutput(); err != nil {
		return nil, cleanup, fmt.Errorf("registering QEMU for arm64 (e2e/qemu-binfmt.sh): %v\n%s", err, out)
	}
	cleanups = append(cleanups, func() {
		if out, err := exec.Command("bash", filepath.Join(h.root, "e2e", "qemu-binfmt.sh"), "remove", binfmt).CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "e2e: removing the QEMU handler: %v\n%s", err, out)
		}
	})
	if h.docker {
		// docker pulls the bases under this run's registry port: drop those
		// tags afterwards (the images stay, shared by every run's tags).
		bases := h.bases
		cleanups = append(cleanups, func() {
			for _, ref := range bases {
				exec.Command("docker", "rmi", ref).Run()
			}
		})
	}

	if h.docker {
		dir, err := buildkitDir(ctx, h.root)
		if err != nil {
			return nil, cleanup, err
		}
		if h.bk, err = startBuildkit(ctx, dir, h.work, h.reg.Host); err != nil {
			return nil, cleanup, err
		}
		cleanups = append(cleanups, h.bk.stop)
	}

	srv, url, err := startFileServer(filepath.Join(h.root, "e2e", "testdata", "conformance"))
	if err != nil {
		return nil, cleanup, err
	}
	cleanups = append(cleanups, func() { srv.Close() })
	h.httpURL = url
	return h, cleanup, nil
}

// startFileServer serves <casesDir>/<case>/_http/<path> as /<case>/<path>
// on a free loopback port, for ADD <url>.
func startFileServer(casesDir string) (*http.Server, string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, "", fmt.Errorf("listening for the file server: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{case}/{path...}", func(w http.ResponseWriter, r *http.Request) {
		c, p := r.PathValue("case"), r.PathValue("path")
		if strings.Contains(c, "..") || strings.Contains(p, "..") {
			http.Error(w, "bad path", http.StatusBadRequest)
			return
		}
		f := filepath.Join(casesDir, c, "_http", filepath.FromSlash(p))
		info, err := os.Stat(f)
		if err != nil || !info.Mode().IsRegular() {
			http.NotFound(w, r)
			return
		}
		data, err := os.ReadFile(f)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		// A fixed Last-Modified: builders may set the file's mtime from it.
		w.Header().Set("Last-Modified", "Wed, 01 Jan 2020 00:00:00 GMT")
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Write(data)
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(l)
	return srv, "http://" + l.Addr().String(), nil
}

// vars are the placeholders a case's Dockerfile may use.
func (h *harness) vars(caseName string) map[string]string {
	v := map[string]string{
		"registry":   h.reg.Host,
		"httpserver": h.httpURL + "/" + caseName,
		"case":       caseName,
	}
	for n, ref := range h.bases {
		v[n] = ref
	}
	return v
}

// caseRun is one case being built.
type caseRun struct {
	name string
	src  string // case directory in testdata
	ctx  string // build context (a prepared copy of src)
	logs string // directory for the builders' output
	c    *Case
}

func (h *harness) prepare(t *testing.T, kind, caseName string) *caseRun {
	t.Helper()
	return h.prepareIn(t, kind, caseName, kind)
}

// prepareIn is prepare with the context and logs under <work>/<workDir>,
// for a test that builds cases already built by another.
func (h *harness) prepareIn(t *testing.T, kind, caseName, workDir string) *caseRun {
	t.Helper()
	src := filepath.Join(h.root, "e2e", "testdata", kind, caseName)
	c, err := loadCase(src)
	if err != nil {
		t.Fatal(err)
	}
	base := filepath.Join(h.work, workDir, caseName)
	r := &caseRun{name: caseName, src: src, ctx: filepath.Join(base, "context"), logs: base, c: c}
	if err := makeContext(src, r.ctx, c, h.vars(caseName)); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(r.ctx, c.dockerfile())); err != nil {
		t.Fatalf("case has no Dockerfile: %v", err)
	}
	return r
}

// environ is the builders' environment: ours plus the case's Env.
func (r *caseRun) environ(extra ...string) []string {
	env := os.Environ()
	keys := make([]string, 0, len(r.c.Env))
	for k := range r.c.Env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		env = append(env, k+"="+r.c.Env[k])
	}
	return append(env, extra...)
}

// run runs a builder with its output in logs/<logName>; it returns the
// output and the error.
func (r *caseRun) run(ctx context.Context, logName string, env []string, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, buildTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = env
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	err := cmd.Run()
	text := fmt.Sprintf("$ %s %s\n%s", name, strings.Join(args, " "), out.String())
	if werr := os.WriteFile(filepath.Join(r.logs, logName), []byte(text), 0o644); werr != nil && err == nil {
		err = werr
	}
	if ctx.Err() != nil {
		err = fmt.Errorf("timed out after %s: %w", buildTimeout, err)
	}
	return text, err
}

// dockerBuild builds the case with docker's legacy builder and pushes it
// to ref.
func (h *harness) dockerBuild(ctx context.Context, r *caseRun, ref string) (string, error) {
	args := []string{"build", "--no-cache", "--rm", "--force-rm", "-t", ref,
		"-f", filepath.Join(r.ctx, r.c.dockerfile())}
	for _, a := range r.c.BuildArgs {
		args = append(args, "--build-arg", a)
	}
	if r.c.Target != "" {
		args = append(args, "--target", r.c.Target)
	}
	if r.c.Platform != "" {
		args = append(args, "--platform", r.c.Platform)
	}
	args = append(args, r.c.DockerArgs...)
	args = append(args, r.ctx)
	env := r.environ("DOCKER_BUILDKIT=0")
	out, err := r.run(ctx, "docker-build.log", env, "docker", args...)
	defer removeIntermediates(ctx, out)
	if err != nil {
		return out, err
	}
	defer r.run(ctx, "docker-rmi.log", env, "docker", "rmi", "-f", ref)
	if pout, err := r.run(ctx, "docker-push.log", env, "docker", "push", ref); err != nil {
		return out + pout, fmt.Errorf("pushing: %w", err)
	}
	return out, nil
}

// stepImage is how the legacy builder names the image of each step.
var stepImage = regexp.MustCompile(`(?m)^ ---> ([0-9a-f]{12})$`)

// removeIntermediates deletes the untagged images a legacy build left:
// its other stages, and every step of a build that failed. Tagged ones
// (the base images, which other builds may be using) stay.
func removeIntermediates(ctx context.Context, buildOutput string) {
	ids := stepImage.FindAllStringSubmatch(buildOutput, -1)
	for i := len(ids) - 1; i >= 0; i-- {
		id := ids[i][1]
		tags, err := exec.CommandContext(ctx, "docker", "image", "inspect", "--format", "{{len .RepoTags}}", id).Output()
		if err != nil || strings.TrimSpace(string(tags)) != "0" {
			continue
		}
		exec.CommandContext(ctx, "docker", "rmi", id).Run()
	}
}

// secretFlag is how our executor takes a build secret.
func secretFlag(id, src string) []string {
	return []string{"--secret", "id=" + id + ",src=" + src}
}

// builder builds a prepared case with our executor, pushing to ref, and
// returns the output: the executor on the host, or in its image.
type builder func(ctx context.Context, r *caseRun, ref string) (string, error)

// executorArgs are our executor's flags for the case, with the context
// at ctxDir, a directory of the filesystem the executor sees, whose paths
// join joins (filepath.Join on the host, path.Join in a container), and
// each secret's file named by secretSrc(id, file in the case directory).
func (r *caseRun) executorArgs(ctxDir string, join func(elem ...string) string, secretSrc func(id, file string) string, ref string) []string {
	args := []string{"--context", ctxDir, "--dockerfile", join(ctxDir, filepath.ToSlash(r.c.dockerfile())), "--destination", ref}
	for _, a := range r.c.BuildArgs {
		args = append(args, "--build-arg", a)
	}
	if r.c.Target != "" {
		args = append(args, "--target", r.c.Target)
	}
	if r.c.Platform != "" {
		args = append(args, "--custom-platform", r.c.Platform)
	}
	for _, id := range r.secretIDs() {
		args = append(args, secretFlag(id, secretSrc(id, r.c.Secrets[id]))...)
	}
	return append(args, r.c.ExecutorArgs...)
}

// secretIDs are the case's secret ids, sorted.
func (r *caseRun) secretIDs() []string {
	ids := make([]string, 0, len(r.c.Secrets))
	for id := range r.c.Secrets {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// oursBuild builds the case with our executor on the host, pushing to ref.
func (h *harness) oursBuild(ctx context.Context, r *caseRun, ref string) (string, error) {
	args := r.executorArgs(r.ctx, filepath.Join, func(_, file string) string {
		return filepath.Join(r.src, filepath.FromSlash(file))
	}, ref)
	return r.run(ctx, "executor.log", r.environ(), h.executor, args...)
}

func pull(ctx context.Context, ref string, opts ...remote.Option) (v1.Image, error) {
	r, err := name.ParseReference(ref)
	if err != nil {
		return nil, fmt.Errorf("parsing %s: %w", ref, err)
	}
	img, err := remote.Image(r, append([]remote.Option{remote.WithContext(ctx)}, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("pulling %s: %w", ref, err)
	}
	return img, nil
}

// exists tells whether ref is in the registry; opts add credentials or a
// transport.
func exists(ctx context.Context, ref string, opts ...remote.Option) (bool, error) {
	r, err := name.ParseReference(ref)
	if err != nil {
		return false, fmt.Errorf("parsing %s: %w", ref, err)
	}
	_, err = remote.Head(r, append([]remote.Option{remote.WithContext(ctx)}, opts...)...)
	if err == nil {
		return true, nil
	}
	var terr *transport.Error
	if errors.As(err, &terr) && terr.StatusCode == http.StatusNotFound {
		return false, nil
	}
	return false, fmt.Errorf("looking up %s: %w", ref, err)
}

// built is a pulled, flattened image.
type built struct {
	img v1.Image
	raw []byte // the config blob
	fs  imagecmp.FS
	cmp *imagecmp.Image
}

// dump writes the image's files and config to path, for a look after
// the run (E2E_KEEP=1).
func (b *built) dump(path string) error {
	var sb strings.Builder
	for _, p := range b.fs.Paths() {
		fmt.Fprintf(&sb, "%s %s\n", p, imagecmp.Describe(b.fs[p]))
	}
	var cfg bytes.Buffer
	if err := json.Indent(&cfg, b.raw, "", "  "); err != nil {
		return fmt.Errorf("indenting config: %w", err)
	}
	sb.Write(cfg.Bytes())
	sb.WriteString("\n")
	layers, err := b.img.Layers()
	if err != nil {
		return fmt.Errorf("listing layers: %w", err)
	}
	// The base layers are the same in every case: list only the others.
	for i, l := range layers {
		if err := listLayer(&sb, i, l); err != nil {
			return err
		}
	}
	return os.WriteFile(path, []byte(sb.String()), 0o644)
}

// listLayer writes one line per tar entry of a layer, unless the layer is
// one of the base images' busybox layers (the same in every image).
func listLayer(w io.Writer, i int, l v1.Layer) error {
	rc, err := l.Uncompressed()
	if err != nil {
		return fmt.Errorf("opening layer %d: %w", i, err)
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	var lines []string
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("reading layer %d: %w", i, err)
		}
		if h.Name == "bin/busybox" || h.Name == "./bin/busybox" {
			fmt.Fprintf(w, "layer %d: busybox layer\n", i)
			return nil
		}
		line := fmt.Sprintf("layer %d: %c %04o %d:%d %s", i, h.Typeflag, h.Mode, h.Uid, h.Gid, h.Name)
		if h.Linkname != "" {
			line += " -> " + h.Linkname
		}
		lines = append(lines, line)
	}
	for _, l := range lines {
		fmt.Fprintln(w, l)
	}
	return nil
}

// load pulls ref (opts add credentials or a transport), validates it
// and flattens it.
func load(ctx context.Context, ref string, opts ...remote.Option) (*built, error) {
	img, err := pull(ctx, ref, opts...)
	if err != nil {
		return nil, err
	}
	if err := validate.Image(img); err != nil {
		return nil, fmt.Errorf("validating %s: %w", ref, err)
	}
	c, err := imagecmp.Read(img)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", ref, err)
	}
	return &built{img: img, raw: c.RawConfig, fs: c.FS, cmp: c}, nil
}

// maxReport bounds how many differences a failure prints.
const maxReport = 150

func report(t *testing.T, what string, lines []string) {
	t.Helper()
	if len(lines) == 0 {
		return
	}
	shown := lines
	if len(shown) > maxReport {
		shown = shown[:maxReport]
	}
	msg := fmt.Sprintf("%s (%d):\n  %s", what, len(lines), strings.Join(shown, "\n  "))
	if len(lines) > maxReport {
		msg += fmt.Sprintf("\n  ... and %d more", len(lines)-maxReport)
	}
	t.Error(msg)
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "...\n" + s[len(s)-n:]
}

func TestConformance(t *testing.T) {
	h := suite
	names, err := listCases(filepath.Join(h.root, "e2e", "testdata", "conformance"))
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		t.Run(n, func(t *testing.T) {
			t.Parallel()
			h.conformance(t, n)
		})
	}
}

func (h *harness) conformance(t *testing.T, caseName string) {
	h.compareCase(t, h.prepare(t, "conformance", caseName), "ours", h.oursBuild, h.ours)
}

// refImage is the reference image of one case, built once per run.
type refImage struct {
	once sync.Once
	b    *built
	err  error
}

// Reference builders.
const (
	refDocker   = "docker build"
	refBuildKit = "BuildKit"
)

// references names the builders a case is compared with: docker's legacy
// builder, BuildKit for what the legacy builder cannot build or builds
// differently (legacy: false), or both (buildkit: true).
func (c *Case) references() []string {
	switch {
	case !c.legacy():
		return []string{refBuildKit}
	case c.BuildKit:
		return []string{refDocker, refBuildKit}
	}
	return []string{refDocker}
}

// format is the manifest format the case asks our executor for
// (--image-format), "docker" by default: the bases are Docker images and
// the legacy builder writes nothing else.
func (c *Case) format() string {
	for i, a := range c.ExecutorArgs {
		if v, ok := strings.CutPrefix(a, "--image-format="); ok {
			return v
		}
		if a == "--image-format" && i+1 < len(c.ExecutorArgs) {
			return c.ExecutorArgs[i+1]
		}
	}
	return "docker"
}

// referenceBuilt builds the case with the reference builder refName,
// pushes it to <registry>/<docker|buildkit>/<case> and loads it, or
// returns what an earlier call for the case and builder got.
func (h *harness) referenceBuilt(ctx context.Context, r *caseRun, refName string) (*built, error) {
	kind := "docker"
	if refName == refBuildKit {
		kind = "buildkit"
	}
	h.refMu.Lock()
	if h.refImages == nil {
		h.refImages = map[string]*refImage{}
	}
	d := h.refImages[kind+"/"+r.name]
	if d == nil {
		d = &refImage{}
		h.refImages[kind+"/"+r.name] = d
	}
	h.refMu.Unlock()
	d.once.Do(func() {
		ref := fmt.Sprintf("%s/%s/%s:latest", h.reg.Host, kind, r.name)
		var out string
		var err error
		if kind == "docker" {
			out, err = h.dockerBuild(ctx, r, ref)
		} else {
			out, err = h.bk.build(ctx, r, ref, r.c.format())
		}
		if err != nil {
			d.err = fmt.Errorf("%s: %v\n%s", refName, err, tail(out, 4000))
			return
		}
		if d.b, d.err = load(ctx, ref); d.err != nil {
			d.err = fmt.Errorf("%s's image: %w", refName, d.err)
			return
		}
		d.err = d.b.dump(filepath.Join(r.logs, kind+"-image.txt"))
	})
	return d.b, d.err
}

// compareCase builds the prepared case with its reference (unless the
// references are off) and, when ours is set, with build, pushing to
// <registry>/<repo>/<case>; then it checks the images as the README says.
func (h *harness) compareCase(t *testing.T, r *caseRun, repo string, build builder, ours bool) {
	ctx := context.Background()
	c := r.c
	oursRef := fmt.Sprintf("%s/%s/%s:latest", h.reg.Host, repo, r.name)

	refs := map[string]*built{}
	var our *built
	if h.docker {
		for _, name := range c.references() {
			ref, err := h.referenceBuilt(ctx, r, name)
			if err != nil {
				t.Fatal(err)
			}
			refs[name] = ref
			if c.Expect != nil {
				problems, err := c.Expect.Check(ref.img, ref.fs, c.ignore())
				if err != nil {
					t.Fatal(err)
				}
				report(t, name+"'s image does not meet case.json's expect (is the expectation wrong?)", problems)
			}
		}
	}
	if ours {
		out, err := build(ctx, r, oursRef)
		if err != nil {
			t.Fatalf("executor: %v\n%s", err, tail(out, 6000))
		}
		if our, err = load(ctx, oursRef); err != nil {
			t.Fatalf("our image: %v\nexecutor output:\n%s", err, tail(out, 3000))
		}
		if err := our.dump(filepath.Join(r.logs, "ours-image.txt")); err != nil {
			t.Fatal(err)
		}
		ext, err := imagecmp.FlattenExtract(our.img)
		if err != nil {
			t.Fatal(err)
		}
		// mutate.Extract drops relative links that climb out of the root,
		// on purpose: those are not ours to report.
		report(t, "go-containerregistry's mutate.Extract (crane export and the tools built on it) flattens our layers differently "+
			"from the OCI rules that docker and containerd follow; a whiteout and a new entry for one path in one layer does that",
			imagecmp.DiffFS("oci", our.fs, "mutate.Extract", ext, imagecmp.Ignore{Paths: imagecmp.EscapingLinks(our.fs)}))
		if f := imagecmp.Format(our.cmp); f != c.format() {
			t.Errorf("our image's manifest format is %s, want %s", f, c.format())
		}
		if c.Expect != nil {
			problems, err := c.Expect.Check(our.img, our.fs, imagecmp.Ignore{})
			if err != nil {
				t.Fatal(err)
			}
			report(t, "our image does not meet case.json's expect", problems)
		}
	}
	if our == nil {
		return
	}
	if len(refs) == 0 {
		h.count("")
		return
	}
	for _, name := range c.references() {
		diffs, err := imagecmp.Compare(name, refs[name].cmp, "ours", our.cmp, imagecmp.Options{
			Ignore: c.ignore(),
			Times:  imagecmp.Times{IsBuildTime: h.isBuildTime},
			Legacy: name == refDocker,
		})
		if err != nil {
			t.Fatal(err)
		}
		report(t, "our image differs from "+name+"'s", diffs)
		h.count(name)
	}
}

// isBuildTime tells a time a build stamped: one after the run began, to
// the second (the legacy builder writes whole seconds).
func (h *harness) isBuildTime(t time.Time) bool {
	return !t.Before(h.start.Truncate(time.Second))
}

func TestErrors(t *testing.T) {
	h := suite
	names, err := listCases(filepath.Join(h.root, "e2e", "testdata", "errors"))
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		t.Run(n, func(t *testing.T) {
			t.Parallel()
			h.failure(t, n)
		})
	}
}

func (h *harness) failure(t *testing.T, caseName string) {
	ctx := context.Background()
	r := h.prepare(t, "errors", caseName)
	c := r.c
	if len(c.Error) == 0 {
		t.Fatal("case.json: an error case needs \"error\": substrings of the expected message")
	}
	// The reference must fail too: docker build, or BuildKit for syntax
	// the legacy builder cannot parse.
	if h.docker && c.dockerFails() {
		ref := fmt.Sprintf("%s/docker-errors/%s:latest", h.reg.Host, caseName)
		if out, err := h.dockerBuild(ctx, r, ref); err == nil {
			t.Errorf("docker build succeeded, want a failure (is the case wrong?)\n%s", tail(out, 2000))
		}
	} else if h.docker {
		ref := fmt.Sprintf("%s/buildkit-errors/%s:latest", h.reg.Host, caseName)
		if out, err := h.bk.build(ctx, r, ref, r.c.format()); err == nil {
			t.Errorf("BuildKit succeeded, want a failure (is the case wrong?)\n%s", tail(out, 2000))
		}
	}
	if !h.ours {
		return
	}
	ref := fmt.Sprintf("%s/ours-errors/%s:latest", h.reg.Host, caseName)
	out, err := h.oursBuild(ctx, r, ref)
	var ee *exec.ExitError
	switch {
	case err == nil:
		t.Errorf("executor succeeded, want a failure\n%s", tail(out, 3000))
	case !errors.As(err, &ee):
		t.Errorf("executor did not run to a failure exit: %v\n%s", err, tail(out, 3000))
	case c.ExitCode != 0 && ee.ExitCode() != c.ExitCode:
		t.Errorf("executor exited %d, want %d\n%s", ee.ExitCode(), c.ExitCode, tail(out, 3000))
	}
	for _, s := range c.Error {
		if !strings.Contains(out, s) {
			t.Errorf("executor output lacks %q:\n%s", s, tail(out, 3000))
		}
	}
	found, err := exists(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	if found {
		t.Errorf("%s was pushed by a failed build", ref)
	}
}
