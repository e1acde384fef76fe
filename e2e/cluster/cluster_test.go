//go:build cluster

// Package cluster runs the published Tekton and Argo catalog on a real
// single-node cluster that e2e/cluster/cluster.sh builds and starts (`make
// e2e-cluster`). The script passes the cluster in the environment (see
// write_env in cluster.sh); every test fails, none skips, when it is missing.
package cluster

import (
	"archive/tar"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cgi"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"sigs.k8s.io/yaml"
)

// env is the running cluster, from cluster.sh's environment file.
var env struct {
	state, nodeIP, registry, user, pass, busybox, bin string
	executor                                          string // the released executor image, repository:tag@digest
	release                                           string // the tree make release rendered: catalog/ and examples/
	ns                                                string // Pod Security baseline
	restricted                                        string // Pod Security restricted
	git                                               string // http://NODE_IP:port of the test's git server
}

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	for _, v := range []struct {
		p   *string
		key string
	}{
		{&env.state, "KB_CLUSTER_STATE"}, {&env.nodeIP, "KB_NODE_IP"}, {&env.registry, "KB_REGISTRY"},
		{&env.user, "KB_REG_USER"}, {&env.pass, "KB_REG_PASS"}, {&env.executor, "KB_EXECUTOR_IMAGE"},
		{&env.busybox, "KB_BUSYBOX"}, {&env.bin, "KB_BIN"}, {&env.release, "KB_RELEASE"},
	} {
		*v.p = os.Getenv(v.key)
		if *v.p == "" || os.Getenv("KUBECONFIG") == "" {
			fmt.Fprintf(os.Stderr, "%s is not set: run these tests with `make e2e-cluster` (e2e/cluster/cluster.sh)\n", v.key)
			return 1
		}
	}
	env.ns = fmt.Sprintf("kb-e2e-%d", time.Now().Unix()%100000)
	env.restricted = env.ns + "-restricted"
	if err := setup(); err != nil {
		fmt.Fprintln(os.Stderr, "setup:", err)
		return 1
	}
	return m.Run()
}

// setup makes the namespaces (Pod Security "baseline" and "restricted",
// enforced), the registry credentials, the hostPath volumes, the executor's
// RBAC for Argo, and applies the catalog as make release rendered it.
func setup() error {
	t0 := time.Now()
	// The non-root Task needs Tekton's own containers admitted under
	// restricted, as its README says.
	if out, err := kubectlErr(nil, "-n", "tekton-pipelines", "patch", "configmap", "feature-flags",
		"-p", `{"data":{"set-security-context":"true"}}`); err != nil {
		return fmt.Errorf("setting Tekton's set-security-context: %v\n%s", err, out)
	}
	if err := prepareNamespace(env.ns, "baseline", "kaniko-build", "kaniko-build-index"); err != nil {
		return err
	}
	if err := prepareNamespace(env.restricted, "restricted", "kaniko-build-nonroot"); err != nil {
		return err
	}
	// Volumes for claims: hostPath PersistentVolumes without a storage class,
	// which claims without one bind to.
	var pvs bytes.Buffer
	for i := 0; i < 16; i++ {
		dir := filepath.Join(env.state, "pv", fmt.Sprintf("%s-%02d", env.ns, i))
		if err := os.MkdirAll(dir, 0o777); err != nil {
			return err
		}
		if err := os.Chmod(dir, 0o777); err != nil {
			return err
		}
		fmt.Fprintf(&pvs, `---
apiVersion: v1
kind: PersistentVolume
metadata: {name: %s-%02d, labels: {kb-cluster-e2e: "true"}}
spec:
  capacity: {storage: 2Gi}
  accessModes: [ReadWriteOnce]
  persistentVolumeReclaimPolicy: Retain
  hostPath: {path: %s, type: Directory}
`, env.ns, i, dir)
	}
	if out, err := kubectlErr(pvs.Bytes(), "apply", "-f", "-"); err != nil {
		return fmt.Errorf("creating volumes: %v\n%s", err, out)
	}
	if err := pushMultiarch(); err != nil {
		return err
	}
	if err := pushDebianOwned(); err != nil {
		return err
	}
	g, err := startGitServer()
	if err != nil {
		return err
	}
	env.git = g
	fmt.Printf("cluster test namespace %s, registry %s, setup %.1fs\n", env.ns, env.registry, time.Since(t0).Seconds())
	return nil
}

// prepareNamespace makes the namespace ns with Pod Security level enforced,
// the registry credentials, Argo's RBAC, and applies the Tekton tasks (each
// with its StepAction if there is one) and the Argo WorkflowTemplate as
// make release rendered them; they must default to the released image.
func prepareNamespace(ns, level string, tasks ...string) error {
	steps := [][]string{
		{"create", "namespace", ns},
		{"label", "namespace", ns, "pod-security.kubernetes.io/enforce=" + level, "kb-cluster-e2e=true"},
		{"-n", ns, "create", "secret", "docker-registry", "registry-credentials",
			"--docker-server=" + env.registry, "--docker-username=" + env.user, "--docker-password=" + env.pass},
		{"-n", ns, "create", "secret", "docker-registry", "docker-config",
			"--docker-server=" + env.registry, "--docker-username=" + env.user, "--docker-password=" + env.pass},
		{"-n", ns, "patch", "serviceaccount", "default", "-p", `{"imagePullSecrets":[{"name":"registry-credentials"}]}`},
		{"-n", ns, "create", "role", "argo-executor", "--verb=create,patch,get,list,watch", "--resource=workflowtaskresults.argoproj.io"},
		{"-n", ns, "create", "rolebinding", "argo-executor", "--role=argo-executor", "--serviceaccount=" + ns + ":default"},
		// Argo's controller reads the image pull secrets to look up an
		// image's command (the DAG's run-app); the cluster-wide install does
		// not let it read Secrets.
		{"-n", ns, "create", "role", "argo-pull-secrets", "--verb=get", "--resource=secrets"},
		{"-n", ns, "create", "rolebinding", "argo-pull-secrets", "--role=argo-pull-secrets", "--serviceaccount=argo:argo"},
		{"-n", ns, "apply", "-f", filepath.Join(env.release, "catalog/argo/kaniko-build/0.1.0/manifests.yaml")},
	}
	defaults := [][]string{{"workflowtemplate", "kaniko-build", `{.spec.arguments.parameters[?(@.name=="builder-image")].value}`}}
	for _, task := range tasks {
		steps = append(steps, []string{"-n", ns, "apply", "-f", filepath.Join(env.release, "catalog/task", task, "0.1", task+".yaml")})
		defaults = append(defaults, []string{"task", task, `{.spec.params[?(@.name=="BUILDER_IMAGE")].default}`})
		sa := filepath.Join(env.release, "catalog/stepaction", task, "0.1", task+".yaml")
		if _, err := os.Stat(sa); err == nil {
			steps = append(steps, []string{"-n", ns, "apply", "-f", sa})
			defaults = append(defaults, []string{"stepaction", task, `{.spec.params[?(@.name=="BUILDER_IMAGE")].default}`})
		}
	}
	for _, s := range steps {
		if out, err := kubectlErr(nil, s...); err != nil {
			return fmt.Errorf("kubectl %s: %v\n%s", strings.Join(s, " "), err, out)
		}
	}
	for _, d := range defaults {
		out, err := kubectlErr(nil, "-n", ns, "get", d[0], d[1], "-o", "jsonpath="+d[2])
		if err != nil || out != env.executor {
			return fmt.Errorf("the applied %s %s in %s defaults to the image %q (%v), make release pushed %s", d[0], d[1], ns, out, err, env.executor)
		}
	}
	return nil
}

func kubectlErr(stdin []byte, args ...string) (string, error) {
	cmd := exec.Command(filepath.Join(env.bin, "kubectl"), args...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func kubectl(t *testing.T, stdin []byte, args ...string) string {
	t.Helper()
	out, err := kubectlErr(stdin, args...)
	if err != nil {
		t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// timed logs how long the test took, for the run's summary.
func timed(t *testing.T) {
	t0 := time.Now()
	t.Cleanup(func() { t.Logf("timing: %s %.1fs", t.Name(), time.Since(t0).Seconds()) })
}

// ---------------------------------------------------------------- registry

func regOpts() []remote.Option {
	return []remote.Option{remote.WithAuth(&authn.Basic{Username: env.user, Password: env.pass})}
}

// digestOf returns the registry's digest for ref, or "" if it has no such tag.
func digestOf(t *testing.T, ref string) string {
	t.Helper()
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	d, err := remote.Head(r, regOpts()...)
	if err != nil {
		var te *transport.Error
		if errors.As(err, &te) && te.StatusCode == http.StatusNotFound {
			return ""
		}
		t.Fatalf("HEAD %s: %v", ref, err)
	}
	return d.Digest.String()
}

// pull reads the image ref from the registry.
func pull(t *testing.T, ref string) v1.Image {
	t.Helper()
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	img, err := remote.Image(r, regOpts()...)
	if err != nil {
		t.Fatalf("pulling %s: %v", ref, err)
	}
	return img
}

// layers returns the layer digests of the image ref.
func layers(t *testing.T, ref string) []string {
	t.Helper()
	ls, err := pull(t, ref).Layers()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range ls {
		d, err := l.Digest()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, d.String())
	}
	return out
}

// repoExists reports whether the registry has any tag in repository repo.
func repoExists(t *testing.T, repo string) bool {
	t.Helper()
	r, err := name.NewRepository(env.registry+"/"+repo, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	tags, err := remote.List(r, regOpts()...)
	if err != nil {
		var te *transport.Error
		if errors.As(err, &te) && te.StatusCode == http.StatusNotFound {
			return false
		}
		t.Fatalf("listing %s: %v", repo, err)
	}
	return len(tags) > 0
}

// ---------------------------------------------------------------- volumes

// claim makes a PersistentVolumeClaim, waits until it is bound, and writes
// files into its volume (a hostPath directory on this machine).
func claim(t *testing.T, pvc string, files map[string]string) {
	t.Helper()
	claimIn(t, env.ns, pvc, files)
}

// claimIn is claim in namespace ns.
func claimIn(t *testing.T, ns, pvc string, files map[string]string) {
	t.Helper()
	kubectl(t, []byte(fmt.Sprintf(`apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: %s}
spec:
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 1Gi}}
`, pvc)), "-n", ns, "apply", "-f", "-")
	var pv string
	deadline := time.Now().Add(60 * time.Second)
	for pv == "" {
		pv = strings.TrimSpace(kubectl(t, nil, "-n", ns, "get", "pvc", pvc, "-o", "jsonpath={.spec.volumeName}"))
		if pv == "" {
			if time.Now().After(deadline) {
				t.Fatalf("claim %s was not bound", pvc)
			}
			time.Sleep(500 * time.Millisecond)
		}
	}
	dir := strings.TrimSpace(kubectl(t, nil, "get", "pv", pv, "-o", "jsonpath={.spec.hostPath.path}"))
	for p, body := range files {
		f := filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(f, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// ---------------------------------------------------------------- git

// startGitServer serves the bare repositories under $KB_CLUSTER_STATE/git
// over smart HTTP (git http-backend) on the node's address, for Argo's git
// input artifacts.
func startGitServer() (string, error) {
	execPath, err := exec.Command("git", "--exec-path").Output()
	if err != nil {
		return "", fmt.Errorf("git --exec-path: %v", err)
	}
	root := filepath.Join(env.state, "git")
	if err := os.MkdirAll(root, 0o755); err != nil {
		return "", err
	}
	l, err := net.Listen("tcp", net.JoinHostPort(env.nodeIP, "0"))
	if err != nil {
		return "", err
	}
	h := &cgi.Handler{
		Path: filepath.Join(strings.TrimSpace(string(execPath)), "git-http-backend"),
		Root: "/",
		Env:  []string{"GIT_PROJECT_ROOT=" + root, "GIT_HTTP_EXPORT_ALL=1"},
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(l)
	return "http://" + l.Addr().String(), nil
}

// gitRepo makes the bare repository NAME.git with one commit of files on
// branch main, and returns its URL.
func gitRepo(t *testing.T, repo string, files map[string]string) string {
	t.Helper()
	work := t.TempDir()
	for p, body := range files {
		f := filepath.Join(work, p)
		if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(f, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	bare := filepath.Join(env.state, "git", repo+".git")
	// A test run again on the same cluster makes it anew.
	if err := os.RemoveAll(bare); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"-C", work, "init", "-q", "-b", "main"},
		{"-C", work, "add", "-A"},
		{"-C", work, "-c", "user.name=e2e", "-c", "user.email=e2e@example.invalid", "commit", "-q", "-m", "context"},
		{"clone", "-q", "--bare", work, bare},
	} {
		if out, err := exec.Command("git", args...).CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	return env.git + "/" + repo + ".git"
}

// ---------------------------------------------------------------- Tekton

var startedRe = regexp.MustCompile(`(?m)(TaskRun|PipelineRun) started: (\S+)`)

func tkn(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command(filepath.Join(env.bin, "tkn"), args...).CombinedOutput()
	if err != nil {
		t.Fatalf("tkn %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// waitRun waits until the TaskRun, PipelineRun or Workflow has finished and
// returns its object. Tekton runs are done when condition Succeeded is not
// Unknown, Workflows when status.phase is Succeeded, Failed or Error.
func waitRun(t *testing.T, kind, nm string, timeout time.Duration) map[string]any {
	t.Helper()
	return waitRunIn(t, env.ns, kind, nm, timeout)
}

// waitRunIn is waitRun in namespace ns.
func waitRunIn(t *testing.T, ns, kind, nm string, timeout time.Duration) map[string]any {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		var obj map[string]any
		if err := json.Unmarshal([]byte(kubectl(t, nil, "-n", ns, "get", kind, nm, "-o", "json")), &obj); err != nil {
			t.Fatal(err)
		}
		if kind == "workflow" {
			switch phase(obj) {
			case "Succeeded", "Failed", "Error":
				return obj
			}
		} else if s := condition(obj); s == "True" || s == "False" {
			return obj
		}
		if time.Now().After(deadline) {
			b, _ := json.MarshalIndent(obj["status"], "", "  ")
			t.Fatalf("%s %s not done after %v:\n%s\n%s", kind, nm, timeout, b,
				kubectl(t, nil, "-n", ns, "get", "pods,events", "-o", "wide"))
		}
		time.Sleep(time.Second)
	}
}

// condition is a Tekton run's Succeeded condition status.
func condition(obj map[string]any) string { return succeeded(obj, "status") }

// message is a Tekton run's Succeeded condition message.
func message(obj map[string]any) string { return succeeded(obj, "message") }

// succeeded reads field of a Tekton run's Succeeded condition.
func succeeded(obj map[string]any, field string) string {
	st, _ := obj["status"].(map[string]any)
	cs, _ := st["conditions"].([]any)
	for _, c := range cs {
		m, _ := c.(map[string]any)
		if m["type"] == "Succeeded" {
			s, _ := m[field].(string)
			return s
		}
	}
	return ""
}

func phase(obj map[string]any) string {
	st, _ := obj["status"].(map[string]any)
	p, _ := st["phase"].(string)
	return p
}

// results returns a Tekton run's results by name.
func results(obj map[string]any) map[string]string {
	st, _ := obj["status"].(map[string]any)
	out := map[string]string{}
	for _, key := range []string{"results", "taskResults"} {
		rs, _ := st[key].([]any)
		for _, r := range rs {
			m, _ := r.(map[string]any)
			n, _ := m["name"].(string)
			switch v := m["value"].(type) {
			case string:
				out[n] = v
			default:
				b, _ := json.Marshal(v)
				out[n] = string(b)
			}
		}
	}
	return out
}

func taskRunLog(t *testing.T, tr string) string {
	t.Helper()
	return taskRunLogIn(t, env.ns, tr)
}

// taskRunLogIn is taskRunLog in namespace ns.
func taskRunLogIn(t *testing.T, ns, tr string) string {
	t.Helper()
	out, _ := exec.Command(filepath.Join(env.bin, "tkn"), "-n", ns, "taskrun", "logs", tr).CombinedOutput()
	return string(out)
}

// startTask runs `tkn task start kaniko-build` as a user would, and waits.
// The registry is plain HTTP on a private address: INSECURE_REGISTRY.
func startTask(t *testing.T, source string, extra ...string) (string, map[string]any) {
	t.Helper()
	return startTaskIn(t, env.ns, "kaniko-build", source, extra...)
}

// startTaskIn is startTask of the Task task in namespace ns.
func startTaskIn(t *testing.T, ns, task, source string, extra ...string) (string, map[string]any) {
	t.Helper()
	args := append([]string{"-n", ns, "task", "start", task, "--use-param-defaults", "--skip-optional-workspace",
		"-p", "INSECURE_REGISTRY=" + env.registry,
		"-w", "name=source," + source,
		"-w", "name=dockerconfig,secret=registry-credentials"}, extra...)
	out := tkn(t, args...)
	m := startedRe.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("tkn task start printed no TaskRun:\n%s", out)
	}
	return m[2], waitRunIn(t, ns, "taskrun", m[2], 5*time.Minute)
}

func TestNamespaceRefusesPrivilegedPods(t *testing.T) {
	timed(t)
	out, err := kubectlErr([]byte(`apiVersion: v1
kind: Pod
metadata: {name: privileged}
spec:
  containers:
  - {name: c, image: `+env.busybox+`, securityContext: {privileged: true}}
`), "-n", env.ns, "create", "-f", "-")
	if err == nil || !strings.Contains(out, "violates PodSecurity") {
		t.Fatalf("a privileged pod was not refused by Pod Security (err %v):\n%s", err, out)
	}
}

func TestTknTaskStart(t *testing.T) {
	timed(t)
	claim(t, "src-tkn", map[string]string{
		"Dockerfile": "FROM " + env.busybox + "\nRUN echo built-in-the-cluster > /hello.txt\nCOPY file.txt /file.txt\n",
		"file.txt":   "from the workspace\n",
	})
	image := env.registry + "/tkn/app:1"
	tr, obj := startTask(t, "claimName=src-tkn", "-p", "IMAGE="+image)
	logs := taskRunLog(t, tr)
	if condition(obj) != "True" {
		t.Fatalf("TaskRun %s failed:\n%s", tr, logs)
	}
	res := results(obj)
	want := digestOf(t, image)
	if want == "" || res["IMAGE_DIGEST"] != want {
		t.Errorf("IMAGE_DIGEST %q, registry has %q", res["IMAGE_DIGEST"], want)
	}
	if res["IMAGE_URL"] != image {
		t.Errorf("IMAGE_URL %q, want %q", res["IMAGE_URL"], image)
	}
	if res["IMAGES"] != image+"@"+want {
		t.Errorf("IMAGES %q, want %q", res["IMAGES"], image+"@"+want)
	}
	// The step ran the released image, the Task's default.
	pod := kubectl(t, nil, "-n", env.ns, "get", "taskrun", tr, "-o", "jsonpath={.status.podName}")
	if img := kubectl(t, nil, "-n", env.ns, "get", "pod", pod, "-o", `jsonpath={.spec.containers[?(@.name=="step-build-and-push")].image}`); img != env.executor {
		t.Errorf("the step ran %q, want the released %s", img, env.executor)
	}
}

// mapSample reads a rendered sample and maps Docker Hub's busybox to the
// registry's.
func mapSample(t *testing.T, path string) []map[string]any {
	t.Helper()
	return mapSampleTo(t, path, env.busybox)
}

// mapSampleTo is mapSample with Docker Hub's busybox mapped to busybox.
func mapSampleTo(t *testing.T, path, busybox string) []map[string]any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(env.release, path))
	if err != nil {
		t.Fatal(err)
	}
	s := strings.ReplaceAll(string(b), "docker.io/library/busybox:1.37", busybox)
	var docs []map[string]any
	for _, d := range strings.Split(s, "\n---\n") {
		var m map[string]any
		if err := yaml.Unmarshal([]byte(d), &m); err != nil {
			t.Fatal(err)
		}
		if m != nil {
			docs = append(docs, m)
		}
	}
	return docs
}

// insecureParams name the test's plain-HTTP registry, for every
// kaniko-build reference of a sample; the image stays the default.
func insecureParams() []any {
	return []any{map[string]any{"name": "INSECURE_REGISTRY", "value": env.registry}}
}

func apply(t *testing.T, obj map[string]any, verb string) string {
	t.Helper()
	return applyIn(t, env.ns, obj, verb)
}

// applyIn is apply in namespace ns.
func applyIn(t *testing.T, ns string, obj map[string]any, verb string) string {
	t.Helper()
	b, err := yaml.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	out := kubectl(t, b, "-n", ns, verb, "-f", "-", "-o", "name")
	return strings.TrimSpace(out[strings.LastIndex(out, "/")+1:])
}

func TestPipelineRunBaseAndApp(t *testing.T) {
	timed(t)
	docs := mapSample(t, "catalog/task/kaniko-build/0.1/samples/pipeline-base-and-app.yaml")
	base, app := env.registry+"/pipeline/base:1", env.registry+"/pipeline/app:1"
	var prName string
	for _, d := range docs {
		spec := d["spec"].(map[string]any)
		switch d["kind"] {
		case "Pipeline":
			for _, tk := range spec["tasks"].([]any) {
				task := tk.(map[string]any)
				if ref, ok := task["taskRef"].(map[string]any); ok && ref["name"] == "kaniko-build" {
					ps, _ := task["params"].([]any)
					task["params"] = append(ps, insecureParams()...)
				}
			}
			apply(t, d, "apply")
		case "PipelineRun":
			spec["params"] = []any{
				map[string]any{"name": "base-image", "value": base},
				map[string]any{"name": "app-image", "value": app},
			}
			prName = apply(t, d, "create")
		}
	}
	obj := waitRun(t, "pipelinerun", prName, 8*time.Minute)
	if condition(obj) != "True" {
		out, _ := exec.Command(filepath.Join(env.bin, "tkn"), "-n", env.ns, "pipelinerun", "logs", prName).CombinedOutput()
		t.Fatalf("PipelineRun %s failed:\n%s", prName, out)
	}
	baseDigest, appDigest := digestOf(t, base), digestOf(t, app)
	if got := results(obj)["APP_IMAGE"]; got != app+"@"+appDigest {
		t.Errorf("APP_IMAGE %q, want %q", got, app+"@"+appDigest)
	}
	// build-app got the base pinned by the registry's digest.
	trs := kubectl(t, nil, "-n", env.ns, "get", "taskrun", "-l", "tekton.dev/pipelineRun="+prName+",tekton.dev/pipelineTask=build-app",
		"-o", "jsonpath={.items[0].spec.params[?(@.name==\"BUILD_ARGS\")].value[0]}")
	if want := "BASE=" + base + "@" + baseDigest; trs != want {
		t.Errorf("build-app's BUILD_ARGS %q, want %q", trs, want)
	}
	bl, al := layers(t, base+"@"+baseDigest), layers(t, app+"@"+appDigest)
	if len(al) != len(bl)+1 {
		t.Fatalf("app has %d layers, base %d: want one more", len(al), len(bl))
	}
	for i := range bl {
		if al[i] != bl[i] {
			t.Errorf("app layer %d is %s, base's is %s", i, al[i], bl[i])
		}
	}
}

func TestStepActionInUserTask(t *testing.T) {
	timed(t)
	claim(t, "src-stepaction", map[string]string{
		"Dockerfile": "FROM " + env.busybox + "\nRUN echo from-a-stepaction > /s.txt\n",
	})
	docs := mapSample(t, "catalog/stepaction/kaniko-build/0.1/samples/task-using-stepaction.yaml")
	image := env.registry + "/stepaction/app:1"
	var tr string
	for _, d := range docs {
		spec := d["spec"].(map[string]any)
		switch d["kind"] {
		case "Task":
			for _, s := range spec["steps"].([]any) {
				step := s.(map[string]any)
				ps, _ := step["params"].([]any)
				step["params"] = append(ps, insecureParams()...)
			}
			apply(t, d, "apply")
		case "TaskRun":
			spec["params"] = []any{map[string]any{"name": "IMAGE", "value": image}}
			for _, w := range spec["workspaces"].([]any) {
				ws := w.(map[string]any)
				if pvc, ok := ws["persistentVolumeClaim"].(map[string]any); ok {
					pvc["claimName"] = "src-stepaction"
				}
			}
			tr = apply(t, d, "create")
		}
	}
	obj := waitRun(t, "taskrun", tr, 5*time.Minute)
	if condition(obj) != "True" {
		t.Fatalf("TaskRun %s failed:\n%s", tr, taskRunLog(t, tr))
	}
	res, want := results(obj), digestOf(t, image)
	if want == "" || res["IMAGE_DIGEST"] != want || res["IMAGE_URL"] != image {
		t.Errorf("results %v, registry has %s@%s", res, image, want)
	}
}

func TestTknTaskFails(t *testing.T) {
	timed(t)
	claim(t, "src-fail", map[string]string{
		"Dockerfile": "FROM " + env.busybox + "\nRUN false\nRUN echo never > /never.txt\n",
	})
	tr, obj := startTask(t, "claimName=src-fail", "-p", "IMAGE="+env.registry+"/fail/tekton:1")
	logs := taskRunLog(t, tr)
	if condition(obj) != "False" {
		t.Fatalf("TaskRun %s of RUN false did not fail:\n%s", tr, logs)
	}
	if !strings.Contains(logs, "Dockerfile:2") || !strings.Contains(logs, "RUN false") {
		t.Errorf("the step log does not name Dockerfile:2 RUN false:\n%s", logs)
	}
	if repoExists(t, "fail/tekton") {
		t.Errorf("a failed build pushed fail/tekton")
	}
}

var hitRe = regexp.MustCompile(`(?m)\bHIT\b`)
var missRe = regexp.MustCompile(`(?m)\bMISS\b`)

func TestTknTaskCache(t *testing.T) {
	timed(t)
	// Tekton's affinity assistant refuses a TaskRun bound to two claims:
	// the source and the cache are sub-directories of one.
	claim(t, "src-cache", map[string]string{
		"src/Dockerfile": "FROM " + env.busybox + "\nRUN echo slow step > /slow.txt && sleep 2\nCOPY f.txt /f.txt\n",
		"src/f.txt":      "cached\n",
		"cache/.keep":    "",
	})
	image := env.registry + "/cache/tekton:1"
	args := []string{"-p", "IMAGE=" + image, "-p", "CACHE=true", "-p", "CACHE_REPO=" + env.registry + "/cache/tekton-layers",
		"-w", "name=cache,claimName=src-cache,subPath=cache"}
	var digests []string
	for i := 1; i <= 2; i++ {
		tr, obj := startTask(t, "claimName=src-cache,subPath=src", args...)
		logs := taskRunLog(t, tr)
		if condition(obj) != "True" {
			t.Fatalf("run %d: TaskRun %s failed:\n%s", i, tr, logs)
		}
		hits, misses := len(hitRe.FindAllString(logs, -1)), len(missRe.FindAllString(logs, -1))
		t.Logf("run %d: %d HIT, %d MISS", i, hits, misses)
		if i == 1 && (hits != 0 || misses == 0) {
			t.Errorf("first run: want only MISS:\n%s", logs)
		}
		if i == 2 && (hits < 2 || misses != 0) {
			t.Errorf("second run: want every step to HIT:\n%s", logs)
		}
		digests = append(digests, results(obj)["IMAGE_DIGEST"])
	}
	if la, lb := layers(t, image+"@"+digests[0]), layers(t, image+"@"+digests[1]); strings.Join(la, ",") != strings.Join(lb, ",") {
		t.Errorf("the cached rebuild has other layers: %v vs %v", la, lb)
	}
}

// ---------------------------------------------------------------- Argo

// workflow creates a Workflow and waits for it; returns its object.
func workflow(t *testing.T, wf map[string]any) (string, map[string]any) {
	t.Helper()
	return workflowIn(t, env.ns, wf)
}

// workflowIn is workflow in namespace ns.
func workflowIn(t *testing.T, ns string, wf map[string]any) (string, map[string]any) {
	t.Helper()
	nm := applyIn(t, ns, wf, "create")
	return nm, waitRunIn(t, ns, "workflow", nm, 6*time.Minute)
}

// nodeOutputs returns the output parameters of the Workflow's node for the
// DAG task or step named display.
func nodeOutputs(obj map[string]any, display string) map[string]string {
	st, _ := obj["status"].(map[string]any)
	nodes, _ := st["nodes"].(map[string]any)
	out := map[string]string{}
	for _, n := range nodes {
		node, _ := n.(map[string]any)
		if node["displayName"] != display {
			continue
		}
		o, _ := node["outputs"].(map[string]any)
		ps, _ := o["parameters"].([]any)
		for _, p := range ps {
			m, _ := p.(map[string]any)
			k, _ := m["name"].(string)
			v, _ := m["value"].(string)
			out[k] = v
		}
	}
	return out
}

// podLogs returns the logs of every container of the Workflow's pods.
func podLogs(t *testing.T, wf string) string {
	t.Helper()
	return podLogsIn(t, env.ns, wf)
}

// podLogsIn is podLogs in namespace ns.
func podLogsIn(t *testing.T, ns, wf string) string {
	t.Helper()
	pods := strings.Fields(kubectl(t, nil, "-n", ns, "get", "pods", "-l", "workflows.argoproj.io/workflow="+wf, "-o", "name"))
	var b strings.Builder
	for _, p := range pods {
		out, _ := kubectlErr(nil, "-n", ns, "logs", p, "--all-containers", "--prefix")
		b.WriteString(out)
	}
	return b.String()
}

// mapTemplateRefs adds the plain-HTTP registry to every call of the
// kaniko-build WorkflowTemplate; the image stays its default.
func mapTemplateRefs(wf map[string]any) {
	for _, tp := range wf["spec"].(map[string]any)["templates"].([]any) {
		tmpl := tp.(map[string]any)
		var tasks []any
		if dag, ok := tmpl["dag"].(map[string]any); ok {
			tasks = dag["tasks"].([]any)
		}
		if steps, ok := tmpl["steps"].([]any); ok {
			for _, s := range steps {
				tasks = append(tasks, s.([]any)...)
			}
		}
		for _, tk := range tasks {
			task := tk.(map[string]any)
			if ref, ok := task["templateRef"].(map[string]any); !ok || ref["name"] != "kaniko-build" {
				continue
			}
			args, _ := task["arguments"].(map[string]any)
			if args == nil {
				args = map[string]any{}
				task["arguments"] = args
			}
			ps, _ := args["parameters"].([]any)
			args["parameters"] = append(ps, map[string]any{"name": "insecure-registry", "value": env.registry})
		}
	}
}

// setGitRepo points every git input artifact at url.
func setGitRepo(wf map[string]any, url string) {
	b, _ := json.Marshal(wf)
	s := strings.ReplaceAll(string(b), "https://github.com/kaniko-build/kaniko-build.git", url)
	for k := range wf {
		delete(wf, k)
	}
	json.Unmarshal([]byte(s), &wf)
}

func readRepoFile(t *testing.T, p string) string {
	t.Helper()
	return readRepoFileTo(t, p, env.busybox)
}

// readRepoFileTo is readRepoFile with Docker Hub's busybox mapped to busybox.
func readRepoFileTo(t *testing.T, p, busybox string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(env.release, p))
	if err != nil {
		t.Fatal(err)
	}
	return strings.ReplaceAll(string(b), "docker.io/library/busybox:1.37", busybox)
}

func TestArgoDAG(t *testing.T) {
	timed(t)
	// The example clones this repository: serve the two contexts it builds.
	url := gitRepo(t, "dag", map[string]string{
		"examples/argo/base/Dockerfile": readRepoFile(t, "examples/argo/base/Dockerfile"),
		"examples/argo/app/Dockerfile":  readRepoFile(t, "examples/argo/app/Dockerfile"),
	})
	wf := mapSample(t, "examples/argo/dag-base-and-app.yaml")[0]
	setGitRepo(wf, url)
	mapTemplateRefs(wf)
	base, app := env.registry+"/argo/base:1", env.registry+"/argo/app:1"
	wf["spec"].(map[string]any)["arguments"] = map[string]any{"parameters": []any{
		map[string]any{"name": "base-image", "value": base},
		map[string]any{"name": "app-image", "value": app},
	}}
	nm, obj := workflow(t, wf)
	logs := podLogs(t, nm)
	if phase(obj) != "Succeeded" {
		b, _ := json.MarshalIndent(obj["status"], "", "  ")
		t.Fatalf("Workflow %s: %s\n%s\n%s", nm, phase(obj), b, logs)
	}
	bo, ao := nodeOutputs(obj, "build-base"), nodeOutputs(obj, "build-app")
	if d := digestOf(t, base); d == "" || bo["digest"] != d || bo["image-url"] != base {
		t.Errorf("build-base outputs %v, registry has %s@%s", bo, base, d)
	}
	appDigest := digestOf(t, app)
	if appDigest == "" || ao["digest"] != appDigest || ao["image-url"] != app {
		t.Errorf("build-app outputs %v, registry has %s@%s", ao, app, appDigest)
	}
	bl, al := layers(t, base+"@"+bo["digest"]), layers(t, app+"@"+appDigest)
	if len(al) != len(bl)+1 || strings.Join(al[:len(bl)], ",") != strings.Join(bl, ",") {
		t.Errorf("app layers %v do not extend base layers %v", al, bl)
	}
	// run-app ran the app image: it prints base then app.
	if !regexp.MustCompile(`run-app.*\bbase\b[\s\S]*\bapp\b`).MatchString(logs) && !(strings.Contains(logs, "base\n") && strings.Contains(logs, "app\n")) {
		t.Errorf("run-app did not print base and app:\n%s", logs)
	}
}

// buildWorkflow is a one-task Workflow calling the WorkflowTemplate's build
// with a context from git.
func buildWorkflow(url, context, image string, extra ...map[string]any) map[string]any {
	params := []any{
		map[string]any{"name": "image", "value": image},
		map[string]any{"name": "context", "value": "/workspace/source/" + context},
	}
	for _, e := range extra {
		params = append(params, e)
	}
	wf := map[string]any{
		"apiVersion": "argoproj.io/v1alpha1",
		"kind":       "Workflow",
		"metadata":   map[string]any{"generateName": "kaniko-build-one-"},
		"spec": map[string]any{
			"entrypoint": "main",
			"templates": []any{map[string]any{
				"name": "main",
				"dag": map[string]any{"tasks": []any{map[string]any{
					"name":        "build",
					"templateRef": map[string]any{"name": "kaniko-build", "template": "build"},
					"arguments": map[string]any{
						"artifacts":  []any{map[string]any{"name": "source", "git": map[string]any{"repo": url, "revision": "main", "depth": 1}}},
						"parameters": params,
					},
				}}},
			}},
		},
	}
	mapTemplateRefs(wf)
	return wf
}

func TestArgoFails(t *testing.T) {
	timed(t)
	url := gitRepo(t, "fail", map[string]string{
		"ctx/Dockerfile": "FROM " + env.busybox + "\nRUN false\nRUN echo never > /never.txt\n",
	})
	nm, obj := workflow(t, buildWorkflow(url, "ctx", env.registry+"/fail/argo:1"))
	logs := podLogs(t, nm)
	if phase(obj) != "Failed" {
		t.Fatalf("Workflow %s of RUN false: %s, want Failed\n%s", nm, phase(obj), logs)
	}
	if !strings.Contains(logs, "Dockerfile:2") || !strings.Contains(logs, "RUN false") {
		t.Errorf("the step log does not name Dockerfile:2 RUN false:\n%s", logs)
	}
	if repoExists(t, "fail/argo") {
		t.Errorf("a failed build pushed fail/argo")
	}
}

func TestArgoCache(t *testing.T) {
	timed(t)
	url := gitRepo(t, "cache", map[string]string{
		"ctx/Dockerfile": "FROM " + env.busybox + "\nRUN echo slow step > /slow.txt && sleep 2\nCOPY f.txt /f.txt\n",
		"ctx/f.txt":      "cached\n",
	})
	image := env.registry + "/cache/argo:1"
	var digests []string
	for i := 1; i <= 2; i++ {
		nm, obj := workflow(t, buildWorkflow(url, "ctx", image,
			map[string]any{"name": "cache", "value": "true"},
			map[string]any{"name": "cache-repo", "value": env.registry + "/cache/argo-layers"}))
		logs := podLogs(t, nm)
		if phase(obj) != "Succeeded" {
			t.Fatalf("run %d: Workflow %s: %s\n%s", i, nm, phase(obj), logs)
		}
		hits, misses := len(hitRe.FindAllString(logs, -1)), len(missRe.FindAllString(logs, -1))
		t.Logf("run %d: %d HIT, %d MISS", i, hits, misses)
		if i == 1 && (hits != 0 || misses == 0) {
			t.Errorf("first run: want only MISS:\n%s", logs)
		}
		if i == 2 && (hits < 2 || misses != 0) {
			t.Errorf("second run: want every step to HIT:\n%s", logs)
		}
		digests = append(digests, nodeOutputs(obj, "build")["digest"])
	}
	if la, lb := layers(t, image+"@"+digests[0]), layers(t, image+"@"+digests[1]); strings.Join(la, ",") != strings.Join(lb, ",") {
		t.Errorf("the cached rebuild has other layers: %v vs %v", la, lb)
	}
}

// huntPattern and huntControl are testdata/hunt.sh's build args here:
// the password is 24 hex digits, its login in base64 begins with that of
// "kb-e2e".
const (
	huntPattern = "^[0-9a-f]{24}$|a2ItZTJl"
	huntControl = "0123456789abcdef01234567"
)

// huntDockerfile is the Dockerfile of the e2e isolation test's hunt.
func huntDockerfile(t *testing.T) string {
	t.Helper()
	script, err := os.ReadFile("../testdata/hunt.sh")
	if err != nil {
		t.Fatal(err)
	}
	return "FROM " + env.busybox + "\nARG PATTERN\nARG CONTROL\nRUN <<'HUNT'\n" + string(script) + "HUNT\n"
}

// checkHunt reads the hunt's findings from the pushed image: its control
// and nothing of the credentials or the token.
func checkHunt(t *testing.T, image string) {
	t.Helper()
	found := imageFile(t, image, "hunt.txt")
	if !strings.Contains(found, "environ: "+huntControl) {
		t.Errorf("the hunt missed its control, so it proves nothing:\n%s", found)
	}
	login := base64.StdEncoding.EncodeToString([]byte(env.user + ":" + env.pass))
	for _, secret := range []string{env.pass, login[:16], "token: present"} {
		if strings.Contains(found, secret) {
			t.Errorf("the RUN found %q:\n%s", secret, found)
		}
	}
}

// A hostile Dockerfile in the Task's build step finds neither the
// registry credentials nor the service account token, and the build still
// pulls its private base and pushes.
func TestTknTaskRunSeesNoCredentials(t *testing.T) {
	timed(t)
	claim(t, "src-hunt", map[string]string{"Dockerfile": huntDockerfile(t)})
	image := env.registry + "/tkn/hunt:1"
	tr, obj := startTask(t, "claimName=src-hunt", "-p", "IMAGE="+image,
		"-p", "BUILD_ARGS=PATTERN="+huntPattern+",CONTROL="+huntControl)
	if condition(obj) != "True" {
		t.Fatalf("TaskRun %s failed:\n%s", tr, taskRunLog(t, tr))
	}
	checkHunt(t, image)
}

// The same in the WorkflowTemplate's main container.
func TestArgoRunSeesNoCredentials(t *testing.T) {
	timed(t)
	url := gitRepo(t, "hunt", map[string]string{"ctx/Dockerfile": huntDockerfile(t)})
	image := env.registry + "/argo/hunt:1"
	args, err := json.Marshal([]string{"PATTERN=" + huntPattern, "CONTROL=" + huntControl})
	if err != nil {
		t.Fatal(err)
	}
	nm, obj := workflow(t, buildWorkflow(url, "ctx", image, map[string]any{"name": "build-args", "value": string(args)}))
	if phase(obj) != "Succeeded" {
		t.Fatalf("Workflow %s: %s\n%s", nm, phase(obj), podLogs(t, nm))
	}
	checkHunt(t, image)
}

// imageFile reads the file p (no leading slash) of the pushed image ref.
func imageFile(t *testing.T, ref, p string) string {
	t.Helper()
	rc := mutate.Extract(pull(t, ref))
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err != nil {
			t.Fatalf("%s has no %s: %v", ref, p, err)
		}
		if strings.TrimPrefix(h.Name, "/") == p {
			b, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			return string(b)
		}
	}
}
