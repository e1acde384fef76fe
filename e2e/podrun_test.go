//go:build e2e

package e2e

// Helpers for tekton_test.go and argo_test.go: they run the container a
// Tekton step or an Argo template describes with `docker run`, the way a
// kubelet would run it in a pod, against a registry with basic auth.

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	corev1 "k8s.io/api/core/v1"

	"github.com/kaniko-build/kaniko-build/e2e/baseimage"
	"github.com/kaniko-build/kaniko-build/e2e/registry"
)

// envExecutorImage names the executor image the catalog tests run instead
// of defaultExecutorImage.
const envExecutorImage = "E2E_EXECUTOR_IMAGE"

// defaultExecutorImage is what `make image` loads into docker; `make e2e`
// runs `make image` first.
const defaultExecutorImage = "kaniko-build/executor:latest"

// podTimeout bounds one container run.
const podTimeout = 5 * time.Minute

// executorImage returns the executor image to run, failing the test when
// docker lacks it.
func executorImage(t *testing.T) string {
	t.Helper()
	img := os.Getenv(envExecutorImage)
	if img == "" {
		img = defaultExecutorImage
	}
	out, err := exec.Command("docker", "image", "inspect", "--format", "{{.Id}}", img).CombinedOutput()
	if err != nil {
		t.Fatalf("the executor image %s is not in docker (`make image` builds and loads it; `make e2e` does that first): %v: %s",
			img, err, bytes.TrimSpace(out))
	}
	return img
}

// authRegistry is a registry of this test only, behind htpasswd basic
// auth, holding the busybox base image.
type authRegistry struct {
	*registry.Registry
	user, pass string
	busybox    string // <host>/base/busybox:latest
}

func startAuthRegistry(t *testing.T) *authRegistry {
	t.Helper()
	ctx := context.Background()
	r := &authRegistry{user: "builder", pass: "s3cret-" + strings.ReplaceAll(t.Name(), "/", "-")}
	reg, err := registry.Start(ctx, registry.Options{User: r.user, Password: r.pass})
	if err != nil {
		t.Fatalf("starting a registry with basic auth (run `bash e2e/setup.sh` to install docker-registry and htpasswd): %v", err)
	}
	t.Cleanup(func() { reg.Close() })
	r.Registry = reg

	// Anonymous access must be refused, or the test proves nothing about
	// the credentials reaching the executor.
	if _, err := remote.Head(mustRef(t, reg.Host+"/base/busybox:latest"), remote.WithContext(ctx)); err == nil {
		t.Fatal("the registry answered an anonymous request")
	}
	img, err := baseimage.Busybox()
	if err != nil {
		t.Fatalf("making the busybox base image (busybox-static comes with e2e/setup.sh): %v", err)
	}
	r.busybox = reg.Host + "/base/busybox:latest"
	if err := baseimage.Push(ctx, img, r.busybox, r.auth()); err != nil {
		t.Fatal(err)
	}
	return r
}

func (r *authRegistry) auth() remote.Option {
	return remote.WithAuth(&authn.Basic{Username: r.user, Password: r.pass})
}

// dockerConfig is a config.json that logs in to the registry.
func (r *authRegistry) dockerConfig() []byte {
	cfg := map[string]any{"auths": map[string]any{
		r.Host: map[string]string{"auth": base64.StdEncoding.EncodeToString([]byte(r.user + ":" + r.pass))},
	}}
	b, _ := json.Marshal(cfg)
	return b
}

// digest is the digest the registry has for ref.
func (r *authRegistry) digest(t *testing.T, ref string) string {
	t.Helper()
	desc, err := remote.Head(mustRef(t, ref), r.auth())
	if err != nil {
		t.Fatalf("looking up %s in the registry: %v", ref, err)
	}
	return desc.Digest.String()
}

func (r *authRegistry) image(t *testing.T, ref string) v1.Image {
	t.Helper()
	img, err := remote.Image(mustRef(t, ref), r.auth())
	if err != nil {
		t.Fatalf("pulling %s: %v", ref, err)
	}
	return img
}

func mustRef(t *testing.T, ref string) name.Reference {
	t.Helper()
	r, err := name.ParseReference(ref)
	if err != nil {
		t.Fatalf("parsing %s: %v", ref, err)
	}
	return r
}

// layerDigests lists the compressed digests of img's layers.
func layerDigests(t *testing.T, img v1.Image) []string {
	t.Helper()
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range layers {
		d, err := l.Digest()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, d.String())
	}
	return out
}

// secretVolume writes files into a new directory the way the kubelet fills
// a Secret volume: each key is a symlink to ..data/<key>, and ..data a
// symlink to a timestamped directory holding the files.
func secretVolume(t *testing.T, files map[string][]byte) string {
	t.Helper()
	dir := t.TempDir()
	const stamp = "..2026_01_01_00_00_00.000000001"
	if err := os.Mkdir(filepath.Join(dir, stamp), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(stamp, filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	for k, v := range files {
		if err := os.WriteFile(filepath.Join(dir, stamp, k), v, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(path.Join("..data", k), filepath.Join(dir, k)); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// podMount is a bind mount of a host directory.
type podMount struct {
	host, container string
	readOnly        bool
}

// podContainer is what `docker run` needs of a pod's container.
type podContainer struct {
	image      string
	command    []string // the entrypoint, then its first arguments
	args       []string
	env        []corev1.EnvVar
	workingDir string
	security   *corev1.SecurityContext
	mounts     []podMount
	// dockerConfig is a directory with the config.json docker pulls the
	// image with, as a pod's imagePullSecrets; empty for none.
	dockerConfig string
}

// dockerRun runs c with `docker run --network host` and returns its
// output. It runs unprivileged with docker's default capabilities, and
// refuses a container that asks for more, as the catalog promises
// PodSecurity baseline.
func dockerRun(t *testing.T, c podContainer) (string, error) {
	t.Helper()
	var args []string
	if c.dockerConfig != "" {
		args = append(args, "--config", c.dockerConfig)
	}
	// A name, to remove the container if the docker client is killed.
	cname := fmt.Sprintf("kaniko-build-e2e-%d-%d", os.Getpid(), time.Now().UnixNano())
	args = append(args, "run", "--rm", "--name", cname, "--network", "host")
	if len(c.command) > 0 {
		args = append(args, "--entrypoint", c.command[0])
	}
	if s := c.security; s != nil {
		if s.Privileged != nil && *s.Privileged {
			t.Fatalf("container of %s asks to be privileged", c.image)
		}
		if s.Capabilities != nil && len(s.Capabilities.Add) > 0 {
			t.Fatalf("container of %s adds capabilities %v", c.image, s.Capabilities.Add)
		}
		if s.RunAsUser != nil {
			args = append(args, "--user", fmt.Sprint(*s.RunAsUser))
		}
	}
	if c.workingDir != "" {
		args = append(args, "--workdir", c.workingDir)
	}
	for _, e := range c.env {
		if e.ValueFrom != nil {
			t.Fatalf("env %s takes its value from a source docker cannot read", e.Name)
		}
		args = append(args, "--env", e.Name+"="+e.Value)
	}
	for _, m := range c.mounts {
		v := m.host + ":" + m.container
		if m.readOnly {
			v += ":ro"
		}
		args = append(args, "--volume", v)
	}
	args = append(args, c.image)
	if len(c.command) > 1 {
		args = append(args, c.command[1:]...)
	}
	args = append(args, c.args...)

	ctx, cancel := context.WithTimeout(context.Background(), podTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "docker", args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if ctx.Err() != nil {
		exec.Command("docker", "rm", "-f", cname).Run()
		err = fmt.Errorf("timed out after %s: %w", podTimeout, err)
	}
	return "$ docker " + strings.Join(quoteArgs(args), " ") + "\n" + out.String(), err
}

func quoteArgs(args []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		if a == "" || strings.ContainsAny(a, " \"'$[]{}*") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		out[i] = a
	}
	return out
}

// hostPath maps a path inside the container to the host through the
// mounts, the deepest mount first.
func hostPath(mounts []podMount, p string) (string, bool) {
	best := -1
	for i, m := range mounts {
		if p == m.container || strings.HasPrefix(p, strings.TrimSuffix(m.container, "/")+"/") {
			if best < 0 || len(m.container) > len(mounts[best].container) {
				best = i
			}
		}
	}
	if best < 0 {
		return "", false
	}
	rel := strings.TrimPrefix(p, mounts[best].container)
	return filepath.Join(mounts[best].host, filepath.FromSlash(rel)), true
}

// writeFiles writes files (relative path to content) under dir.
func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for p, content := range files {
		full := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// checkDigest checks that a digest the executor reported is exactly the
// registry's, sha256:<64 hex> with nothing around it.
func checkDigest(t *testing.T, what, got, registryDigest string) {
	t.Helper()
	if got != registryDigest {
		t.Errorf("%s is %q, the registry has %q", what, got, registryDigest)
	}
	if len(got) != len("sha256:")+64 || !strings.HasPrefix(got, "sha256:") {
		t.Errorf("%s %q is not exactly sha256:<64 hex>", what, got)
	}
}

// checkLayerPrefix checks that app's first layers are base's layers.
func checkLayerPrefix(t *testing.T, base, app v1.Image) {
	t.Helper()
	bl, al := layerDigests(t, base), layerDigests(t, app)
	if len(al) <= len(bl) {
		t.Fatalf("the app image has %d layers, the base %d: the app should add at least one", len(al), len(bl))
	}
	for i := range bl {
		if al[i] != bl[i] {
			t.Errorf("app layer %d is %s, base layer %d is %s", i, al[i], i, bl[i])
		}
	}
}
