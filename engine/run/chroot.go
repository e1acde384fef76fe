package run

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/kaniko-build/kaniko-build/engine/filetree"
)

// initArg is argv[0] of the re-executed binary that sets up the namespaces.
const initArg = "kaniko-build-run-init"

// Chroot runs commands chrooted into a directory, in new mount, pid, uts
// and ipc namespaces (and a network one for --network=none), with /proc,
// /dev, /sys, /etc/hosts, /etc/resolv.conf and /etc/hostname provided.
// The program must call Init first thing in main.
type Chroot struct {
	// TempDir holds the generated hosts and resolv.conf files.
	TempDir string
	// Hint, when the namespaces a command needs are refused, says how to
	// build otherwise.
	Hint string
}

// NamespaceError is a command that could not get the namespaces it runs
// in: the process may not create them (an unprivileged container, no
// user namespaces).
type NamespaceError struct {
	Err  error
	Hint string
}

func (e *NamespaceError) Error() string {
	msg := fmt.Sprintf("the command needs new mount, PID, UTS and IPC namespaces, which this process may not create (%v)", e.Err)
	if e.Hint != "" {
		msg += ": " + e.Hint
	}
	return msg
}

func (e *NamespaceError) Unwrap() error { return e.Err }

// systemMounts are provided to every command and never become content.
var systemMounts = []struct {
	target string
	file   bool
}{
	{"/proc", false}, {"/dev", false}, {"/sys", false},
	{"/etc/hosts", true}, {"/etc/resolv.conf", true}, {"/etc/hostname", true},
}

// Run runs s and waits for it.
func (c Chroot) Run(ctx context.Context, s Spec) error {
	if s.Hostname == "" {
		s.Hostname = "buildkitsandbox"
	}
	etc, err := os.MkdirTemp(c.TempDir, "run-etc-")
	if err != nil {
		return fmt.Errorf("preparing run: %w", err)
	}
	defer os.RemoveAll(etc)
	mounts, err := makeSystemMounts(etc, s.Hostname)
	if err != nil {
		return fmt.Errorf("preparing run: %w", err)
	}
	mounts = append(mounts, s.Mounts...)

	stubs := &stubs{root: s.Root}
	defer stubs.remove(s.Restored)
	for i, m := range mounts {
		host, err := stubs.make(s.Root, m.Target, m.File)
		if err != nil {
			return fmt.Errorf("preparing mount %s: %w", m.Target, err)
		}
		mounts[i].Target = host
	}
	s.Mounts = mounts
	stubs.settle()
	err = runInit(ctx, s)
	var ne *NamespaceError
	if errors.As(err, &ne) {
		ne.Hint = c.Hint
	}
	return err
}

// makeSystemMounts returns the system mounts, the files among them
// written in etc for a container named hostname.
func makeSystemMounts(etc, hostname string) ([]Mount, error) {
	files := map[string][]byte{
		"/etc/hosts":    []byte("127.0.0.1\tlocalhost " + hostname + "\n::1\tlocalhost ip6-localhost ip6-loopback\n"),
		"/etc/hostname": []byte(hostname + "\n"),
	}
	if dt, err := os.ReadFile("/etc/resolv.conf"); err == nil {
		files["/etc/resolv.conf"] = dt
	} else {
		files["/etc/resolv.conf"] = nil
	}
	var mounts []Mount
	for _, m := range systemMounts {
		mt := Mount{Type: "system", Source: m.target, Target: m.target, File: m.file}
		if m.file {
			src := filepath.Join(etc, filepath.Base(m.target))
			if err := os.WriteFile(src, files[m.target], 0o644); err != nil {
				return nil, err
			}
			mt.Type, mt.Source = "bind", src
		}
		mounts = append(mounts, mt)
	}
	return mounts, nil
}

// runInit runs s, its mounts made, through the re-executed binary in
// new namespaces, and waits for it.
func runInit(ctx context.Context, s Spec) error {
	spec, err := json.Marshal(s)
	if err != nil {
		return fmt.Errorf("encoding run spec: %w", err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("starting run: %w", err)
	}
	defer r.Close()
	reportR, reportW, err := os.Pipe()
	if err != nil {
		w.Close()
		return fmt.Errorf("starting run: %w", err)
	}
	defer reportR.Close()
	cmd := exec.CommandContext(ctx, "/proc/self/exe")
	cmd.Args = []string{initArg}
	cmd.Stdout, cmd.Stderr = s.Stdout, s.Stderr
	cmd.ExtraFiles = []*os.File{r, reportW}
	cmd.Env = []string{}
	flags := uintptr(syscall.CLONE_NEWNS | syscall.CLONE_NEWPID | syscall.CLONE_NEWUTS | syscall.CLONE_NEWIPC)
	if s.NoNetwork {
		flags |= syscall.CLONE_NEWNET
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: flags, Pdeathsig: syscall.SIGKILL}
	err = cmd.Start()
	reportW.Close()
	if err != nil {
		w.Close()
		if errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EINVAL) || errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EACCES) {
			return &NamespaceError{Err: err}
		}
		return fmt.Errorf("starting run: %w", err)
	}
	_, werr := w.Write(spec)
	w.Close()
	err = cmd.Wait()
	if werr != nil && err == nil {
		err = werr
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		// What init wrote before the command started; the command
		// itself never had the pipe.
		if why, _ := io.ReadAll(io.LimitReader(reportR, 64<<10)); len(why) > 0 {
			return &StartError{Reason: string(why)}
		}
		return &ExitError{Code: ee.ExitCode()}
	}
	return err
}

// stubs creates missing mount points and removes them afterwards, so they
// never show up as content of the layer: neither themselves nor as a new
// modification time of the directory they were made in, unless the
// command changed that directory too.
type stubs struct {
	root    string
	created []string
	dirs    map[string]*dirTimes
}

// dirTimes are a directory's times before the stubs were made in it, and
// once they all were.
type dirTimes struct {
	before, settled unix.Stat_t
}

func (st *stubs) make(root, target string, file bool) (string, error) {
	host, err := filetree.Resolve(root, target, true)
	if err != nil {
		return "", err
	}
	if _, err := os.Lstat(host); err == nil {
		return host, nil
	}
	// Create missing parents one by one to remember each of them.
	var missing []string
	for d := filepath.Dir(host); len(d) > len(root); d = filepath.Dir(d) {
		if _, err := os.Lstat(d); err == nil {
			break
		}
		missing = append(missing, d)
	}
	parent := filepath.Dir(host)
	if len(missing) > 0 {
		parent = filepath.Dir(missing[len(missing)-1])
	}
	if err := st.remember(parent); err != nil {
		return "", err
	}
	for i := len(missing) - 1; i >= 0; i-- {
		if err := os.Mkdir(missing[i], 0o755); err != nil {
			return "", err
		}
		st.created = append(st.created, missing[i])
	}
	if file {
		f, err := os.OpenFile(host, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
		if err != nil {
			return "", err
		}
		f.Close()
	} else if err := os.Mkdir(host, 0o755); err != nil {
		return "", err
	}
	st.created = append(st.created, host)
	return host, nil
}

// remember keeps dir's times before the first stub is made in it.
func (st *stubs) remember(dir string) error {
	if _, ok := st.dirs[dir]; ok {
		return nil
	}
	var t dirTimes
	if err := unix.Lstat(dir, &t.before); err != nil {
		return fmt.Errorf("reading the times of %s: %w", dir, err)
	}
	if st.dirs == nil {
		st.dirs = map[string]*dirTimes{}
	}
	st.dirs[dir] = &t
	return nil
}

// settle notes each directory's times once every stub is made.
func (st *stubs) settle() {
	for dir, t := range st.dirs {
		_ = unix.Lstat(dir, &t.settled)
	}
}

// remove removes the stubs, and puts back the times of each directory
// they were made in that the command left alone; restored hears of it.
func (st *stubs) remove(restored func(dir string)) {
	st.restore(st.untouched(), restored)
}

// untouched lists the directories whose ctime and mtime have not moved
// since settle: nothing changed their entries, mode, owner or xattrs.
func (st *stubs) untouched() map[string]bool {
	out := map[string]bool{}
	for dir, t := range st.dirs {
		var now unix.Stat_t
		out[dir] = unix.Lstat(dir, &now) == nil && now.Ctim == t.settled.Ctim && now.Mtim == t.settled.Mtim
	}
	return out
}

// restore removes the stubs and gives the untouched directories their
// times from before the stubs.
func (st *stubs) restore(untouched map[string]bool, restored func(dir string)) {
	for i := len(st.created) - 1; i >= 0; i-- {
		// Only an untouched stub goes: a non-empty directory stays.
		_ = os.Remove(st.created[i])
	}
	for dir, t := range st.dirs {
		if !untouched[dir] {
			continue
		}
		if unix.UtimesNanoAt(unix.AT_FDCWD, dir, []unix.Timespec{t.before.Atim, t.before.Mtim}, unix.AT_SYMLINK_NOFOLLOW) != nil || restored == nil {
			continue
		}
		if rel, err := filepath.Rel(st.root, dir); err == nil {
			restored(filepath.ToSlash(filepath.Join("/", rel)))
		}
	}
}
