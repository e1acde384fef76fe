//go:build e2e

package e2e

import (
	"context"
	"io"
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
	if out, err := exec.Command("chown", "-R", nobody+":"+nobody, r.ctx).CombinedOutput(); err != nil {
		t.Fatalf("chown: %v\n%s", err, out)
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
	names, err := listCases(filepath.Join(h.root, "e2e", "testdata", "conformance"))
	if err != nil {
		t.Fatal(err)
	}
	exe, home := nobodyExecutor(t)
	n := 0
	for _, name := range names {
		c, err := loadCase(filepath.Join(h.root, "e2e", "testdata", "conformance", name))
		if err != nil {
			t.Fatal(err)
		}
		df, err := os.ReadFile(filepath.Join(h.root, "e2e", "testdata", "conformance", name, c.dockerfile()))
		if err != nil {
			t.Fatal(err)
		}
		if runsCommands.Match(df) {
			continue
		}
		n++
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			r := h.prepareIn(t, "conformance", name, "nonroot")
			h.compareCase(t, r, "nonroot", asNobody(t, r, exe, home), h.ours)
		})
	}
	if n < 30 {
		t.Errorf("only %d conformance cases run no command; want the 30 or more there are", n)
	}
}

// Without root a RUN fails before anything is pulled, saying why and
// what to run instead, and nothing is pushed.
func TestNonRootRefusesRun(t *testing.T) {
	h := suite
	exe, home := nobodyExecutor(t)
	dir := filepath.Join(h.work, "nonroot-run")
	writeTree(t, dir, map[string]string{
		"Dockerfile": "FROM " + h.bases["busybox"] + "\nCOPY f /f\nRUN echo ran > /ran\n",
		"f":          "f\n",
	})
	r := &caseRun{name: "nonroot-run", ctx: dir, logs: dir, c: &Case{}}
	build := asNobody(t, r, exe, home)
	ref := h.reg.Host + "/nonroot/run:1"
	out, err := build(context.Background(), r, ref)
	if err == nil {
		t.Fatalf("a RUN without root built:\n%s", out)
	}
	for _, want := range []string{"Dockerfile:3: RUN echo ran > /ran: a RUN needs root", "hostUsers: false"} {
		if !strings.Contains(out, want) {
			t.Errorf("the output does not say %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "FROM "+h.bases["busybox"]+" (") {
		t.Errorf("the base was pulled before the RUN was refused:\n%s", out)
	}
	if ok, err := exists(context.Background(), ref); err != nil || ok {
		t.Errorf("a refused build pushed %s (%v)", ref, err)
	}
}
