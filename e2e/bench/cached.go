//go:build linux

package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// cachedSuffix names a builder's fully cached rebuild: prepare builds the
// context once with the builder's cache on (untimed), and the timed build
// builds the same context again, unchanged, from a new process or
// container that has only that cache, pushing a new tag.
const cachedSuffix = "-cached"

// containerStart names the row that times a docker run of our image
// without a build, beside the cached rebuilds (see addCachedBuilders).
const containerStart = "container-start"

// primeRef is where a cached builder's untimed first build goes: the same
// repository as the timed one, as in CI, where each build pushes a new tag.
func primeRef(r *run) string { return strings.TrimSuffix(r.ref, ":latest") + ":prime" }

// cacheRepo is the registry repository of a run's layer cache (ours and
// Kaniko): new for each run, so each run primes its own.
func cacheRepo(e *env, r *run) string { return e.registry + "/cache/" + r.id }

// cacheVolume is the host directory of a run's --cache-dir (ours): the
// volume a Tekton workspace or an Argo volume would be, kept from the
// priming build to the timed one.
func cacheVolume(e *env, r *run) string { return filepath.Join(e.work, "cache-dir", r.id) }

func addCachedBuilders(m map[string]*builder) {
	removeVolume := func(ctx context.Context, e *env, r *run) { os.RemoveAll(cacheVolume(e, r)) }
	// Ours keeps --cache-dir on a volume, as the catalog's Task does on
	// its cache workspace: base images and the context's file keys.
	oursArgs := func(e *env, r *run, dest string) []string {
		return append(cachedExecutorArgs(e, r, dest), "--cache-dir=/cache")
	}
	m["ours-cached"] = &builder{
		name:    "ours-cached",
		check:   m["ours"].check,
		scratch: m["ours"].scratch,
		prepare: func(ctx context.Context, e *env, r *run) error {
			r.volumes = []string{cacheVolume(e, r) + ":/cache"}
			return primeContainer(ctx, e, r, e.image, oursArgs(e, r, primeRef(r)))
		},
		build: func(ctx context.Context, e *env, r *run) error {
			return dockerRun(ctx, e, r, e.image, oursArgs(e, r, r.ref)...)
		},
		cleanup: func(ctx context.Context, e *env, r *run) {
			removeContainer(ctx, e, r)
			removeVolume(ctx, e, r)
		},
	}
	// container-start is ours-cached's docker run with no build: the same
	// mounts, network and cgroup, the executor printing its version. What
	// docker takes to start and stop a container, which ours-cached and
	// kaniko-cached pay and the other peers do not.
	m[containerStart+cachedSuffix] = &builder{
		name:          containerStart + cachedSuffix,
		check:         m["ours"].check,
		pushesNothing: true,
		prepare: func(ctx context.Context, e *env, r *run) error {
			r.volumes = []string{cacheVolume(e, r) + ":/cache"}
			return os.MkdirAll(cacheVolume(e, r), 0o755)
		},
		build: func(ctx context.Context, e *env, r *run) error {
			return dockerRun(ctx, e, r, e.image, "--version")
		},
		cleanup: func(ctx context.Context, e *env, r *run) {
			removeContainer(ctx, e, r)
			removeVolume(ctx, e, r)
		},
	}
	hostArgs := func(e *env, r *run, dest string) []string {
		return append(hostExecutorArgs(r.dir, dest),
			"--cache=true", "--cache-repo="+cacheRepo(e, r), "--cache-dir="+cacheVolume(e, r))
	}
	m["ours-host-cached"] = &builder{
		name:    "ours-host-cached",
		check:   m["ours-host"].check,
		scratch: m["ours-host"].scratch,
		prepare: func(ctx context.Context, e *env, r *run) error {
			return hostExecutor(ctx, e, r, nil, hostArgs(e, r, primeRef(r))).Run()
		},
		build: func(ctx context.Context, e *env, r *run) error {
			return hostExecutor(ctx, e, r, r.cg, hostArgs(e, r, r.ref)).Run()
		},
		cleanup: removeVolume,
	}
	// Kaniko keeps the same --cache-dir volume, which its warmer fills
	// with the base images before the priming build (Kaniko's own builds
	// read it, they do not write it), and caches COPY layers only with
	// --cache-copy-layers: it is on. Kaniko's best case.
	m["kaniko-cached"] = &builder{
		name:    "kaniko-cached",
		check:   func(e *env) error { return errors.Join(m["kaniko"].check(e), kanikoWarmerExists(e)) },
		scratch: m["kaniko"].scratch,
		prepare: func(ctx context.Context, e *env, r *run) error {
			r.volumes = []string{cacheVolume(e, r) + ":/cache"}
			if err := warmKaniko(ctx, e, r); err != nil {
				return err
			}
			return primeContainer(ctx, e, r, e.kanikoImage, kanikoCachedArgs(e, r, primeRef(r)))
		},
		build: func(ctx context.Context, e *env, r *run) error {
			return dockerRun(ctx, e, r, e.kanikoImage, kanikoCachedArgs(e, r, r.ref)...)
		},
		cleanup: func(ctx context.Context, e *env, r *run) {
			removeContainer(ctx, e, r)
			removeVolume(ctx, e, r)
		},
	}
	bk := m["buildkit"]
	m["buildkit-cached"] = &builder{
		name:    "buildkit-cached",
		check:   bk.check,
		scratch: bk.scratch,
		// The daemon keeps its cache between the two builds.
		prepare: func(ctx context.Context, e *env, r *run) error {
			if err := startBuildkitd(ctx, e, r); err != nil {
				return err
			}
			return buildctl(ctx, e, r, primeRef(r))
		},
		build: func(ctx context.Context, e *env, r *run) error {
			return buildctl(ctx, e, r, r.ref)
		},
		finish:  bk.finish,
		cleanup: bk.cleanup,
	}
	ba := m["buildah"]
	m["buildah-cached"] = &builder{
		name:    "buildah-cached",
		check:   ba.check,
		scratch: ba.scratch,
		prepare: func(ctx context.Context, e *env, r *run) error {
			if err := ba.prepare(ctx, e, r); err != nil {
				return err
			}
			return buildah(ctx, r, nil, primeRef(r), "--layers=true")
		},
		build: func(ctx context.Context, e *env, r *run) error {
			return buildah(ctx, r, r.cg, r.ref, "--layers=true")
		},
		cleanup: ba.cleanup,
	}
	dk := m["docker"]
	m["docker-cached"] = &builder{
		name:           "docker-cached",
		memoryNA:       dk.memoryNA,
		prepareDeletes: true,
		check:          dk.check,
		scratch:        dk.scratch,
		prepare: func(ctx context.Context, e *env, r *run) error {
			if err := dk.prepare(ctx, e, r); err != nil {
				return err
			}
			return dockerBuild(ctx, r, primeRef(r), false)
		},
		build: func(ctx context.Context, e *env, r *run) error {
			return dockerBuild(ctx, r, r.ref, false)
		},
		finish: func(ctx context.Context, e *env, r *run) {
			dk.finish(ctx, e, r)
			exec.Command("docker", "rmi", "-f", primeRef(r)).Run()
		},
	}
}

// cachedExecutorArgs are the flags of a cached build by our executor or
// Kaniko in a container: a layer cache in the run's own repository.
func cachedExecutorArgs(e *env, r *run, dest string) []string {
	return append(executorArgs("/workspace", dest), "--cache=true", "--cache-repo="+cacheRepo(e, r))
}

// kanikoCachedArgs are Kaniko's flags for a cached build: its base
// images from the warmed --cache-dir volume, COPY layers cached too.
func kanikoCachedArgs(e *env, r *run, dest string) []string {
	return append(cachedExecutorArgs(e, r, dest), "--cache-dir=/cache", "--cache-copy-layers=true")
}

// kanikoWarmerArgs are the flags of Kaniko's warmer: the base images of
// the context's Dockerfile into the --cache-dir volume.
func kanikoWarmerArgs() []string {
	return []string{"--cache-dir=/cache", "--dockerfile=/workspace/Dockerfile"}
}

// warmKaniko runs Kaniko's warmer (/kaniko/warmer in its image), untimed,
// with the run's volumes.
func warmKaniko(ctx context.Context, e *env, r *run) error {
	args := append([]string{"--entrypoint", "/kaniko/warmer", e.kanikoImage}, kanikoWarmerArgs()...)
	if err := runOnce(ctx, r, "warm", args); err != nil {
		return fmt.Errorf("warming Kaniko's cache: %w", err)
	}
	return nil
}

// runOnce runs a container named after the run and what, with the run's
// mounts, outside its cgroup, and removes it: docker run's arguments
// after the mounts are args.
func runOnce(ctx context.Context, r *run, what string, args []string) error {
	name := "kb-bench-" + r.id + "-" + what
	exec.Command("docker", "rm", "-f", name).Run()
	defer exec.Command("docker", "rm", "-f", name).Run()
	a := []string{"run", "--name", name, "--network=host", "-v", r.dir + ":/workspace"}
	for _, v := range r.volumes {
		a = append(a, "-v", v)
	}
	return command(ctx, r, nil, "docker", append(a, args...)...).Run()
}

// kanikoWarmerExists checks that peers.sh put Kaniko's warmer in its
// image (the image's kb-bench.warmer label).
func kanikoWarmerExists(e *env) error {
	out, err := exec.Command("docker", "image", "inspect", "-f", `{{index .Config.Labels "kb-bench.warmer"}}`, e.kanikoImage).Output()
	if err != nil || strings.TrimSpace(string(out)) == "" || strings.TrimSpace(string(out)) == "<no value>" {
		return fmt.Errorf("no /kaniko/warmer in %s (e2e/bench/peers.sh)", e.kanikoImage)
	}
	return nil
}

// primeContainer runs an executor image once, outside the run's cgroup,
// and removes its container.
func primeContainer(ctx context.Context, e *env, r *run, image string, args []string) error {
	if err := runOnce(ctx, r, "prime", append([]string{image}, args...)); err != nil {
		return fmt.Errorf("priming build: %w", err)
	}
	return nil
}

func buildctl(ctx context.Context, e *env, r *run, ref string) error {
	return command(ctx, r, r.cg, filepath.Join(e.buildkitDir, "buildctl"), "--addr", r.bkAddr,
		"build", "--progress=plain", "--frontend=dockerfile.v0",
		"--local", "context="+r.dir, "--local", "dockerfile="+r.dir,
		"--output", buildkitOutput(ref)).Run()
}

// buildah builds with bud and pushes; cg nil runs it outside the cgroup.
func buildah(ctx context.Context, r *run, cg *memCgroup, ref, layers string) error {
	g := buildahGlobal(r)
	bud := append(g, "bud", layers, "--tls-verify=false", "--network=host")
	if cg != nil {
		bud = append(bud, "--cgroup-parent="+cg.rel)
	}
	bud = append(bud, "-t", ref, "-f", filepath.Join(r.dir, "Dockerfile"), r.dir)
	if err := command(ctx, r, cg, "buildah", bud...).Run(); err != nil {
		return err
	}
	push := append(append(g, "push", "--tls-verify=false"), buildahPushCompressionArgs()...)
	push = append(push, ref, "docker://"+ref)
	return command(ctx, r, cg, "buildah", push...).Run()
}

// dockerBuild runs the legacy builder and pushes; noCache makes it cold.
func dockerBuild(ctx context.Context, r *run, ref string, noCache bool) error {
	out := &idCollector{w: r.log}
	args := []string{"build", "--network=host", "-t", ref}
	if noCache {
		args = append(args, "--no-cache")
	}
	cmd := command(ctx, r, nil, "docker", append(args, r.dir)...)
	cmd.Env = append(os.Environ(), "DOCKER_BUILDKIT=0")
	cmd.Stdout = out
	err := cmd.Run()
	r.ids = append(r.ids, out.ids...)
	if err != nil {
		return err
	}
	return command(ctx, r, nil, "docker", "push", ref).Run()
}
