//go:build e2e

package e2e

// The executor image, run as CI systems run it: `docker run --network
// host`, unprivileged (no --privileged, no added capabilities, docker's
// default seccomp profile), building "in-container" in the container's own
// root with the context mounted at /workspace.

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/kaniko-build/kaniko-build/e2e/imagecmp"
)

// imageCases are the conformance cases TestImageConformance builds in the
// executor image: the multi-stage ones (each stage after the first wipes
// the container's root and restores or extracts another) and the
// RUN-heavy ones (RUN runs directly in the container, without a chroot).
//
// Left out because the in-container mode cannot honour them without
// privileges: network-none (RUN --network=none needs a network namespace,
// that is CAP_SYS_ADMIN) and mount-tmpfs (RUN --mount=type=tmpfs needs
// mount(2); the emulation is a plain directory, so /proc/mounts shows no
// tmpfs). The others are left out for time only.
var imageCases = []string{
	// several stages
	"arg-across-stages",
	"arg-scoping",
	"copy-from-index",
	"copy-from-stage-perms",
	"copy-link",
	"entrypoint-resets-inherited-cmd",
	"from-platform",
	"healthcheck-none",
	"mount-bind",
	"multistage-named",
	"stages-beside-root",
	"platform-args-global",
	"stage-chain-config",
	"target-stage",
	"unused-stage-skipped",
	"xattr-capability",
	// several RUNs, or RUNs that delete, replace and re-own what is below;
	// the Debian cases: packages and users, as most Dockerfiles do
	"arg-env-precedence",
	"base-whiteouts",
	"copy-from-chown-names",
	"debian-apt-python",
	"debian-merged-usr",
	"debian-system-edits",
	"delete-base-files",
	"dir-symlink-swap",
	"fifo",
	"hardlinks-across-layers",
	"heredoc-multi",
	"heredoc-run",
	"large-file",
	"long-names",
	"metadata-only-change",
	"mount-cache",
	"mount-secret",
	"no-build-leftovers",
	"onbuild-in-stage",
	"onbuild-trigger",
	"run-background",
	"run-env-and-path",
	"run-forms",
	"shell",
	"special-bits",
	// COPY and WORKDIR through symlinks, resolved in the container's /
	"symlink-dest-dangling-abs",
	"symlink-dest-file-rel",
	"symlink-dest-workdir",
	"user-name",
	"user-run-writes",
	"user-uid-gid",
	"user-workdir",
	"volume-run-changes",
	"whiteout-recreate",
	"workdir-symlink",
}

// TestImageConformance builds conformance cases with the executor image
// and compares them with docker's build exactly as TestConformance does
// (docker's image is built once per run for both tests).
func TestImageConformance(t *testing.T) {
	h := suite
	needImage(t)
	for _, n := range imageCases {
		if _, err := os.Stat(filepath.Join(h.root, "e2e", "testdata", "conformance", n, "Dockerfile")); err != nil {
			t.Fatalf("imageCases names %s, which is not a conformance case: %v", n, err)
		}
	}
	for _, n := range imageCases {
		t.Run(n, func(t *testing.T) {
			t.Parallel()
			r := h.prepareIn(t, "conformance", n, "image-conformance")
			h.compareCase(t, r, "image", h.imageBuild, h.ours)
		})
	}
}

// needImage fails the test when the run has no executor image (no docker).
func needImage(t *testing.T) {
	t.Helper()
	if suite.image == "" {
		t.Fatalf("this test runs the executor image with docker; %s=%s turned docker off", envSides, os.Getenv(envSides))
	}
}

// inContainerSecrets is where imageBuild mounts a case's secret files:
// under /kaniko, which is never part of the image.
const inContainerSecrets = "/kaniko/e2e-secrets"

// imageBuild builds a case with the executor image, the context mounted
// at /workspace and secrets read-only under inContainerSecrets.
func (h *harness) imageBuild(ctx context.Context, r *caseRun, ref string) (string, error) {
	c := &container{volumes: []string{r.ctx + ":/workspace"}}
	for _, id := range r.secretIDs() {
		src := filepath.Join(r.src, filepath.FromSlash(r.c.Secrets[id]))
		c.volumes = append(c.volumes, src+":"+path.Join(inContainerSecrets, id)+":ro")
	}
	c.args = r.executorArgs("/workspace", path.Join, func(id, _ string) string {
		return path.Join(inContainerSecrets, id)
	}, ref)
	keys := make([]string, 0, len(r.c.Env))
	for k := range r.c.Env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		c.env = append(c.env, k+"="+r.c.Env[k])
	}
	out, err := h.runContainer(ctx, c)
	if werr := os.WriteFile(filepath.Join(r.logs, "executor.log"), []byte(out), 0o644); werr != nil && err == nil {
		err = werr
	}
	return out, err
}

// container is one run of the executor image: `docker create`, files
// copied in with `docker cp`, then `docker start --attach`.
type container struct {
	args    []string          // the executor's arguments
	env     []string          // KEY=VALUE
	volumes []string          // host:container[:ro]
	copyIn  map[string]string // container path -> host file, copied before the start
	stdin   io.Reader         // the executor's standard input; nil for none
	image   string            // the image to run; empty for the executor's
	hosts   []string          // NAME:IP lines for the container's /etc/hosts
	flags   []string          // more flags of docker create (--user, --tmpfs)
	// keep leaves the stopped container for the caller to inspect
	// (copyOut) and remove (removeContainer).
	keep bool
	name string // set by runContainer
}

var containerSeq atomic.Int64

// runContainer runs c to its end and returns docker's and the executor's
// output, each command it ran first. The error is an *exec.ExitError with
// the executor's exit code when it ran and failed.
func (h *harness) runContainer(ctx context.Context, c *container) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, buildTimeout)
	defer cancel()
	c.name = fmt.Sprintf("kaniko-build-e2e-%d-%d", os.Getpid(), containerSeq.Add(1))
	var log bytes.Buffer
	docker := func(stdin io.Reader, args ...string) error {
		fmt.Fprintf(&log, "$ docker %s\n", strings.Join(quoteShell(args), " "))
		cmd := exec.CommandContext(ctx, "docker", args...)
		cmd.Stdin = stdin
		cmd.Stdout, cmd.Stderr = &log, &log
		return cmd.Run()
	}
	// No --privileged, no --cap-add, no --security-opt: what a CI pod
	// gets by default.
	create := []string{"create", "--name", c.name, "--network", "host"}
	if c.stdin != nil {
		create = append(create, "--interactive")
	}
	for _, e := range c.env {
		create = append(create, "--env", e)
	}
	for _, v := range c.volumes {
		create = append(create, "--volume", v)
	}
	for _, host := range c.hosts {
		create = append(create, "--add-host", host)
	}
	create = append(create, c.flags...)
	image := h.image
	if c.image != "" {
		image = c.image
	}
	create = append(create, image)
	create = append(create, c.args...)
	if err := docker(nil, create...); err != nil {
		return log.String(), fmt.Errorf("docker create: %w", err)
	}
	if !c.keep {
		defer removeContainer(c.name)
	}
	dsts := make([]string, 0, len(c.copyIn))
	for dst := range c.copyIn {
		dsts = append(dsts, dst)
	}
	sort.Strings(dsts)
	for _, dst := range dsts {
		if err := docker(nil, "cp", c.copyIn[dst], c.name+":"+dst); err != nil {
			return log.String(), fmt.Errorf("docker cp %s: %w", dst, err)
		}
	}
	start := []string{"start", "--attach"}
	if c.stdin != nil {
		start = append(start, "--interactive")
	}
	err := docker(c.stdin, append(start, c.name)...)
	if ctx.Err() != nil {
		removeContainer(c.name)
		err = fmt.Errorf("timed out after %s: %w", buildTimeout, err)
	}
	return log.String(), err
}

// imageFile reads a file of the executor image as it is before any
// build: from a container created, never started, and removed.
func (h *harness) imageFile(t *testing.T, p string) []byte {
	t.Helper()
	ctx := context.Background()
	name := fmt.Sprintf("kaniko-build-e2e-%d-%d", os.Getpid(), containerSeq.Add(1))
	if out, err := exec.CommandContext(ctx, "docker", "create", "--name", name, h.image).CombinedOutput(); err != nil {
		t.Fatalf("docker create %s: %v: %s", h.image, err, out)
	}
	defer removeContainer(name)
	data, err := copyOut(ctx, name, p)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// removeContainer removes a container runContainer made.
func removeContainer(name string) {
	exec.Command("docker", "rm", "--force", "--volumes", name).Run()
}

// copyOut reads one regular file of a (stopped) container.
func copyOut(ctx context.Context, name, p string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, "docker", "cp", name+":"+p, "-")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("docker cp %s:%s: %v: %s", name, p, err, stderr.String())
	}
	tr := tar.NewReader(bytes.NewReader(out))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("docker cp %s:%s: no regular file", name, p)
		}
		if err != nil {
			return nil, fmt.Errorf("docker cp %s:%s: %w", name, p, err)
		}
		if h.Typeflag == tar.TypeReg {
			return io.ReadAll(tr)
		}
	}
}

func quoteShell(args []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		if a == "" || strings.ContainsAny(a, " \"'$[]{}*;&|<>()#\\\n") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		out[i] = a
	}
	return out
}

// exitCode is the exit code of a command's error: 0 for nil, -1 when the
// command did not run to an exit.
func exitCode(err error) int {
	if err == nil {
		return 0
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	return -1
}

// snapshotDir maps every path under dir to a description of it: type,
// mode and, for files, the content.
func snapshotDir(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		desc := info.Mode().String()
		if info.Mode().IsRegular() {
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			desc += fmt.Sprintf(" %q", data)
		}
		out[rel] = desc
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func diffSnapshots(before, after map[string]string) []string {
	var out []string
	for p, b := range before {
		a, ok := after[p]
		switch {
		case !ok:
			out = append(out, fmt.Sprintf("%s: gone (was %s)", p, b))
		case a != b:
			out = append(out, fmt.Sprintf("%s: was %s, is %s", p, b, a))
		}
	}
	for p, a := range after {
		if _, ok := before[p]; !ok {
			out = append(out, fmt.Sprintf("%s: new: %s", p, a))
		}
	}
	sort.Strings(out)
	return out
}

// TestImageLeavesMountsAndKanikoAlone builds in the executor image with a
// host directory mounted at /data and a file copied into /kaniko, and
// checks that both, the context (mounted at /workspace), and the image's
// own /kaniko/ssl/certs and /kaniko/.docker, come out of the build
// unchanged and that none of them is in a layer of the result.
//
//   - stages: the executor's stage handling near them: extracting a base
//     that has a /data of its own (with a whiteout of /data/gone),
//     switching stages (which wipes the root and restores another).
//     No layer may have an entry, not even a whiteout, at or under /data,
//     /kaniko or /workspace.
//   - copy: COPY and ADD over files under /data and /kaniko. The build may
//     refuse that (naming the path) or leave the files alone; it must not
//     write through to the mount or to the executor's own files.
//   - copy-onto-context: WORKDIR /workspace, COPY . . with the context
//     mounted at /workspace, under the same rule.
//   - run: RUN commands that delete and overwrite them.
func TestImageLeavesMountsAndKanikoAlone(t *testing.T) {
	h := suite
	needImage(t)
	for _, tc := range []struct {
		name, dockerfile string
		want             map[string]string // files of the result
		// refused, when set, is a path the build may refuse to write: its
		// error must name it.
		refused string
		why     string // added to the messages: what is at fault
	}{
		{name: "stages", dockerfile: `FROM {{layered}} AS base
RUN ls /opt/old > /opt-listing && echo from-base > /base.txt

FROM {{busybox}} AS mid
COPY --from=base /opt-listing /base.txt /
RUN echo mid > /mid.txt

FROM mid
RUN echo built > /built.txt
`, want: map[string]string{"/opt-listing": "new\n", "/base.txt": "from-base\n", "/mid.txt": "mid\n", "/built.txt": "built\n"}},
		{name: "copy", refused: "/data/keep.txt", why: " (the executor's own COPY/ADD wrote it)", dockerfile: `FROM {{busybox}}
COPY hello.txt /data/keep.txt
ADD hello.txt /data/sub/nested.txt
COPY hello.txt /kaniko/e2e-marker.txt
COPY hello.txt /kaniko/ssl/certs/ca-certificates.crt
RUN echo built > /built.txt
`, want: map[string]string{"/built.txt": "built\n"}},
		// Common in Dockerfiles written for Kaniko, whose context is
		// /workspace too: the COPY's source and destination are the same
		// files.
		{name: "copy-onto-context", refused: "/workspace", why: " (the executor's own COPY wrote it)", dockerfile: `FROM {{busybox}}
WORKDIR /workspace
COPY . .
RUN echo built > /built.txt
`, want: map[string]string{"/built.txt": "built\n"}},
		// RUN runs as root in the container's own root, as with Kaniko: it
		// could delete a mount, and no unprivileged builder can stop it.
		// What the executor guarantees is its own doing: across stage
		// switches and snapshots, mounts and /kaniko stay as they were and
		// stay out of every layer, while RUN sees them.
		{name: "run", dockerfile: `FROM {{busybox}} AS first
RUN test -f /data/keep.txt && test -f /kaniko/e2e-marker.txt && echo first > /first.txt

FROM {{busybox}}
COPY --from=first /first.txt /
RUN test -f /data/sub/nested.txt && ls /kaniko >/dev/null && echo built > /built.txt
`, want: map[string]string{"/first.txt": "first\n", "/built.txt": "built\n"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			work := t.TempDir()
			ctxDir, data := filepath.Join(work, "context"), filepath.Join(work, "data")
			df, err := expand(tc.dockerfile, h.vars("mounts-"+tc.name))
			if err != nil {
				t.Fatal(err)
			}
			writeTree(t, ctxDir, map[string]string{"Dockerfile": df, "hello.txt": "hello\n"})
			// gone: the layered base deletes /data/gone with a whiteout.
			writeTree(t, data, map[string]string{"keep.txt": "host data\n", "gone": "host file\n", "sub/nested.txt": "host nested\n"})
			markerText := "marker of " + t.Name() + "\n"
			marker := filepath.Join(work, "marker.txt")
			if err := os.WriteFile(marker, []byte(markerText), 0o644); err != nil {
				t.Fatal(err)
			}
			before, beforeCtx := snapshotDir(t, data), snapshotDir(t, ctxDir)
			ref := fmt.Sprintf("%s/image-mounts/%s:latest", h.reg.Host, tc.name)
			c := &container{
				args:    []string{"--context", "/workspace", "--destination", ref},
				volumes: []string{ctxDir + ":/workspace", data + ":/data"},
				copyIn:  map[string]string{"/kaniko/e2e-marker.txt": marker},
				keep:    true,
			}
			out, buildErr := h.runContainer(ctx, c)
			t.Cleanup(func() { removeContainer(c.name) })
			switch {
			case buildErr != nil && tc.refused == "":
				t.Fatalf("executor: %v\n%s", buildErr, tail(out, 6000))
			case buildErr != nil && exitCode(buildErr) <= 0:
				t.Fatalf("executor did not run to an exit: %v\n%s", buildErr, tail(out, 6000))
			case buildErr != nil:
				t.Logf("the build refused the Dockerfile:\n%s", tail(out, 3000))
			default:
				t.Logf("%s", tail(out, 3000))
			}

			report(t, "the build changed the host directory mounted at /data"+tc.why, diffSnapshots(before, snapshotDir(t, data)))
			report(t, "the build changed the context, the host directory mounted at /workspace"+tc.why, diffSnapshots(beforeCtx, snapshotDir(t, ctxDir)))
			for p, want := range map[string][]byte{
				"/kaniko/e2e-marker.txt":                []byte(markerText),
				"/kaniko/ssl/certs/ca-certificates.crt": h.imageFile(t, "/kaniko/ssl/certs/ca-certificates.crt"),
				"/kaniko/.docker/config.json":           h.imageFile(t, "/kaniko/.docker/config.json"),
				"/kaniko/executor":                      nil, // still there
			} {
				got, err := copyOut(ctx, c.name, p)
				switch {
				case err != nil:
					t.Errorf("after the build: %v", err)
				case want != nil && !bytes.Equal(got, want):
					t.Errorf("the build changed %s%s: it is %q, was %q", p, tc.why, tail(string(got), 100), tail(string(want), 100))
				}
			}

			if buildErr != nil {
				if !strings.Contains(out, tc.refused) {
					t.Errorf("the build failed without naming %s:\n%s", tc.refused, tail(out, 3000))
				}
				if found, err := exists(ctx, ref); err != nil || found {
					t.Errorf("a failed build pushed %s (lookup error: %v)", ref, err)
				}
				return
			}
			img, err := load(ctx, ref)
			if err != nil {
				t.Fatal(err)
			}
			exp := &imagecmp.Expect{
				Files:            fileExpects(tc.want),
				AbsentFromLayers: []string{"/data", "/kaniko", "/workspace"},
				ContentAbsent:    []string{"host data", "host file", "host nested", strings.TrimSpace(markerText)},
			}
			// A COPY may put what it copies in the image, as docker would;
			// only what was there before must stay out.
			switch tc.name {
			case "copy":
				exp.AbsentFromLayers = []string{"/data/gone", "/kaniko/e2e-marker.txt", "/kaniko/executor", "/kaniko/.docker", "/workspace"}
			case "copy-onto-context":
				exp.AbsentFromLayers = []string{"/data", "/kaniko"}
			}
			problems, err := exp.Check(img.img, img.fs, imagecmp.Ignore{})
			if err != nil {
				t.Fatal(err)
			}
			report(t, "the image", problems)
		})
	}
}

// checkFiles pulls ref (opts add credentials or a transport), validates
// it and checks that it has files (absolute path -> content).
func checkFiles(t *testing.T, ref string, files map[string]string, opts ...remote.Option) *built {
	t.Helper()
	b, err := load(context.Background(), ref, opts...)
	if err != nil {
		t.Fatal(err)
	}
	exp := &imagecmp.Expect{Files: fileExpects(files)}
	problems, err := exp.Check(b.img, b.fs, imagecmp.Ignore{})
	if err != nil {
		t.Fatal(err)
	}
	report(t, ref, problems)
	return b
}

// fileExpects says that each path is a regular file with the content:
// by size and sha256, and for short files also by the content itself
// (imagecmp keeps only the start of long files).
func fileExpects(files map[string]string) map[string]imagecmp.FileExpect {
	out := map[string]imagecmp.FileExpect{}
	for p, content := range files {
		sum := sha256.Sum256([]byte(content))
		fe := imagecmp.FileExpect{Type: imagecmp.TypeFile, Size: ptr(int64(len(content))), SHA256: hex.EncodeToString(sum[:])}
		if len(content) <= 4096 {
			fe.Content = ptr(content)
		}
		out[p] = fe
	}
	return out
}

func ptr[T any](v T) *T { return &v }

// writeTree writes files (slash-separated path relative to dir -> content)
// under dir.
func writeTree(t *testing.T, dir string, files map[string]string) {
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

// TestDebugImageAsJenkinsAgent runs the debug image as the Jenkins
// Kubernetes plugin does: one long-lived container (/busybox/cat on a
// tty) into which each build step is exec'd. Two builds run in it, one
// after the other: the busybox shell must survive both (Kaniko's debug
// image makes /busybox a volume for this), and the second image must hold
// nothing of the first. The second, with --cleanup, leaves no files of
// its image in the container.
func TestDebugImageAsJenkinsAgent(t *testing.T) {
	h := suite
	needImage(t)
	debug := strings.TrimSuffix(h.image, ":latest") + ":debug"
	ctx := context.Background()
	work := t.TempDir()
	vars := h.vars("jenkins")
	df1, err := expand("FROM {{busybox}}\nRUN echo one > /one.txt\n", vars)
	if err != nil {
		t.Fatal(err)
	}
	df2, err := expand("FROM {{busybox}}\nCOPY hello.txt /hello.txt\nRUN test ! -e /one.txt && echo two > /two.txt\n", vars)
	if err != nil {
		t.Fatal(err)
	}
	writeTree(t, work, map[string]string{"first/Dockerfile": df1, "second/Dockerfile": df2, "second/hello.txt": "hello\n"})
	name := fmt.Sprintf("kaniko-build-e2e-%d-%d", os.Getpid(), containerSeq.Add(1))
	t.Cleanup(func() { removeContainer(name) })
	if out, err := exec.CommandContext(ctx, "docker", "run", "--detach", "--tty", "--name", name, "--network", "host",
		"--volume", work+":/home/jenkins/agent", "--workdir", "/home/jenkins/agent", // as the plugin's pod
		"--entrypoint", "/busybox/cat", debug).CombinedOutput(); err != nil {
		t.Fatalf("docker run %s: %v\n%s", debug, err, out)
	}
	dockerExec := func(args ...string) string {
		t.Helper()
		out, err := exec.CommandContext(ctx, "docker", append([]string{"exec", name}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("docker exec %s: %v\n%s", strings.Join(args, " "), err, tail(string(out), 4000))
		}
		return string(out)
	}
	for i, dir := range []string{"first", "second"} {
		ref := fmt.Sprintf("%s/jenkins/%s:latest", h.reg.Host, dir)
		cleanup := ""
		if dir == "second" {
			cleanup = " --cleanup"
		}
		dockerExec("/busybox/sh", "-c", "cd /home/jenkins/agent/"+dir+" && /kaniko/executor --context=dir://$PWD --dockerfile=Dockerfile --destination="+ref+cleanup)
		if got := dockerExec("/busybox/sh", "-c", "echo alive; ls /busybox/ls"); got != "alive\n/busybox/ls\n" {
			t.Fatalf("after build %d the agent's shell answered %q", i+1, got)
		}
		// As Kaniko: the last stage's files stay, unless --cleanup.
		left := dockerExec("/busybox/sh", "-c", "for f in /one.txt /two.txt /hello.txt /bin/sh /kaniko/executor /home/jenkins/agent/second/hello.txt; do test -e $f && echo $f; done; true")
		want := "/one.txt\n/bin/sh\n/kaniko/executor\n/home/jenkins/agent/second/hello.txt\n"
		if cleanup != "" {
			want = "/kaniko/executor\n/home/jenkins/agent/second/hello.txt\n"
		}
		if left != want {
			t.Errorf("after build %d (flags%s) the container holds\n%s\nwant\n%s", i+1, cleanup, left, want)
		}
	}
	checkFiles(t, h.reg.Host+"/jenkins/first:latest", map[string]string{"/one.txt": "one\n"})
	b := checkFiles(t, h.reg.Host+"/jenkins/second:latest", map[string]string{"/hello.txt": "hello\n", "/two.txt": "two\n"})
	exp := &imagecmp.Expect{AbsentFromLayers: []string{"/one.txt", "/kaniko", "/home/jenkins", "/busybox/ls"}}
	problems, err := exp.Check(b.img, b.fs, imagecmp.Ignore{})
	if err != nil {
		t.Fatal(err)
	}
	report(t, "the second image", problems)
}

// Not installed at its --kaniko-dir, the executor in an unprivileged
// container builds in chroot mode, where RUN needs namespaces it may not
// create: the error says so, which mode it is in, and how to get the
// in-container mode; nothing is written.
func TestImageRunWithoutNamespacesExplains(t *testing.T) {
	h := suite
	needImage(t)
	dir, out := t.TempDir(), t.TempDir()
	writeTree(t, dir, map[string]string{"Dockerfile": "FROM scratch\nCOPY Dockerfile /\nRUN true\n"})
	log, err := h.runContainer(context.Background(), &container{
		args:    []string{"--kaniko-dir", "/other", "--context", "/workspace", "--no-push", "--tar-path", "/out/image.tar"},
		volumes: []string{dir + ":/workspace", out + ":/out"},
	})
	if code := exitCode(err); code <= 0 {
		t.Fatalf("exit %d (%v), want a failure:\n%s", code, err, tail(log, 3000))
	}
	for _, want := range []string{"Dockerfile:3", "namespaces, which this process may not create",
		"chroot mode, as it is not installed as /other/executor", "in-container mode", "--kaniko-dir"} {
		if !strings.Contains(log, want) {
			t.Errorf("the error lacks %q:\n%s", want, tail(log, 3000))
		}
	}
	if _, err := os.Stat(filepath.Join(out, "image.tar")); !os.IsNotExist(err) {
		t.Errorf("a failed build wrote --tar-path (%v)", err)
	}
}
