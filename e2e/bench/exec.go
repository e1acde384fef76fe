//go:build linux

package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
)

// The -exec builders run an executor image the way a Tekton step or a
// Jenkins Kubernetes agent does: the container is already running (a
// pod's step containers start with the pod and wait for their turn; an
// agent's container('kaniko') { sh ... } execs into a running one), and
// the build is a docker exec of /kaniko/executor in it. The container
// starts untimed in prepare, its process a host busybox sleep mounted at
// /.bench/sleep (neither image has one). They run only when named in
// BENCH_BUILDERS, the cached variants with them.
var execBuilders = []string{"ours-exec", "kaniko-exec"}

// hostBusybox is a static busybox, the container's idle process.
const hostBusybox = "/bin/busybox"

func addExecBuilders(m map[string]*builder) {
	checkBusybox := func(e *env) error {
		if _, err := os.Stat(hostBusybox); err != nil {
			return fmt.Errorf("%w (apt-get install busybox-static)", err)
		}
		return nil
	}
	for _, b := range []struct {
		name, ours, cached string
		image              func(e *env) string
		cachedArgs         func(e *env, r *run, dest string) []string
		// warm fills the --cache-dir volume before the priming build
		// (Kaniko's warmer), or is nil.
		warm  func(ctx context.Context, e *env, r *run) error
		check func(e *env) error // more checks of the cached variant
	}{
		{
			name: "ours-exec", ours: "ours",
			image: func(e *env) string { return e.image },
			cachedArgs: func(e *env, r *run, dest string) []string {
				return append(cachedExecutorArgs(e, r, dest), "--cache-dir=/cache")
			},
		},
		{
			name: "kaniko-exec", ours: "kaniko",
			image:      func(e *env) string { return e.kanikoImage },
			cachedArgs: kanikoCachedArgs,
			warm:       warmKaniko,
			check:      kanikoWarmerExists,
		},
	} {
		check := func(e *env) error {
			return errors.Join(m[b.ours].check(e), checkBusybox(e))
		}
		m[b.name] = &builder{
			name:    b.name,
			check:   check,
			scratch: containerScratch,
			prepare: func(ctx context.Context, e *env, r *run) error {
				return startContainer(ctx, e, r, b.image(e))
			},
			build: func(ctx context.Context, e *env, r *run) error {
				return execExecutor(ctx, r, executorArgs("/workspace", r.ref))
			},
			finish:  stopContainer,
			cleanup: removeContainer,
		}
		m[b.name+cachedSuffix] = &builder{
			name: b.name + cachedSuffix,
			check: func(e *env) error {
				if b.check != nil {
					return errors.Join(check(e), b.check(e))
				}
				return check(e)
			},
			scratch: containerScratch,
			prepare: func(ctx context.Context, e *env, r *run) error {
				// Both keep a --cache-dir volume.
				r.volumes = []string{cacheVolume(e, r) + ":/cache"}
				if b.warm != nil {
					if err := b.warm(ctx, e, r); err != nil {
						return err
					}
				}
				if err := primeContainer(ctx, e, r, b.image(e), b.cachedArgs(e, r, primeRef(r))); err != nil {
					return err
				}
				return startContainer(ctx, e, r, b.image(e))
			},
			build: func(ctx context.Context, e *env, r *run) error {
				return execExecutor(ctx, r, b.cachedArgs(e, r, r.ref))
			},
			finish: stopContainer,
			cleanup: func(ctx context.Context, e *env, r *run) {
				removeContainer(ctx, e, r)
				os.RemoveAll(cacheVolume(e, r))
			},
		}
	}
}

// stopContainer stops the idle container after the run, untimed, so that
// the run's cgroup is empty when it is removed; the container itself goes
// with the context's cleanups.
func stopContainer(ctx context.Context, e *env, r *run) {
	if r.container != "" {
		exec.Command("docker", "stop", "--time", "0", r.container).Run()
	}
}

// startContainer starts an image's container idle, in the run's cgroup,
// with the mounts dockerRun gives it.
func startContainer(ctx context.Context, e *env, r *run, image string) error {
	r.container = "kb-bench-" + r.id
	exec.Command("docker", "rm", "-f", r.container).Run()
	a := []string{"run", "--detach", "--name", r.container, "--network=host",
		"--cgroup-parent=" + r.cg.rel, "-v", r.dir + ":/workspace",
		"-v", hostBusybox + ":/.bench/sleep:ro", "--entrypoint", "/.bench/sleep"}
	for _, v := range r.volumes {
		a = append(a, "-v", v)
	}
	a = append(a, image, "86400")
	if err := command(ctx, r, nil, "docker", a...).Run(); err != nil {
		return fmt.Errorf("starting the container: %w", err)
	}
	return nil
}

// execExecutor runs /kaniko/executor in the run's started container.
func execExecutor(ctx context.Context, r *run, args []string) error {
	return command(ctx, r, nil, "docker", append([]string{"exec", r.container, "/kaniko/executor"}, args...)...).Run()
}
