//go:build linux

package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"time"
)

// env is what every builder needs to know about the bench run.
type env struct {
	work        string // scratch directory of this bench run
	registry    string // host:port of the local registry
	executor    string // our executor on the host
	image       string // our executor image
	kanikoImage string
	buildkitDir string // buildkitd and buildctl
	dockerRoot  string // dockerd's storage: the containers' root filesystems

	// settle is how long after a deletion a timed run may start (see
	// settle.go); lastDeletion is the last time the bench deleted files.
	settle       time.Duration
	lastDeletion time.Time
}

// run is one timed build of one context by one builder.
type run struct {
	context string
	dir     string // the prepared context, Dockerfile at its root
	ref     string // where the image goes
	n       int
	id      string     // unique name: context-builder-n
	cg      *memCgroup // nil when the builder's memory cannot be measured
	log     io.Writer

	// builder state between prepare, build and cleanup
	container string
	bkd       *exec.Cmd
	bkdDone   chan error
	bkAddr    string
	root      string
	ids       []string
	volumes   []string // host:container, mounted by dockerRun and primeContainer
}

// builder is one way to build and push an image. Only build is timed.
// prepare makes the run cold (no cache, no local copy of the base image);
// finish ends what must not outlive the run (a daemon, the docker image a
// cold docker build must not find); cleanup removes the rest, deferred to
// the end of the context: deleting tens of thousands of files right
// before the next builder's run would slow that run down (settle.go).
type builder struct {
	name string
	// memory says why the peak memory is not measured, or is "".
	memoryNA string
	// prepareDeletes: prepare removes files (docker rmi).
	prepareDeletes bool
	// pushesNothing: no image to find in the registry after the run.
	pushesNothing bool
	// scratch is the directory under which the builder writes during a
	// build: its storage, a container's root filesystem, its temporary
	// files. nil: it writes nothing.
	scratch func(e *env) string
	check   func(e *env) error
	prepare func(ctx context.Context, e *env, r *run) error
	build   func(ctx context.Context, e *env, r *run) error
	finish  func(ctx context.Context, e *env, r *run)
	cleanup func(ctx context.Context, e *env, r *run)
}

// allBuilders in report order; ours first, the ratio's numerator.
var allBuilders = []string{"ours", "ours-host", "kaniko", "buildkit", "buildah", "docker"}

func builders() map[string]*builder {
	m := map[string]*builder{
		"ours": {
			name:    "ours",
			scratch: containerScratch,
			check:   func(e *env) error { return dockerImageExists(e.image, "make image") },
			build: func(ctx context.Context, e *env, r *run) error {
				return dockerRun(ctx, e, r, e.image, executorArgs("/workspace", r.ref)...)
			},
			cleanup: removeContainer,
		},
		"ours-host": {
			name:    "ours-host",
			scratch: hostScratch,
			check: func(e *env) error {
				_, err := os.Stat(e.executor)
				if err != nil {
					return fmt.Errorf("%w (make build)", err)
				}
				return nil
			},
			build: func(ctx context.Context, e *env, r *run) error {
				return hostExecutor(ctx, e, r, r.cg, hostExecutorArgs(r.dir, r.ref)).Run()
			},
		},
		"kaniko": {
			name:    "kaniko",
			scratch: containerScratch,
			check:   func(e *env) error { return dockerImageExists(e.kanikoImage, "e2e/bench/peers.sh") },
			build: func(ctx context.Context, e *env, r *run) error {
				return dockerRun(ctx, e, r, e.kanikoImage, executorArgs("/workspace", r.ref)...)
			},
			cleanup: removeContainer,
		},
		"docker": {
			name:           "docker",
			memoryNA:       "the legacy builder copies, commits and pushes inside dockerd, a shared daemon that cannot move to a per-build cgroup",
			prepareDeletes: true,
			scratch:        func(e *env) string { return e.dockerRoot },
			check: func(e *env) error {
				return exec.Command("docker", "info").Run()
			},
			prepare: func(ctx context.Context, e *env, r *run) error {
				// Cold: no local copy of the bases or of an earlier result.
				refs, err := fromRefs(filepath.Join(r.dir, "Dockerfile"))
				if err != nil {
					return err
				}
				args := append([]string{"rmi", "-f"}, refs...)
				exec.CommandContext(ctx, "docker", append(args, r.ref)...).Run()
				return nil
			},
			build: func(ctx context.Context, e *env, r *run) error {
				return dockerBuild(ctx, r, r.ref, true)
			},
			finish: func(ctx context.Context, e *env, r *run) {
				// The image and the intermediate images of its stages,
				// which this build made and nothing else uses: the next
				// run must pull the base again, and would not while an
				// image holds its layers.
				args := append([]string{"rmi", "-f", r.ref}, r.ids...)
				exec.Command("docker", args...).Run()
			},
		},
		"buildah": {
			name:    "buildah",
			scratch: func(e *env) string { return filepath.Join(e.work, "buildah") },
			check: func(e *env) error {
				_, err := exec.LookPath("buildah")
				return err
			},
			prepare: func(ctx context.Context, e *env, r *run) error {
				// Its own storage, empty: no base image, no layers.
				r.root = filepath.Join(e.work, "buildah", r.id)
				return os.MkdirAll(r.root, 0o700)
			},
			build: func(ctx context.Context, e *env, r *run) error {
				return buildah(ctx, r, r.cg, r.ref, "--layers=false")
			},
			cleanup: func(ctx context.Context, e *env, r *run) {
				if r.root == "" {
					return
				}
				g := buildahGlobal(r)
				exec.Command("buildah", append(g, "rm", "--all")...).Run()
				exec.Command("buildah", append(g, "rmi", "--all", "--force")...).Run()
				exec.Command("umount", "-R", filepath.Join(r.root, "storage", "overlay")).Run()
				os.RemoveAll(r.root)
			},
		},
		"buildkit": {
			name:    "buildkit",
			scratch: func(e *env) string { return filepath.Join(e.work, "buildkit") },
			check: func(e *env) error {
				for _, b := range []string{"buildkitd", "buildctl"} {
					if _, err := os.Stat(filepath.Join(e.buildkitDir, b)); err != nil {
						return fmt.Errorf("%w (e2e/bench/peers.sh)", err)
					}
				}
				_, err := exec.LookPath("runc")
				return err
			},
			prepare: startBuildkitd,
			build: func(ctx context.Context, e *env, r *run) error {
				return buildctl(ctx, e, r, r.ref)
			},
			finish: stopBuildkitd,
			cleanup: func(ctx context.Context, e *env, r *run) {
				exec.Command("umount", "-R", filepath.Join(r.root, "state")).Run()
				os.RemoveAll(r.root)
			},
		},
	}
	addCachedBuilders(m)
	addExecBuilders(m)
	return m
}

// executorArgs are the flags of a build by our executor or Kaniko in a
// container, context mounted at dir: the bench's compression spelled out.
func executorArgs(dir, dest string) []string {
	return append([]string{"--context=" + dir, "--destination=" + dest}, executorCompressionArgs()...)
}

// hostExecutorArgs are our executor's flags on the host, for the context
// in dir.
func hostExecutorArgs(dir, dest string) []string {
	return append([]string{"--context=" + dir, "--dockerfile=" + filepath.Join(dir, "Dockerfile"),
		"--destination=" + dest}, executorCompressionArgs()...)
}

// hostExecutor runs our executor on the host with its temporary
// directory (TMPDIR: it has no flag for it; the build's root
// filesystems and layer files go there) under the bench's work
// directory, where the peers write, not under /tmp.
func hostExecutor(ctx context.Context, e *env, r *run, cg *memCgroup, args []string) *exec.Cmd {
	cmd := command(ctx, r, cg, e.executor, args...)
	cmd.Env = append(os.Environ(), "TMPDIR="+hostScratch(e))
	fmt.Fprintf(r.log, "+ TMPDIR=%s\n", hostScratch(e))
	return cmd
}

// hostScratch is ours-host's TMPDIR.
func hostScratch(e *env) string { return filepath.Join(e.work, "tmp") }

// containerScratch: an executor in a container builds in the
// container's own root filesystem, its writable layer in dockerd's
// storage.
func containerScratch(e *env) string { return e.dockerRoot }

// command runs name in the cgroup cg (when not nil) from its first
// instruction on, its output going to the run's log. It runs in its own
// process group, killed whole when ctx ends.
func command(ctx context.Context, r *run, cg *memCgroup, name string, args ...string) *exec.Cmd {
	if cg != nil {
		args = append([]string{"-c", `echo $$ > "$0" && exec "$@"`, cg.procsFile(), name}, args...)
		name = "/bin/sh"
	}
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdout, cmd.Stderr = r.log, r.log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 10 * time.Second
	fmt.Fprintf(r.log, "+ %s %s\n", name, strings.Join(args, " "))
	return cmd
}

// dockerRun runs an executor image the way its users do: the context
// mounted at /workspace, host networking to reach the registry on
// 127.0.0.1, and the container in the run's cgroup. It returns when the
// executor exits; the container is removed afterwards, untimed (with
// --rm, docker run would wait for the daemon to delete the container's
// files too: seconds for the manyfiles context).
func dockerRun(ctx context.Context, e *env, r *run, image string, args ...string) error {
	r.container = "kb-bench-" + r.id
	exec.Command("docker", "rm", "-f", r.container).Run()
	a := []string{"run", "--name", r.container, "--network=host",
		"--cgroup-parent=" + r.cg.rel, "-v", r.dir + ":/workspace"}
	for _, v := range r.volumes {
		a = append(a, "-v", v)
	}
	a = append(a, image)
	return command(ctx, r, nil, "docker", append(a, args...)...).Run()
}

func removeContainer(ctx context.Context, e *env, r *run) {
	if r.container != "" {
		exec.Command("docker", "rm", "-f", r.container).Run()
	}
}

func dockerImageExists(image, how string) error {
	if err := exec.Command("docker", "image", "inspect", image).Run(); err != nil {
		return fmt.Errorf("no docker image %s (%s)", image, how)
	}
	return nil
}

func buildahGlobal(r *run) []string {
	return []string{"--root", filepath.Join(r.root, "storage"), "--runroot", filepath.Join(r.root, "run"), "--storage-driver=overlay"}
}

// startBuildkitd starts a buildkitd of its own for the run: fresh root (no
// cache), OCI worker with runc, host networking, the run's cgroup for the
// daemon and its build containers, plain HTTP to the local registry.
func startBuildkitd(ctx context.Context, e *env, r *run) error {
	r.root = filepath.Join(e.work, "buildkit", r.id)
	if err := os.MkdirAll(r.root, 0o700); err != nil {
		return err
	}
	sock := filepath.Join(r.root, "buildkitd.sock")
	r.bkAddr = "unix://" + sock
	cfg := fmt.Sprintf(`root = %q
[grpc]
  address = [%q]
[worker.oci]
  enabled = true
  defaultCgroupParent = %q
[worker.containerd]
  enabled = false
[registry.%q]
  http = true
  insecure = true
`, filepath.Join(r.root, "state"), r.bkAddr, r.cg.rel, e.registry)
	cfgPath := filepath.Join(r.root, "buildkitd.toml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		return err
	}
	logf, err := os.Create(filepath.Join(r.root, "buildkitd.log"))
	if err != nil {
		return err
	}
	// Not tied to ctx: stopBuildkitd ends it by its PID.
	r.bkd = command(context.Background(), r, r.cg, filepath.Join(e.buildkitDir, "buildkitd"),
		"--config", cfgPath, "--oci-worker-net=host")
	r.bkd.Stdout, r.bkd.Stderr = logf, logf
	r.bkd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	if err := r.bkd.Start(); err != nil {
		logf.Close()
		return err
	}
	logf.Close()
	r.bkdDone = make(chan error, 1)
	go func() { r.bkdDone <- r.bkd.Wait() }()
	deadline := time.Now().Add(60 * time.Second)
	for {
		if exec.CommandContext(ctx, filepath.Join(e.buildkitDir, "buildctl"), "--addr", r.bkAddr, "debug", "workers").Run() == nil {
			return nil
		}
		select {
		case err := <-r.bkdDone:
			r.bkdDone <- err
			log, _ := os.ReadFile(filepath.Join(r.root, "buildkitd.log"))
			return fmt.Errorf("buildkitd exited: %v\n%s", err, tail(string(log), 2000))
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return errors.New("buildkitd did not answer within 60s")
		}
	}
}

// stopBuildkitd stops the run's buildkitd by its PID. Its root, the
// whole cache, goes at cleanup; the next run's daemon has a new one, which
// makes it as cold as buildctl prune --all would.
func stopBuildkitd(ctx context.Context, e *env, r *run) {
	if r.bkd == nil || r.bkd.Process == nil {
		return
	}
	r.bkd.Process.Signal(syscall.SIGTERM)
	select {
	case <-r.bkdDone:
	case <-time.After(20 * time.Second):
		r.bkd.Process.Kill()
		<-r.bkdDone
	}
}

// fromRefs lists the images a Dockerfile's FROM lines name (stage names
// included: docker rmi of a name that is no image is harmless).
func fromRefs(dockerfile string) ([]string, error) {
	b, err := os.ReadFile(dockerfile)
	if err != nil {
		return nil, err
	}
	var refs []string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && strings.EqualFold(f[0], "FROM") {
			refs = append(refs, f[1])
		}
	}
	return refs, nil
}

// idCollector passes docker build's output on and keeps the IDs of the
// images each step made (" ---> 0123456789ab").
type idCollector struct {
	w    io.Writer
	ids  []string
	part []byte
}

var stepID = regexp.MustCompile(`^ ---> ([0-9a-f]{12})$`)

func (c *idCollector) Write(p []byte) (int, error) {
	c.part = append(c.part, p...)
	for {
		i := strings.IndexByte(string(c.part), '\n')
		if i < 0 {
			break
		}
		if m := stepID.FindStringSubmatch(string(c.part[:i])); m != nil {
			c.ids = append(c.ids, m[1])
		}
		c.part = c.part[i+1:]
	}
	return c.w.Write(p)
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-n:]
}

// stampWriter prefixes every line with the seconds since start, so that
// each builder's log tells when each of its steps ended.
type stampWriter struct {
	w     io.Writer
	start time.Time
	mid   bool // in the middle of a line
}

func (s *stampWriter) Write(p []byte) (int, error) {
	var out []byte
	for _, c := range p {
		if !s.mid {
			out = fmt.Appendf(out, "%8.3f ", time.Since(s.start).Seconds())
			s.mid = true
		}
		out = append(out, c)
		if c == '\n' {
			s.mid = false
		}
	}
	if _, err := s.w.Write(out); err != nil {
		return 0, err
	}
	return len(p), nil
}

// stepLines returns the lines of our executor's log that time its work:
// one per FROM and per step with its duration, the push, the total, each
// after the time since the run started.
func stepLines(log string) []string {
	var out []string
	s := bufio.NewScanner(strings.NewReader(log))
	s.Buffer(make([]byte, 1<<20), 1<<20)
	for s.Scan() {
		stamp, l, _ := strings.Cut(strings.TrimLeft(s.Text(), " "), " ")
		if (strings.HasPrefix(l, "[") && (strings.Contains(l, "] FROM ") || strings.Contains(l, "] STEP "))) ||
			strings.HasPrefix(l, "pushed ") || strings.HasPrefix(l, "built ") || strings.HasPrefix(l, "bench: exited") {
			out = append(out, fmt.Sprintf("%8ss  %s", stamp, l))
		}
	}
	return out
}
