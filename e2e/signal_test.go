//go:build e2e

package e2e

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// SIGTERM (docker stop, a pod's deletion) in the middle of a RUN stops
// the executor well within docker's 2 s grace, the RUN's process tree
// with it, and nothing is pushed.
func TestImageSIGTERMStopsARun(t *testing.T) {
	h := suite
	needImage(t)
	ctx := context.Background()
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"Dockerfile": "FROM " + h.bases["busybox"] +
		"\nRUN sh -c 'sleep 300 & sleep 300 & echo run-started; wait'\nRUN echo never > /never.txt\n"})
	ref := h.reg.Host + "/signal/stopped:1"
	name := fmt.Sprintf("kaniko-build-e2e-%d-%d", os.Getpid(), containerSeq.Add(1))
	defer removeContainer(name)
	run := exec.CommandContext(ctx, "docker", "run", "--name", name, "--network", "host",
		"--volume", dir+":/workspace", h.image, "--context", "/workspace", "--destination", ref)
	stdout, err := run.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	run.Stderr = run.Stdout
	if err := run.Start(); err != nil {
		t.Fatal(err)
	}
	var log strings.Builder
	sc := bufio.NewScanner(stdout)
	started := false
	for sc.Scan() {
		log.WriteString(sc.Text() + "\n")
		if strings.Contains(sc.Text(), "run-started") {
			started = true
			break
		}
	}
	if !started {
		run.Wait()
		t.Fatalf("the RUN never started:\n%s", log.String())
	}
	// docker stop sends SIGTERM, and SIGKILL 2 s later.
	if out, err := exec.CommandContext(ctx, "docker", "stop", "--time", "2", name).CombinedOutput(); err != nil {
		t.Fatalf("docker stop: %v: %s", err, out)
	}
	for sc.Scan() {
		log.WriteString(sc.Text() + "\n")
	}
	err = run.Wait()
	code := exitCode(err)
	if code == 137 || code == 0 {
		t.Errorf("exit %d: want the executor's own failure on SIGTERM, not a SIGKILL (137) or success:\n%s", code, log.String())
	}
	if !strings.Contains(log.String(), "error:") {
		t.Errorf("no error line on SIGTERM:\n%s", log.String())
	}
	found, err := exists(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	if found {
		t.Errorf("a stopped build pushed %s", ref)
	}
}
