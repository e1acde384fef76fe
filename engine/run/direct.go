package run

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"syscall"
)

// Direct runs commands in the current root, as the executor does inside
// its own container, where it has no privilege to make namespaces.
type Direct struct{}

// Run runs s and waits for it. Mounts are not supported here.
func (Direct) Run(ctx context.Context, s Spec) error {
	if len(s.Mounts) > 0 {
		return fmt.Errorf("mounts need the chroot runner")
	}
	if len(s.Args) == 0 {
		return fmt.Errorf("no command")
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
