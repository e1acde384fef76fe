package run

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/kaniko-build/kaniko-build/engine/filetree"
)

// Direct runs commands in the current root, as the executor does inside
// its own unprivileged container, where it cannot make namespaces or
// mounts. RUN --mount is emulated: content is put in place before the
// command and taken away after it, and what was at the target comes back.
type Direct struct {
	// TempDir holds what was at a mount target during the command; it
	// must be on the same filesystem as the root and outside the image.
	TempDir string
}

// Run runs s and waits for it.
func (d Direct) Run(ctx context.Context, s Spec) error {
	if len(s.Args) == 0 {
		return fmt.Errorf("no command")
	}
	undo, err := d.placeMounts(s.Mounts, s.Restored)
	defer undo()
	if err != nil {
		return err
	}
	bin, err := lookPath(s.Args[0], lookEnv(s.Env, "PATH"))
	if err != nil {
		return err
	}
	out, err := startOutput(s.Stdout, s.Stderr)
	if err != nil {
		return err
	}
	defer out.finish()
	cmd := exec.CommandContext(ctx, bin)
	cmd.Args = s.Args
	cmd.Env = s.Env
	cmd.Dir = s.Dir
	cmd.Stdout, cmd.Stderr = out.stdout, out.stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Credential: &syscall.Credential{Uid: s.UID, Gid: s.GID, Groups: s.Groups},
		Setpgid:    true,
	}
	cmd.Cancel = func() error { return killGroup(cmd.Process.Pid) }
	// What the command leaves behind after leaving its group (a daemon
	// that forks and calls setsid) is then reparented to us, not to the
	// container's first process, and ended below with the rest.
	subreaper := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == nil
	err = cmd.Start()
	out.started()
	if err != nil {
		return fmt.Errorf("starting %s: %w", s.Args[0], err)
	}
	err = cmd.Wait()
	// As when a container's first process ends: what it left running in
	// the background goes too, rather than writing into later steps or
	// holding the output open.
	killGroup(cmd.Process.Pid)
	if subreaper {
		endOrphans()
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return &ExitError{Code: ee.ExitCode()}
	}
	return err
}

func killGroup(pgid int) error {
	if err := syscall.Kill(-pgid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return err
	}
	return nil
}

// endOrphans kills and reaps our children: in the container, while a
// RUN's command runs, it is the only process we start, so any child left
// when it is done is something it left running.
func endOrphans() {
	self := os.Getpid()
	// A child killed here may have children of its own, reparented to
	// us as it dies: look again until none are left (bounded).
	for range 10 {
		kids := childrenOf(self)
		if len(kids) == 0 {
			return
		}
		for _, pid := range kids {
			syscall.Kill(pid, syscall.SIGKILL)
		}
		for _, pid := range kids {
			var ws unix.WaitStatus
			unix.Wait4(pid, &ws, 0, nil)
		}
	}
}

// childrenOf lists the processes whose parent is pid, from /proc.
func childrenOf(pid int) []int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var kids []int
	for _, e := range ents {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...; comm may hold spaces and parentheses.
		i := bytes.LastIndexByte(stat, ')')
		if i < 0 {
			continue
		}
		fields := strings.Fields(string(stat[i+1:]))
		if len(fields) > 1 && fields[1] == strconv.Itoa(pid) {
			kids = append(kids, child)
		}
	}
	return kids
}

// output is a command's stdout and stderr as pipes whose copying into the
// writers does not hold up the command's end, as exec's own copying would
// while a background process keeps a pipe open.
type output struct {
	stdout, stderr *os.File
	ends           []*os.File // the read ends
	copied         chan struct{}
}

// outputGrace is how long finish waits for the pipes to drain once the
// command and what it left are gone: a fallback for when we could not
// become the subreaper, and a daemon that left the group holds them.
const outputGrace = 2 * time.Second

func startOutput(stdout, stderr io.Writer) (*output, error) {
	o := &output{copied: make(chan struct{}, 2)}
	pipe := func(w io.Writer) (*os.File, error) {
		if w == nil {
			w = io.Discard
		}
		r, pw, err := os.Pipe()
		if err != nil {
			return nil, fmt.Errorf("making the output pipe: %w", err)
		}
		o.ends = append(o.ends, r)
		go func() {
			io.Copy(w, r)
			o.copied <- struct{}{}
		}()
		return pw, nil
	}
	var err error
	if o.stdout, err = pipe(stdout); err != nil {
		o.finish()
		return nil, err
	}
	o.stderr = o.stdout
	if stderr != stdout {
		if o.stderr, err = pipe(stderr); err != nil {
			o.started()
			o.finish()
			return nil, err
		}
	}
	return o, nil
}

// started closes the parent's copies of the write ends.
func (o *output) started() {
	o.stdout.Close()
	o.stderr.Close()
}

// finish waits for the copies to reach the end of their pipes, at most
// outputGrace, then closes the read ends.
func (o *output) finish() {
	timeout := time.After(outputGrace)
	for range o.ends {
		select {
		case <-o.copied:
		case <-timeout:
		}
	}
	for _, r := range o.ends {
		r.Close()
	}
}

// placeMounts moves each mount into place. undo moves them back out and
// puts back the times of the directories they were placed in, where the
// command left those alone (restored hears of each).
func (d Direct) placeMounts(mounts []Mount, restored func(dir string)) (undo func(), _ error) {
	var undos []func()
	st := &stubs{root: "/"}
	undo = func() {
		untouched := st.untouched()
		for i := len(undos) - 1; i >= 0; i-- {
			undos[i]()
		}
		st.restore(untouched, restored)
	}
	defer st.settle()
	for i, m := range mounts {
		target, err := filetree.Resolve("/", m.Target, true)
		if err != nil {
			return undo, err
		}
		if _, err := os.Lstat(target); err == nil {
			if err := st.remember(filepath.Dir(target)); err != nil {
				return undo, err
			}
			aside := filepath.Join(d.TempDir, fmt.Sprintf("aside-%d", i))
			if err := os.Rename(target, aside); err != nil {
				return undo, fmt.Errorf("moving %s aside for a mount: %w", m.Target, err)
			}
			undos = append(undos, func() { os.RemoveAll(target); os.Rename(aside, target) })
		} else {
			if _, err := st.make("/", m.Target, m.File); err != nil {
				return undo, err
			}
			if err := os.Remove(target); err != nil {
				return undo, err
			}
			undos = append(undos, func() { os.RemoveAll(target) })
		}
		switch m.Type {
		case "tmpfs":
			if err := os.Mkdir(target, 0o755); err != nil {
				return undo, err
			}
		case "cache":
			// The cache directory itself moves in and back out.
			if err := os.Rename(m.Source, target); err != nil {
				if err := filetree.Copy(m.Source, "", "/", m.Target, filetree.CopyOptions{}); err != nil {
					return undo, err
				}
				src := m.Source
				undos = append(undos, func() {
					os.RemoveAll(src)
					_ = filetree.Copy(target, "", filepath.Dir(src), filepath.Base(src), filetree.CopyOptions{})
				})
				continue
			}
			src := m.Source
			undos = append(undos, func() { os.Rename(target, src) })
		default:
			if err := filetree.Copy(m.Source, "", "/", m.Target, filetree.CopyOptions{}); err != nil {
				return undo, fmt.Errorf("placing mount %s: %w", m.Target, err)
			}
		}
	}
	return undo, nil
}
