package run

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func directSpec(t *testing.T, script string, out *bytes.Buffer) Spec {
	t.Helper()
	return Spec{
		Args:   []string{"sh", "-c", script},
		Env:    []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"},
		Dir:    t.TempDir(),
		UID:    uint32(os.Getuid()),
		GID:    uint32(os.Getgid()),
		Stdout: out,
		Stderr: out,
	}
}

// A command that leaves a process in the background, holding its output
// open, ends as a container's first process does: the background process
// is killed and Run returns (before, it waited for the pipe to close).
func TestDirectKillsWhatTheCommandLeftRunning(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "pid")
	var out bytes.Buffer
	s := directSpec(t, "sleep 600 & echo $! > "+pidFile+"; echo out; echo err >&2", &out)
	if err := (Direct{TempDir: t.TempDir()}).Run(context.Background(), s); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if got := out.String(); got != "out\nerr\n" {
		t.Errorf("output %q, want stdout and stderr in order", got)
	}
	waitGone(t, pidFile)
}

// waitGone waits for the process whose pid is in pidFile to end (gone, or
// a zombie until its parent reaps it) once SIGKILL was sent; the kernel
// delivers it promptly, a live process would stay.
func waitGone(t *testing.T, pidFile string) {
	t.Helper()
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil || strings.Contains(string(stat), ") Z ") {
			return
		}
		if time.Now().After(deadline) {
			syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("process %d is still running: %s", pid, stat)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A daemon that leaves the command's process group and session (as
// `service x start` does) ends with the command too, as in a container.
func TestDirectEndsDaemonsThatLeftTheGroup(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "pid")
	var out bytes.Buffer
	// setsid may fork: the daemon writes its own pid, and the command
	// waits for it.
	s := directSpec(t, "setsid sh -c 'echo $$ > "+pidFile+".new && mv "+pidFile+".new "+pidFile+" && exec sleep 600' </dev/null >/dev/null 2>&1 & "+
		"while [ ! -e "+pidFile+" ]; do sleep 0.01; done", &out)
	if err := (Direct{TempDir: t.TempDir()}).Run(context.Background(), s); err != nil {
		t.Fatalf("Run: %v (%s)", err, out.String())
	}
	waitGone(t, pidFile)
}

func TestDirectExitCode(t *testing.T) {
	var out bytes.Buffer
	err := (Direct{TempDir: t.TempDir()}).Run(context.Background(), directSpec(t, "echo failing; exit 3", &out))
	var ee *ExitError
	if !errors.As(err, &ee) || ee.Code != 3 {
		t.Fatalf("Run: %v, want exit code 3", err)
	}
	if out.String() != "failing\n" {
		t.Errorf("output %q", out.String())
	}
}

func TestDirectCancelKillsTheGroup(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var out bytes.Buffer
	s := directSpec(t, "sleep 600 & echo started; wait", &out)
	s.Stdout = writerFunc(func(p []byte) (int, error) {
		if bytes.Contains(p, []byte("started")) {
			cancel()
		}
		return len(p), nil
	})
	err := (Direct{TempDir: t.TempDir()}).Run(ctx, s)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Run: %v, want the context's cancellation", err)
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
