//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// nobody is the user the builds without root run as.
const nobody = "65534"

// runsCommands matches a Dockerfile that runs something: a RUN, an
// ONBUILD (which may), or a base whose triggers do.
var runsCommands = regexp.MustCompile(`(?im)^\s*(RUN|ONBUILD)\b|\{\{\s*onbuild\s*\}\}`)

// nobodyExecutor copies the executor where user nobody can run it, and
// returns it with a home directory of nobody's.
func nobodyExecutor(t *testing.T) (exe, home string) {
	t.Helper()
	dir, err := os.MkdirTemp("", "kaniko-build-nonroot-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	exe = filepath.Join(dir, "executor")
	in, err := os.Open(suite.executor)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(exe, os.O_CREATE|os.O_WRONLY, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	home = filepath.Join(dir, "home")
	if err := os.Mkdir(home, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{dir, home} {
		if err := exec.Command("chown", nobody+":"+nobody, p).Run(); err != nil {
			t.Fatal(err)
		}
	}
	return exe, home
}

// asNobody hands the case's context to nobody, as a checkout in a pod's
// workspace is the pod user's, and returns a builder running exe as
// nobody, no capabilities, outside any container.
func asNobody(t *testing.T, r *caseRun, exe, home string) builder {
	t.Helper()
	// chown clears setuid and setgid: they are put back after.
	special := map[string]os.FileMode{}
	if err := filepath.WalkDir(r.ctx, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err == nil && fi.Mode()&(os.ModeSetuid|os.ModeSetgid) != 0 && fi.Mode()&os.ModeSymlink == 0 {
			special[p] = fi.Mode()
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("chown", "-R", nobody+":"+nobody, r.ctx).CombinedOutput(); err != nil {
		t.Fatalf("chown: %v\n%s", err, out)
	}
	for p, m := range special {
		if err := os.Chmod(p, m); err != nil {
			t.Fatal(err)
		}
	}
	// Nobody reaches the context through the run's directories.
	for d := filepath.Dir(r.ctx); strings.HasPrefix(d, suite.work); d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return func(ctx context.Context, r *caseRun, ref string) (string, error) {
		args := r.executorArgs(r.ctx, filepath.Join, nil, ref)
		env := r.environ("HOME="+home, "DOCKER_CONFIG="+filepath.Join(home, ".docker"))
		return r.run(ctx, "executor.log", env, "setpriv",
			append([]string{"--reuid=" + nobody, "--regid=" + nobody, "--clear-groups", "--inh-caps=-all", exe}, args...)...)
	}
}

// TestNonRootConformance builds every conformance case that runs no
// command as user nobody, without root or capabilities, and compares it
// with the reference exactly as TestConformance does: owners and modes
// the disk could not take are the image's all the same.
func TestNonRootConformance(t *testing.T) {
	h := suite
	exe, home := nobodyExecutor(t)
	names := conformanceWhere(t, func(_ string, _ *Case, df []byte) bool { return !runsCommands.Match(df) })
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			r := h.prepareIn(t, "conformance", name, "nonroot")
			h.compareCase(t, r, "nonroot", asNobody(t, r, exe, home), h.ours)
		})
	}
	if len(names) < 30 {
		t.Errorf("only %d conformance cases run no command; want the 30 or more there are", len(names))
	}
}

// conformanceWhere lists the conformance cases keep takes, given each
// one's name, case.json and Dockerfile.
func conformanceWhere(t *testing.T, keep func(name string, c *Case, dockerfile []byte) bool) []string {
	t.Helper()
	root := filepath.Join(suite.root, "e2e", "testdata", "conformance")
	names, err := listCases(root)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, name := range names {
		c, err := loadCase(filepath.Join(root, name))
		if err != nil {
			t.Fatal(err)
		}
		df, err := os.ReadFile(filepath.Join(root, name, c.dockerfile()))
		if err != nil {
			t.Fatal(err)
		}
		if keep(name, c, df) {
			out = append(out, name)
		}
	}
	return out
}

// The executor image run as user 65534 with docker's defaults, whose
// seccomp profile allows no user namespace (as a pod under Pod Security
// "restricted"): a build that only copies lands, as the same build as
// root does; one with a RUN fails before anything is pulled, saying why
// and what to run instead, and pushes nothing.
func TestImageNonRoot(t *testing.T) {
	h := suite
	needImage(t)
	dir := filepath.Join(h.work, "image-nonroot")
	writeTree(t, dir, map[string]string{
		"Dockerfile":     "FROM " + h.bases["layered"] + "\nCOPY --chown=7:8 f /opt/old/f\nCOPY f /etc/f\nWORKDIR /w\nUSER 65532\n",
		"Dockerfile.run": "FROM " + h.bases["busybox"] + "\nCOPY f /f\nRUN echo ran > /ran\n",
		"f":              "f\n",
	})
	if out, err := exec.Command("chmod", "-R", "a+rX", dir).CombinedOutput(); err != nil {
		t.Fatalf("chmod: %v\n%s", err, out)
	}
	nonRoot := []string{"--user", nobody + ":" + nobody, "--tmpfs", "/tmp:mode=1777"}
	ctx := context.Background()
	var digests []string
	for i, flags := range [][]string{nonRoot, nil} {
		ref := fmt.Sprintf("%s/image-nonroot/copy:%d", h.reg.Host, i)
		c := &container{flags: flags, volumes: []string{dir + ":/workspace:ro"},
			args: []string{"--context", "/workspace", "--destination", ref, "--reproducible"}}
		if out, err := h.runContainer(ctx, c); err != nil {
			t.Fatalf("building as %q: %v\n%s", flags, err, tail(out, 3000))
		}
		b, err := load(ctx, ref)
		if err != nil {
			t.Fatal(err)
		}
		d, _ := b.img.Digest()
		digests = append(digests, d.String())
	}
	if digests[0] != digests[1] {
		t.Errorf("as user 65534 the image is %s, as root %s", digests[0], digests[1])
	}

	ref := h.reg.Host + "/image-nonroot/run:1"
	out, err := h.runContainer(ctx, &container{flags: nonRoot, volumes: []string{dir + ":/workspace:ro"},
		args: []string{"--context", "/workspace", "--dockerfile", "/workspace/Dockerfile.run", "--destination", ref}})
	if err == nil {
		t.Fatalf("a RUN without root built:\n%s", out)
	}
	for _, want := range []string{"Dockerfile.run:3: RUN echo ran > /ran: a RUN needs root", "hostUsers: false", "user namespace of its own is not allowed here"} {
		if !strings.Contains(out, want) {
			t.Errorf("the output does not say %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "FROM "+h.bases["busybox"]+" (") {
		t.Errorf("the base was pulled before the RUN was refused:\n%s", out)
	}
	if ok, err := exists(ctx, ref); err != nil || ok {
		t.Errorf("a refused build pushed %s (%v)", ref, err)
	}
}

// rootlessSkipped are the conformance cases with a RUN that a build by
// user nobody in a user namespace of its own (this user and nobody's
// 65,536 subordinate IDs mapped, setup.sh) does not match, and why.
var rootlessSkipped = map[string]string{
	"long-names": "RUN chown 3000000:3000001: outside the subordinate IDs",
}

// TestRootlessConformance builds the conformance cases that run commands
// as user nobody: the executor runs itself again as root in a user
// namespace of its own, as rootless BuildKit and Buildah do, and the
// image must match the reference as in TestConformance.
func TestRootlessConformance(t *testing.T) {
	h := suite
	exe, home := nobodyExecutor(t)
	for name := range rootlessSkipped {
		if _, err := os.Stat(filepath.Join(h.root, "e2e", "testdata", "conformance", name)); err != nil {
			t.Errorf("rootlessSkipped names %s, which is no conformance case", name)
		}
	}
	names := conformanceWhere(t, func(name string, c *Case, df []byte) bool {
		return runsCommands.Match(df) && len(c.Secrets) == 0 && rootlessSkipped[name] == ""
	})
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			r := h.prepareIn(t, "conformance", name, "rootless")
			h.compareCase(t, r, "rootless", asNobody(t, r, exe, home), h.ours)
		})
	}
}

// A user with no subordinate IDs (65533 has none) gets a user namespace
// that maps it alone: base files of other owners keep them through the
// table, and the image equals the root build's.
func TestRootlessSingleID(t *testing.T) {
	h := suite
	exe, _ := nobodyExecutor(t)
	home := t.TempDir()
	dir := filepath.Join(h.work, "rootless-single-id")
	writeTree(t, dir, map[string]string{
		"Dockerfile": "FROM " + h.bases["layered"] + "\nCOPY f /opt/old/f\nRUN echo ran > /ran && cat /opt/old/f >> /data/keep\n",
		"f":          "f\n",
	})
	for _, p := range []string{home, filepath.Dir(home)} {
		if err := os.Chmod(p, 0o777); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := exec.Command("chmod", "-R", "a+rwX", dir).CombinedOutput(); err != nil {
		t.Fatalf("chmod: %v\n%s", err, out)
	}
	if err := os.Chmod(h.work, 0o755); err != nil {
		t.Fatal(err)
	}
	r := &caseRun{name: "rootless-single-id", ctx: dir, logs: dir, c: &Case{}}
	var digests []string
	for i, who := range [][]string{{"setpriv", "--reuid=65533", "--regid=65533", "--clear-groups", exe}, {exe}} {
		ref := fmt.Sprintf("%s/rootless/single:%d", h.reg.Host, i)
		args := append(who[1:], r.executorArgs(dir, filepath.Join, nil, ref)...)
		out, err := r.run(context.Background(), "executor.log", r.environ("HOME="+home), who[0], append(args, "--reproducible")...)
		if err != nil {
			t.Fatalf("%v: %v\n%s", who, err, tail(out, 3000))
		}
		if kept := strings.Contains(out, "owners this user namespace does not map: kept in the layers' metadata"); kept != (i == 0) {
			t.Errorf("%v: the log says owners were kept: %t, want %t:\n%s", who, kept, i == 0, tail(out, 3000))
		}
		b, err := load(context.Background(), ref)
		if err != nil {
			t.Fatal(err)
		}
		d, _ := b.img.Digest()
		digests = append(digests, d.String())
	}
	if digests[0] != digests[1] {
		t.Errorf("as user 65533 in a namespace of one ID the image is %s, as root %s", digests[0], digests[1])
	}
}
