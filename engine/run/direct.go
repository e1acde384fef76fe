package run

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"

	"github.com/kaniko-build/kaniko-build/engine/fs"
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
	undo, err := d.placeMounts(s.Mounts)
	defer undo()
	if err != nil {
		return err
	}
	bin, err := lookPath(s.Args[0], lookEnv(s.Env, "PATH"))
	if err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, bin)
	cmd.Args = s.Args
	cmd.Env = s.Env
	cmd.Dir = s.Dir
	cmd.Stdout, cmd.Stderr = s.Stdout, s.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Credential: &syscall.Credential{Uid: s.UID, Gid: s.GID, Groups: s.Groups},
		Setpgid:    true,
	}
	err = cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return &ExitError{Code: ee.ExitCode()}
	}
	return err
}

func (d Direct) placeMounts(mounts []Mount) (func(), error) {
	var undos []func()
	undo := func() {
		for i := len(undos) - 1; i >= 0; i-- {
			undos[i]()
		}
	}
	for i, m := range mounts {
		target, err := fs.Resolve("/", m.Target, true)
		if err != nil {
			return undo, err
		}
		st := &stubs{}
		undos = append(undos, st.remove)
		if _, err := os.Lstat(target); err == nil {
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
				if err := fs.Copy(m.Source, "", "/", m.Target, fs.CopyOptions{}); err != nil {
					return undo, err
				}
				src := m.Source
				undos = append(undos, func() {
					os.RemoveAll(src)
					_ = fs.Copy(target, "", filepath.Dir(src), filepath.Base(src), fs.CopyOptions{})
				})
				continue
			}
			src := m.Source
			undos = append(undos, func() { os.Rename(target, src) })
		default:
			if err := fs.Copy(m.Source, "", "/", m.Target, fs.CopyOptions{}); err != nil {
				return undo, fmt.Errorf("placing mount %s: %w", m.Target, err)
			}
		}
	}
	return undo, nil
}
