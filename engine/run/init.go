package run

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// Init must be the first call in main of every program that uses Chroot:
// in the re-executed child it sets up the sandbox and never returns.
func Init() {
	if len(os.Args) == 0 || os.Args[0] != initArg {
		return
	}
	// fd 4 takes the reason the sandbox could not start the command; it
	// closes when the command starts, so the command never holds it.
	report := os.NewFile(4, "report")
	unix.CloseOnExec(4)
	if err := initChild(); err != nil {
		if _, werr := io.WriteString(report, err.Error()); werr != nil {
			fmt.Fprintf(os.Stderr, "run: %v\n", err)
		}
		os.Exit(125)
	}
}

func initChild() error {
	f := os.NewFile(3, "spec")
	dt, err := io.ReadAll(f)
	if err != nil {
		return fmt.Errorf("reading spec: %w", err)
	}
	f.Close()
	var s Spec
	if err := json.Unmarshal(dt, &s); err != nil {
		return fmt.Errorf("decoding spec: %w", err)
	}
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("making mounts private: %w", err)
	}
	for _, m := range s.Mounts {
		if err := mount(m); err != nil {
			return fmt.Errorf("mounting %s: %w", m.Target, err)
		}
	}
	if err := unix.Sethostname([]byte(s.Hostname)); err != nil {
		return fmt.Errorf("setting hostname: %w", err)
	}
	if err := unix.Chroot(s.Root); err != nil {
		return fmt.Errorf("chroot: %w", err)
	}
	dir := s.Dir
	if dir == "" {
		dir = "/"
	}
	if err := unix.Chdir(dir); err != nil {
		return fmt.Errorf("changing to working directory %s: %w", dir, err)
	}
	groups := make([]int, len(s.Groups))
	for i, g := range s.Groups {
		groups[i] = int(g)
	}
	// A user namespace the executor made for itself (one ID) may not set
	// groups: the command keeps none but its own.
	if err := syscall.Setgroups(groups); err != nil && !(errors.Is(err, syscall.EPERM) && setgroupsDenied()) {
		return fmt.Errorf("setting groups: %w", err)
	}
	if err := syscall.Setresgid(int(s.GID), int(s.GID), int(s.GID)); err != nil {
		return fmt.Errorf("setting gid: %w", err)
	}
	if err := syscall.Setresuid(int(s.UID), int(s.UID), int(s.UID)); err != nil {
		return fmt.Errorf("setting uid: %w", err)
	}
	if len(s.Args) == 0 {
		return fmt.Errorf("no command")
	}
	bin, err := lookPath(s.Args[0], lookEnv(s.Env, "PATH"))
	if err != nil {
		return err
	}
	err = syscall.Exec(bin, s.Args, s.Env)
	if errors.Is(err, syscall.ENOEXEC) && s.Platform != "" {
		arch := s.Platform[strings.IndexByte(s.Platform, '/')+1:]
		return fmt.Errorf("running %s: %w: it is a %s program and no binfmt_misc handler for it is registered on this machine; "+
			"register QEMU's on the node (as docker buildx needs) with: docker run --privileged --rm tonistiigi/binfmt --install %s",
			bin, err, s.Platform, strings.Split(arch, "/")[0])
	}
	return fmt.Errorf("running %s: %w", bin, err)
}

// lookPath finds a command the way a shell would, inside the chroot.
func lookPath(name, pathEnv string) (string, error) {
	if strings.Contains(name, "/") {
		return name, nil
	}
	if pathEnv == "" {
		pathEnv = DefaultPath
	}
	for _, dir := range filepath.SplitList(pathEnv) {
		if dir == "" {
			dir = "."
		}
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s: executable file not found in $PATH", name)
}

// DefaultPath is the PATH a command gets when the image sets none.
const DefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

func mount(m Mount) error {
	const sys = unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC
	switch {
	case m.Type == "system" && m.Source == "/proc":
		return unix.Mount("proc", m.Target, "proc", sys, "")
	case m.Type == "system" && m.Source == "/sys":
		if err := unix.Mount("sysfs", m.Target, "sysfs", sys|unix.MS_RDONLY, ""); err == nil {
			return nil
		}
		if err := unix.Mount("/sys", m.Target, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return err
		}
		return unix.Mount("", m.Target, "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY|unix.MS_REC, "")
	case m.Type == "system" && m.Source == "/dev":
		return mountDev(m.Target)
	}
	if err := ensureTarget(m.Target, m.File); err != nil {
		return err
	}
	switch {
	case m.Type == "tmpfs":
		return unix.Mount("tmpfs", m.Target, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=755")
	case m.Type == "bind" || m.Type == "cache":
		if err := unix.Mount(m.Source, m.Target, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return err
		}
		if m.Readonly {
			return unix.Mount("", m.Target, "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY, "")
		}
		return nil
	}
	return fmt.Errorf("unknown mount type %q", m.Type)
}

// mountDev provides a minimal /dev like a container runtime does.
func mountDev(target string) error {
	if err := unix.Mount("tmpfs", target, "tmpfs", unix.MS_NOSUID|unix.MS_STRICTATIME, "mode=755,size=65536k"); err != nil {
		return err
	}
	for _, name := range []string{"null", "zero", "full", "random", "urandom", "tty"} {
		p := filepath.Join(target, name)
		if err := os.WriteFile(p, nil, 0o666); err != nil {
			return err
		}
		if err := unix.Mount("/dev/"+name, p, "", unix.MS_BIND, ""); err != nil {
			return err
		}
	}
	for _, d := range []string{"pts", "shm", "mqueue"} {
		if err := os.Mkdir(filepath.Join(target, d), 0o755); err != nil {
			return err
		}
	}
	if err := unix.Mount("devpts", filepath.Join(target, "pts"), "devpts", unix.MS_NOSUID|unix.MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620"); err == nil {
		_ = os.Symlink("pts/ptmx", filepath.Join(target, "ptmx"))
	}
	_ = unix.Mount("shm", filepath.Join(target, "shm"), "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "mode=1777,size=65536k")
	for name, to := range map[string]string{"fd": "/proc/self/fd", "stdin": "/proc/self/fd/0", "stdout": "/proc/self/fd/1", "stderr": "/proc/self/fd/2"} {
		if err := os.Symlink(to, filepath.Join(target, name)); err != nil {
			return err
		}
	}
	return nil
}

// ensureTarget creates a mount point that appeared only now, under a
// tmpfs mounted earlier (as /dev/pipes under /dev).
func ensureTarget(p string, file bool) error {
	if _, err := os.Lstat(p); err == nil {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	if file {
		return os.WriteFile(p, nil, 0o644)
	}
	return os.Mkdir(p, 0o755)
}
