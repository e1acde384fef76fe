// Package run executes a RUN instruction's command inside a root
// filesystem: chrooted in fresh namespaces when the root is a directory
// of the host, directly when the root is the container's own "/".
package run

import (
	"context"
	"fmt"
	"io"
)

// Mount is one extra mount of a RUN: bind, tmpfs or a secret file.
type Mount struct {
	// Type is "bind", "cache" (a bind of a directory kept between
	// builds) or "tmpfs".
	Type string
	// Source is a host path for binds.
	Source string
	// Target is the in-image path.
	Target string
	// Readonly mounts it read-only.
	Readonly bool
	// File says the bind source is a file, not a directory.
	File bool
}

// Spec is one command to run.
type Spec struct {
	Root     string
	Args     []string
	Env      []string
	Dir      string
	UID      uint32
	GID      uint32
	Groups   []uint32
	Mounts   []Mount
	Hostname string
	// NoNetwork gives the command a network namespace of its own.
	NoNetwork bool
	// Platform, for a command built for another platform than this
	// machine's (os/arch[/variant]), names it in the error when the
	// kernel cannot run it (no binfmt_misc handler).
	Platform string
	Stdout   io.Writer `json:"-"`
	Stderr   io.Writer `json:"-"`
	// Restored, when set, is told each directory (an in-image path) in
	// which Run made and removed mount points and whose times it put back:
	// the command did not change it, only its ctime moved.
	Restored func(dir string) `json:"-"`
}

// Runner runs commands.
type Runner interface {
	Run(ctx context.Context, s Spec) error
}

// ExitError is a command that ran and failed.
type ExitError struct{ Code int }

func (e *ExitError) Error() string {
	return fmt.Sprintf("exit code %d", e.Code)
}

// Refuse runs nothing: each command is a StartError of Err and the reason.
type Refuse struct {
	Err    error
	Reason string
}

// Run refuses s.
func (r Refuse) Run(ctx context.Context, s Spec) error {
	return &StartError{Reason: r.Err.Error() + ": " + r.Reason, Err: r.Err}
}

// StartError is a command the sandbox could not start: its program
// missing or not runnable here, a mount or a user it could not set up.
type StartError struct {
	Reason string
	Err    error // what it is, for errors.Is; nil for none
}

func (e *StartError) Error() string { return e.Reason }

func (e *StartError) Unwrap() error { return e.Err }

func lookEnv(env []string, key string) string {
	for i := len(env) - 1; i >= 0; i-- {
		if len(env[i]) > len(key) && env[i][:len(key)+1] == key+"=" {
			return env[i][len(key)+1:]
		}
	}
	return ""
}
