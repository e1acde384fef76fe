package run

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// AsRootInUserNamespace runs this program again with args as root in a
// user namespace of its own, where this process's user and group are root
// (one ID each: owners the disk cannot take are kept apart, as without
// root), with its standard streams and environment. It returns the exit
// code, or an error when the kernel allows no such namespace. ctx's end
// sends it SIGTERM.
func AsRootInUserNamespace(ctx context.Context, args []string) (int, error) {
	cmd := exec.CommandContext(ctx, "/proc/self/exe", args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags:  syscall.CLONE_NEWUSER,
		UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Geteuid(), Size: 1}},
		GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getegid(), Size: 1}},
		Pdeathsig:   syscall.SIGKILL,
	}
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = time.Minute
	// The new process's uid_map is written from here, which a process
	// that is not dumpable (nor its children) may not do. This one only
	// waits from now on, its credentials unread; the new one runs the
	// build, not dumpable again, its RUNs in namespaces of their own.
	if err := unix.Prctl(unix.PR_SET_DUMPABLE, 1, 0, 0, 0); err != nil {
		return 0, err
	}
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	err := cmd.Wait()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal()), nil
		}
		return ee.ExitCode(), nil
	}
	return 0, err
}

// setgroupsDenied tells whether this user namespace may not set groups:
// one an unprivileged process made for itself.
func setgroupsDenied() bool {
	b, err := os.ReadFile("/proc/self/setgroups")
	return err == nil && string(b) == "deny\n"
}
