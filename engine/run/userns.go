package run

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/user"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// envAwaitMapping names the descriptor on which a program started by
// AsRootInUserNamespace waits for its ID mappings (see AwaitUserNamespace).
const envAwaitMapping = "_KANIKO_BUILD_AWAIT_USERNS"

// AsRootInUserNamespace runs this program again with args as root in a
// user namespace of its own, as rootless BuildKit and Buildah do, with its
// standard streams and environment. This user and group are root there;
// with newuidmap and newgidmap and ranges for the user in /etc/subuid
// and /etc/subgid, those IDs are 1 and up, else no other ID is mapped
// (owners the disk cannot take are kept apart, as without root). It
// returns the exit code, or an error when the kernel allows no such
// namespace. ctx's end sends it SIGTERM; log says when the ranges did not
// map.
func AsRootInUserNamespace(ctx context.Context, args []string, log *slog.Logger) (int, error) {
	// The new process's ID maps are written from here, or by newuidmap
	// for it, which a process that is not dumpable (nor its children) does
	// not allow. This one only waits from now on, its credentials unread;
	// the new one runs the build, not dumpable again, its RUNs in
	// namespaces of their own.
	if err := unix.Prctl(unix.PR_SET_DUMPABLE, 1, 0, 0, 0); err != nil {
		return 0, err
	}
	uid, gid := os.Geteuid(), os.Getegid()
	subUID, errU := subordinate("/etc/subuid", uid)
	subGID, errG := subordinate("/etc/subgid", uid)
	_, errNU := exec.LookPath("newuidmap")
	_, errNG := exec.LookPath("newgidmap")
	if err := errors.Join(errU, errG, errNU, errNG); err == nil {
		code, err := asRootWithRanges(ctx, args, subUID, subGID)
		if err == nil {
			return code, nil
		}
		log.Warn("mapping subordinate IDs failed: mapping this user alone", "err", err)
	}
	cmd := userNamespaceCommand(ctx, args)
	cmd.SysProcAttr.UidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: uid, Size: 1}}
	cmd.SysProcAttr.GidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: gid, Size: 1}}
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	return exitCode(cmd.Wait())
}

// asRootWithRanges starts the program in a new user namespace, has
// newuidmap and newgidmap map it (0 to this user, 1 and up to the
// ranges), then lets it go on.
func asRootWithRanges(ctx context.Context, args []string, subUID, subGID [2]int) (int, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return 0, err
	}
	cmd := userNamespaceCommand(ctx, args)
	cmd.ExtraFiles = []*os.File{r}
	cmd.Env = append(os.Environ(), envAwaitMapping+"=3")
	err = cmd.Start()
	r.Close()
	if err != nil {
		w.Close()
		return 0, err
	}
	pid := strconv.Itoa(cmd.Process.Pid)
	for _, m := range []struct {
		tool string
		id   int
		sub  [2]int
	}{{"newuidmap", os.Geteuid(), subUID}, {"newgidmap", os.Getegid(), subGID}} {
		out, err := exec.Command(m.tool, pid, "0", strconv.Itoa(m.id), "1", "1", strconv.Itoa(m.sub[0]), strconv.Itoa(m.sub[1])).CombinedOutput()
		if err != nil {
			w.Close()
			cmd.Process.Kill()
			cmd.Wait()
			return 0, fmt.Errorf("%s: %v: %s", m.tool, err, strings.TrimSpace(string(out)))
		}
	}
	w.Close() // mapped: it goes on
	return exitCode(cmd.Wait())
}

func userNamespaceCommand(ctx context.Context, args []string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "/proc/self/exe", args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWUSER, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = time.Minute
	return cmd
}

// exitCode is the exit code of a program that waited with err.
func exitCode(err error) (int, error) {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal()), nil
		}
		return ee.ExitCode(), nil
	}
	return 0, err
}

// AwaitUserNamespace must come first in main, after Init: in a program
// AsRootInUserNamespace started, it waits until its ID maps are written,
// then starts the program again, which is root there then.
func AwaitUserNamespace() {
	fd := os.Getenv(envAwaitMapping)
	if fd == "" {
		return
	}
	os.Unsetenv(envAwaitMapping)
	n, err := strconv.Atoi(fd)
	if err != nil {
		return
	}
	f := os.NewFile(uintptr(n), "await-userns")
	_, _ = io.Copy(io.Discard, f)
	f.Close()
	// It started unmapped, which left it no capabilities; started again,
	// root now, it has them in the namespace.
	if err := syscall.Exec("/proc/self/exe", os.Args, os.Environ()); err != nil {
		fmt.Fprintf(os.Stderr, "starting again in the user namespace: %v\n", err)
		os.Exit(125)
	}
}

// subordinate is the range of subordinate IDs (start, count) that file
// (/etc/subuid or /etc/subgid) gives the user uid, by name or number.
func subordinate(file string, uid int) ([2]int, error) {
	names := []string{strconv.Itoa(uid)}
	if u, err := user.LookupId(strconv.Itoa(uid)); err == nil {
		names = append(names, u.Username)
	}
	f, err := os.Open(file)
	if err != nil {
		return [2]int{}, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		parts := strings.Split(strings.TrimSpace(sc.Text()), ":")
		if len(parts) != 3 || (parts[0] != names[0] && (len(names) < 2 || parts[0] != names[1])) {
			continue
		}
		start, err1 := strconv.Atoi(parts[1])
		count, err2 := strconv.Atoi(parts[2])
		if err1 == nil && err2 == nil && count > 0 {
			return [2]int{start, count}, nil
		}
	}
	return [2]int{}, fmt.Errorf("%s has no range for user %d", file, uid)
}

// setgroupsDenied tells whether this user namespace may not set groups:
// one an unprivileged process made for itself, mapping its own ID alone.
func setgroupsDenied() bool {
	b, err := os.ReadFile("/proc/self/setgroups")
	return err == nil && string(b) == "deny\n"
}
