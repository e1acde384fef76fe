//go:build cluster

package cluster

import (
	"archive/tar"
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/validate"

	"github.com/kaniko-build/kaniko-build/e2e/baseimage"
)

// ownedUID owns files of the userns test's base: outside the 65,536 IDs
// a pod with hostUsers: false maps.
const ownedUID = 100000

// debianOwned is the test's Debian base with a layer of files owned by
// ownedUID.
func debianOwned() string { return env.registry + "/kb/debian-owned:1" }

func pushDebianOwned() error {
	img, err := baseimage.Debian(baseimage.DebianTarball())
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, h := range []tar.Header{
		{Typeflag: tar.TypeDir, Name: "opt/owned/", Mode: 0o750},
		{Typeflag: tar.TypeReg, Name: "opt/owned/data", Mode: 0o640, Size: 4},
		{Typeflag: tar.TypeReg, Name: "opt/owned/kept", Mode: 0o600, Size: 4},
	} {
		h.Uid, h.Gid, h.ModTime, h.Format = ownedUID, ownedUID, baseimage.Epoch(), tar.FormatPAX
		if err := tw.WriteHeader(&h); err != nil {
			return err
		}
		if h.Size > 0 {
			tw.Write([]byte("old\n"))
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	data := buf.Bytes()
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil })
	if err != nil {
		return err
	}
	if img, err = mutate.Append(img, mutate.Addendum{Layer: layer, History: v1.History{
		Created: v1.Time{Time: baseimage.Epoch()}, CreatedBy: "files owned by 100000"}}); err != nil {
		return err
	}
	r, err := name.ParseReference(debianOwned(), name.Insecure)
	if err != nil {
		return err
	}
	if err := remote.Write(r, img, regOpts()...); err != nil {
		return fmt.Errorf("pushing %s: %w", debianOwned(), err)
	}
	// What the registry holds, as the builds will pull it.
	pulled, err := remote.Image(r, regOpts()...)
	if err != nil {
		return err
	}
	return validate.Image(pulled)
}

// makeDeb builds a Debian package of one file, with no dependencies, so
// that apt-get installs it without a mirror.
func makeDeb(t *testing.T) []byte {
	t.Helper()
	d := t.TempDir()
	root := filepath.Join(d, "kb-hello")
	for p, body := range map[string]string{
		"DEBIAN/control":               "Package: kb-hello\nVersion: 1.0\nArchitecture: all\nMaintainer: e2e <e2e@example.invalid>\nDescription: kaniko-build e2e package\n",
		"usr/share/kb-hello/hello.txt": "installed by apt-get\n",
	} {
		f := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(f, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out := filepath.Join(d, "kb-hello.deb")
	cmd := exec.Command("dpkg-deb", "--root-owner-group", "-Zgzip", "--build", root, out)
	cmd.Env = append(os.Environ(), "SOURCE_DATE_EPOCH=1577836800")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("dpkg-deb: %v\n%s", err, b)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// procIDs is what the node says of a build's executor process.
type procIDs struct {
	uid    []string // Uid: of /proc/PID/status: real, effective, saved, fs
	uidMap []string // /proc/PID/uid_map, one mapping
	err    error
}

// idProbe answers a RUN that connects to it with "go" once it has read
// the IDs of the executor process of the RUN's pod on this node: the RUN
// waits for it, so the executor is there to be read.
type idProbe struct {
	l    net.Listener
	mu   sync.Mutex
	seen map[string]procIDs // by pod UID
}

func startProbe(t *testing.T) *idProbe {
	t.Helper()
	l, err := net.Listen("tcp", net.JoinHostPort(env.nodeIP, "0"))
	if err != nil {
		t.Fatal(err)
	}
	p := &idProbe{l: l, seen: map[string]procIDs{}}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go p.handle(c)
		}
	}()
	return p
}

// run is the shell line a RUN (under SHELL bash) waits on the probe with.
func (p *idProbe) run() string {
	host, port, _ := net.SplitHostPort(p.l.Addr().String())
	return fmt.Sprintf(`exec 3<>/dev/tcp/%s/%s && read -r reply <&3 && [ "$reply" = go ] && exec 3<&-`, host, port)
}

func (p *idProbe) handle(c net.Conn) {
	defer c.Close()
	ip := c.RemoteAddr().(*net.TCPAddr).IP.String()
	uid, ids := "", procIDs{}
	out, err := kubectlErr(nil, "get", "pods", "-A", "-o", `jsonpath={range .items[*]}{.status.podIP} {.metadata.uid}{"\n"}{end}`)
	if err != nil {
		ids.err = fmt.Errorf("listing pods: %v\n%s", err, out)
	}
	for _, l := range strings.Split(out, "\n") {
		if f := strings.Fields(l); len(f) == 2 && f[0] == ip {
			uid = f[1]
		}
	}
	if uid == "" && ids.err == nil {
		ids.err = fmt.Errorf("no pod has the address %s", ip)
	}
	if ids.err == nil {
		ids = executorIDs(uid)
	}
	p.mu.Lock()
	p.seen[uid] = ids
	p.mu.Unlock()
	reply := "go"
	if ids.err != nil {
		reply = "no"
	}
	fmt.Fprintln(c, reply)
}

// executorIDs reads the IDs of the process named executor in the pod's
// cgroup.
func executorIDs(podUID string) procIDs {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return procIDs{err: err}
	}
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		dir := filepath.Join("/proc", e.Name())
		comm, _ := os.ReadFile(filepath.Join(dir, "comm"))
		cg, _ := os.ReadFile(filepath.Join(dir, "cgroup"))
		if strings.TrimSpace(string(comm)) != "executor" || !strings.Contains(string(cg), "pod"+podUID) {
			continue
		}
		var ids procIDs
		st, err := os.Open(filepath.Join(dir, "status"))
		if err != nil {
			return procIDs{err: err}
		}
		sc := bufio.NewScanner(st)
		for sc.Scan() {
			if rest, ok := strings.CutPrefix(sc.Text(), "Uid:"); ok {
				ids.uid = strings.Fields(rest)
			}
		}
		st.Close()
		m, err := os.ReadFile(filepath.Join(dir, "uid_map"))
		if err != nil {
			return procIDs{err: err}
		}
		ids.uidMap = strings.Fields(string(m))
		return ids
	}
	return procIDs{err: fmt.Errorf("no executor process in the cgroup of pod %s", podUID)}
}

// of returns what the probe read for the pod, failing when it read nothing.
func (p *idProbe) of(t *testing.T, ns, pod string) procIDs {
	t.Helper()
	uid := strings.TrimSpace(kubectl(t, nil, "-n", ns, "get", "pod", pod, "-o", "jsonpath={.metadata.uid}"))
	p.mu.Lock()
	ids, ok := p.seen[uid]
	p.mu.Unlock()
	if !ok {
		t.Fatalf("the RUN of pod %s never reached the probe", pod)
	}
	if ids.err != nil {
		t.Fatalf("reading the executor's IDs of pod %s: %v", pod, ids.err)
	}
	return ids
}

// checkUserNamespace checks that the executor ran as root of a user
// namespace of 65,536 IDs that are not the node's root.
func checkUserNamespace(t *testing.T, what string, ids procIDs) {
	t.Helper()
	t.Logf("%s: host Uid %v, uid_map %v", what, ids.uid, ids.uidMap)
	if len(ids.uidMap) != 3 || ids.uidMap[0] != "0" || ids.uidMap[2] != "65536" {
		t.Fatalf("%s: uid_map %v, want root and 65536 IDs mapped", what, ids.uidMap)
	}
	if host, err := strconv.Atoi(ids.uidMap[1]); err != nil || host < 65536 {
		t.Errorf("%s: the namespace's root is the node's UID %s", what, ids.uidMap[1])
	}
	for _, u := range ids.uid {
		if u != ids.uidMap[1] {
			t.Errorf("%s: the executor runs as the node's UIDs %v, want %s (root of the namespace)", what, ids.uid, ids.uidMap[1])
			break
		}
	}
}

// userNSDockerfile installs a package with apt-get and changes files
// owned by ownedUID, and waits for the probe in its RUN.
func userNSDockerfile(p *idProbe) string {
	return "FROM " + debianOwned() + `
SHELL ["/bin/bash", "-c"]
COPY kb-hello.deb /tmp/
RUN ` + p.run() + ` \
 && apt-get install -y --no-install-recommends /tmp/kb-hello.deb \
 && echo new >> /opt/owned/data && echo made > /opt/owned/made \
 && rm -rf /tmp/kb-hello.deb /var/log/apt /var/log/dpkg.log /var/cache/apt/*.bin /var/cache/ldconfig/aux-cache
`
}

// TestHostUsers builds a Dockerfile that runs apt-get on a base with files
// owned by a UID outside the namespace's 65,536, in Tekton and Argo pods
// with hostUsers: false. The node sees the executor as an unprivileged
// UID, and the images equal the one the Task builds as the node's root.
func TestHostUsers(t *testing.T) {
	timed(t)
	p := startProbe(t)
	files := map[string]string{"Dockerfile": userNSDockerfile(p), "kb-hello.deb": string(makeDeb(t))}
	claim(t, "src-userns", files)

	rootful := env.registry + "/userns/rootful:1"
	tr, obj := startTask(t, "claimName=src-userns", "-p", "IMAGE="+rootful, "-p", "EXTRA_ARGS=--reproducible")
	if condition(obj) != "True" {
		t.Fatalf("TaskRun %s (as the node's root) failed:\n%s", tr, taskRunLog(t, tr))
	}
	want := results(obj)["IMAGE_DIGEST"]
	// The control: without hostUsers the executor is the node's root.
	if ids := p.of(t, env.ns, podOf(t, tr)); strings.Join(ids.uidMap, " ") != "0 0 4294967295" || len(ids.uid) == 0 || ids.uid[0] != "0" {
		t.Errorf("the rootful build: host Uid %v, uid_map %v, want the node's root", ids.uid, ids.uidMap)
	}
	checkOwnedImage(t, rootful+"@"+want)

	t.Run("tekton", func(t *testing.T) {
		tmpl := filepath.Join(t.TempDir(), "pod-template.yaml")
		if err := os.WriteFile(tmpl, []byte("hostUsers: false\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		image := env.registry + "/userns/tekton:1"
		tr, obj := startTask(t, "claimName=src-userns", "-p", "IMAGE="+image, "-p", "EXTRA_ARGS=--reproducible",
			"--pod-template", tmpl)
		logs := taskRunLog(t, tr)
		if condition(obj) != "True" {
			t.Fatalf("TaskRun %s with hostUsers: false failed:\n%s", tr, logs)
		}
		pod := podOf(t, tr)
		if hu := kubectl(t, nil, "-n", env.ns, "get", "pod", pod, "-o", "jsonpath={.spec.hostUsers}"); hu != "false" {
			t.Fatalf("pod %s has hostUsers %q", pod, hu)
		}
		checkUserNamespace(t, "Tekton", p.of(t, env.ns, pod))
		checkOwnersKept(t, logs)
		if got := results(obj)["IMAGE_DIGEST"]; got != want {
			t.Errorf("hostUsers: false built %s, as root %s", got, want)
			diffImages(t, rootful+"@"+want, image+"@"+got)
		}
	})

	t.Run("argo", func(t *testing.T) {
		url := gitRepo(t, "userns", map[string]string{"ctx/Dockerfile": files["Dockerfile"], "ctx/kb-hello.deb": files["kb-hello.deb"]})
		image := env.registry + "/userns/argo:1"
		wf := buildWorkflow(url, "ctx", image, map[string]any{"name": "extra-args", "value": `["--reproducible"]`})
		wf["spec"].(map[string]any)["podSpecPatch"] = `{"hostUsers": false}`
		nm, obj := workflow(t, wf)
		logs := podLogs(t, nm)
		if phase(obj) != "Succeeded" {
			t.Fatalf("Workflow %s with hostUsers: false: %s\n%s", nm, phase(obj), logs)
		}
		pod := workflowPod(t, env.ns, nm)
		if hu := kubectl(t, nil, "-n", env.ns, "get", "pod", pod, "-o", "jsonpath={.spec.hostUsers}"); hu != "false" {
			t.Fatalf("pod %s has hostUsers %q", pod, hu)
		}
		checkUserNamespace(t, "Argo", p.of(t, env.ns, pod))
		checkOwnersKept(t, logs)
		if got := nodeOutputs(obj, "build")["digest"]; got != want {
			t.Errorf("hostUsers: false built %s, as root %s", got, want)
			diffImages(t, rootful+"@"+want, image+"@"+got)
		}
	})
}

func podOf(t *testing.T, taskRun string) string {
	t.Helper()
	return podOfIn(t, env.ns, taskRun)
}

func podOfIn(t *testing.T, ns, taskRun string) string {
	t.Helper()
	return strings.TrimSpace(kubectl(t, nil, "-n", ns, "get", "taskrun", taskRun, "-o", "jsonpath={.status.podName}"))
}

// workflowPod is the one pod of a one-task Workflow.
func workflowPod(t *testing.T, ns, wf string) string {
	t.Helper()
	pods := strings.Fields(kubectl(t, nil, "-n", ns, "get", "pods", "-l", "workflows.argoproj.io/workflow="+wf, "-o", "name"))
	if len(pods) != 1 {
		t.Fatalf("Workflow %s has pods %v, want one", wf, pods)
	}
	return strings.TrimPrefix(pods[0], "pod/")
}

func checkOwnersKept(t *testing.T, logs string) {
	t.Helper()
	if n := strings.Count(logs, "owners this user namespace does not map"); n != 1 {
		t.Errorf("the log says %d times that owners were kept, want once:\n%s", n, logs)
	}
}

// checkOwnedImage checks what apt-get and the RUN did, and the owners the
// RUN's layer keeps.
func checkOwnedImage(t *testing.T, ref string) {
	t.Helper()
	hs, bodies := imageTree(t, ref)
	for p, want := range map[string]string{
		"usr/share/kb-hello/hello.txt": "installed by apt-get\n",
		"opt/owned/data":               "old\nnew\n",
		"opt/owned/made":               "made\n",
		"opt/owned/kept":               "old\n",
	} {
		if bodies[p] != want {
			t.Errorf("%s: %s is %q, want %q", ref, p, bodies[p], want)
		}
	}
	for p, id := range map[string]int{"opt/owned": ownedUID, "opt/owned/data": ownedUID, "opt/owned/kept": ownedUID, "opt/owned/made": 0} {
		if h := hs[p]; h == nil || h.Uid != id || h.Gid != id {
			t.Errorf("%s: %s is not owned by %d: %+v", ref, p, id, h)
		}
	}
}

// imageTree flattens the image: headers and regular files' contents by
// path, without a leading or trailing slash.
func imageTree(t *testing.T, ref string) (map[string]*tar.Header, map[string]string) {
	t.Helper()
	img := pull(t, ref)
	if err := validate.Image(img); err != nil {
		t.Fatalf("%s: %v", ref, err)
	}
	rc := mutate.Extract(img)
	defer rc.Close()
	tr := tar.NewReader(rc)
	hs, bodies := map[string]*tar.Header{}, map[string]string{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return hs, bodies
		}
		if err != nil {
			t.Fatalf("reading %s: %v", ref, err)
		}
		p := strings.Trim(h.Name, "/")
		hs[p] = h
		if h.Typeflag == tar.TypeReg {
			b, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			bodies[p] = string(b)
		}
	}
}

// diffImages logs how two images' files differ, for a digest that should
// have been equal.
func diffImages(t *testing.T, a, b string) {
	t.Helper()
	ha, ba := imageTree(t, a)
	hb, bb := imageTree(t, b)
	show := func(h *tar.Header) string {
		if h == nil {
			return "absent"
		}
		return fmt.Sprintf("type %c mode %o uid %d gid %d size %d link %q mtime %d xattrs %v",
			h.Typeflag, h.Mode, h.Uid, h.Gid, h.Size, h.Linkname, h.ModTime.Unix(), h.PAXRecords)
	}
	n := 0
	for _, p := range union(ha, hb) {
		x, y := show(ha[p]), show(hb[p])
		if x != y || ba[p] != bb[p] {
			t.Logf("%s:\n  %s\n  %s", p, x, y)
			if n++; n == 40 {
				t.Logf("...")
				return
			}
		}
	}
	ca, _ := json.Marshal(configOf(t, a))
	cb, _ := json.Marshal(configOf(t, b))
	if !bytes.Equal(ca, cb) {
		t.Logf("configs:\n  %s\n  %s", ca, cb)
	}
}

func union(a, b map[string]*tar.Header) []string {
	var out []string
	for p := range a {
		out = append(out, p)
	}
	for p := range b {
		if a[p] == nil {
			out = append(out, p)
		}
	}
	return out
}

func configOf(t *testing.T, ref string) *v1.ConfigFile {
	t.Helper()
	cfg, err := pull(t, ref).ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}
