//go:build e2e

package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// envBuildkit names the directory with buildkitd and buildctl
// (e2e/buildkit.sh prints it; `make e2e` passes it on).
const envBuildkit = "E2E_BUILDKIT_DIR"

// buildkit is a buildkitd of the run's own: rootful, OCI worker with runc,
// host networking, plain HTTP to the run's registry, a fresh root.
type buildkit struct {
	dir  string // buildkitd and buildctl
	root string
	addr string
	cmd  *exec.Cmd
	done chan error
	// mu makes builds take turns: each starts with no context kept from
	// an earlier one.
	mu sync.Mutex
}

// buildkitDir finds buildkitd and buildctl: $E2E_BUILDKIT_DIR, or where
// e2e/buildkit.sh builds them for the version in go.mod.
func buildkitDir(ctx context.Context, moduleRoot string) (string, error) {
	dir := os.Getenv(envBuildkit)
	if dir == "" {
		cmd := exec.CommandContext(ctx, "go", "list", "-m", "-f", "{{.Version}}", "github.com/moby/buildkit")
		cmd.Dir = moduleRoot
		v, err := cmd.Output()
		if err != nil {
			return "", fmt.Errorf("finding BuildKit's version in go.mod: %w", err)
		}
		cache := os.Getenv("BENCH_CACHE")
		if cache == "" {
			home, err := os.UserHomeDir()
			if err != nil {
				return "", fmt.Errorf("finding the home directory: %w", err)
			}
			cache = filepath.Join(home, ".cache", "kaniko-build-bench")
		}
		dir = filepath.Join(cache, "buildkit-"+strings.TrimSpace(string(v)))
	}
	for _, b := range []string{"buildkitd", "buildctl"} {
		if _, err := os.Stat(filepath.Join(dir, b)); err != nil {
			return "", fmt.Errorf("no %s in %s (run `bash e2e/setup.sh` as root, which builds it): %w", b, dir, err)
		}
	}
	if _, err := exec.LookPath("runc"); err != nil {
		return "", fmt.Errorf("BuildKit's OCI worker needs runc (run `bash e2e/setup.sh` as root): %w", err)
	}
	return dir, nil
}

// startBuildkit starts buildkitd under work and waits until it answers.
func startBuildkit(ctx context.Context, dir, work, registryHost string) (*buildkit, error) {
	root := filepath.Join(work, "buildkit")
	if err := os.MkdirAll(root, 0o700); err != nil {
		return nil, fmt.Errorf("making buildkitd's root: %w", err)
	}
	bk := &buildkit{dir: dir, root: root, addr: "unix://" + filepath.Join(root, "buildkitd.sock")}
	cfg := fmt.Sprintf(`root = %q
[grpc]
  address = [%q]
[worker.oci]
  enabled = true
  gc = false
[worker.containerd]
  enabled = false
[registry.%q]
  http = true
  insecure = true
`, filepath.Join(root, "state"), bk.addr, registryHost)
	cfgPath := filepath.Join(root, "buildkitd.toml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		return nil, fmt.Errorf("writing buildkitd's config: %w", err)
	}
	logf, err := os.Create(filepath.Join(root, "buildkitd.log"))
	if err != nil {
		return nil, fmt.Errorf("making buildkitd's log: %w", err)
	}
	defer logf.Close()
	bk.cmd = exec.Command(filepath.Join(dir, "buildkitd"), "--config", cfgPath, "--oci-worker-net=host")
	bk.cmd.Stdout, bk.cmd.Stderr = logf, logf
	bk.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := bk.cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting buildkitd: %w", err)
	}
	bk.done = make(chan error, 1)
	go func() { bk.done <- bk.cmd.Wait() }()
	// Ask until it answers: buildctl connects to the socket once it is
	// there and serving.
	deadline := time.Now().Add(60 * time.Second)
	for {
		if exec.CommandContext(ctx, filepath.Join(dir, "buildctl"), "--addr", bk.addr, "debug", "workers").Run() == nil {
			return bk, nil
		}
		select {
		case err := <-bk.done:
			bk.done <- err
			log, _ := os.ReadFile(filepath.Join(root, "buildkitd.log"))
			return nil, fmt.Errorf("buildkitd exited: %v\n%s", err, tail(string(log), 2000))
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			bk.stop()
			return nil, errors.New("buildkitd did not answer within 60s")
		}
	}
}

// stop ends buildkitd and what it runs.
func (bk *buildkit) stop() {
	if bk.cmd.Process == nil {
		return
	}
	bk.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-bk.done:
	case <-time.After(20 * time.Second):
		syscall.Kill(-bk.cmd.Process.Pid, syscall.SIGKILL)
		<-bk.done
	}
}

// build builds the case with BuildKit's Dockerfile frontend and pushes it
// to ref, with OCI media types when format is "oci" and Docker's
// otherwise.
func (bk *buildkit) build(ctx context.Context, r *caseRun, ref, format string) (string, error) {
	// buildkitd keeps the last context it was sent and sends again only
	// what changed by size and mtime, writing into the directories it
	// kept (whose times then change): each build starts from none.
	bk.mu.Lock()
	defer bk.mu.Unlock()
	ctl := filepath.Join(bk.dir, "buildctl")
	if out, err := exec.CommandContext(ctx, ctl, "--addr", bk.addr, "prune", "--filter", "type==source.local").CombinedOutput(); err != nil {
		return string(out), fmt.Errorf("pruning buildkitd's kept contexts: %w", err)
	}
	df := filepath.Join(r.ctx, r.c.dockerfile())
	args := []string{"--addr", bk.addr, "build", "--progress", "plain", "--frontend", "dockerfile.v0",
		"--local", "context=" + r.ctx, "--local", "dockerfile=" + filepath.Dir(df),
		"--opt", "filename=" + filepath.Base(df)}
	env := r.environ()
	for _, a := range r.c.BuildArgs {
		k, v, ok := strings.Cut(a, "=")
		if !ok {
			// KEY alone: the value comes from the environment, as with
			// docker build and our executor.
			if v, ok = lookupEnv(env, k); !ok {
				continue
			}
		}
		args = append(args, "--opt", "build-arg:"+k+"="+v)
	}
	if r.c.Target != "" {
		args = append(args, "--opt", "target="+r.c.Target)
	}
	if r.c.Platform != "" {
		args = append(args, "--opt", "platform="+r.c.Platform)
	}
	for _, id := range r.secretIDs() {
		args = append(args, "--secret", "id="+id+",src="+filepath.Join(r.src, filepath.FromSlash(r.c.Secrets[id])))
	}
	args = append(args, "--output", fmt.Sprintf("type=image,name=%s,push=true,oci-mediatypes=%t", ref, format == "oci"))
	return r.run(ctx, "buildkit-build.log", env, ctl, args...)
}

// lookupEnv finds k in an environment list; the last entry wins.
func lookupEnv(env []string, k string) (string, bool) {
	for i := len(env) - 1; i >= 0; i-- {
		if v, ok := strings.CutPrefix(env[i], k+"="); ok {
			return v, true
		}
	}
	return "", false
}
