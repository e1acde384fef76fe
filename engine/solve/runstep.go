package solve

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"golang.org/x/sys/unix"

	"github.com/kaniko-build/kaniko-build/engine/filetree"
	"github.com/kaniko-build/kaniko-build/engine/plan"
	"github.com/kaniko-build/kaniko-build/engine/run"
	"github.com/kaniko-build/kaniko-build/engine/user"
)

func (b *Solver) dispatchRun(ctx context.Context, s *stage, r *plan.Run) error {
	c := r.Command
	id, err := user.Resolve(s.root, s.cfg.Config.User)
	if err != nil {
		return err
	}
	env := slices.Clone(r.Env)
	for _, kv := range r.Proxy {
		k, v, _ := strings.Cut(kv, "=")
		env = plan.SetEnv(env, k, v)
	}
	if _, ok := plan.GetEnv(env, "PATH"); !ok {
		env = append(env, "PATH="+run.DefaultPath)
	}
	if _, ok := plan.GetEnv(env, "HOME"); !ok {
		home := id.Home
		if home == "" {
			home = "/root"
			if id.UID != 0 {
				home = "/"
			}
		}
		env = append(env, "HOME="+home)
	}
	wd := s.cfg.Config.WorkingDir
	if wd == "" {
		wd = "/"
	}
	if err := filetree.MkdirAll(s.root, wd, nil); err != nil {
		return fmt.Errorf("creating working directory %s: %w", wd, err)
	}
	mounts, secretEnv, release, err := b.runMounts(ctx, s, c)
	defer release()
	if err != nil {
		return err
	}
	env = append(env, secretEnv...)
	if r.Script != nil {
		m, err := mountScript(r.Script, b.cfg.TempDir)
		if err != nil {
			return err
		}
		mounts = append(mounts, m)
	}
	if b.cfg.Root.Ignored != nil && instructions.GetNetwork(c) == instructions.NetworkNone {
		b.log.Warn("RUN --network=none: an unprivileged container cannot make a network namespace; the command keeps the container's network", "step", oneLine(strings.Join(c.CmdLine, " ")))
	}
	var restored []string
	stdout, stderr := b.output(s, "stdout"), b.output(s, "stderr")
	defer stdout.Close()
	defer stderr.Close()
	spec := run.Spec{
		Restored: func(dir string) { restored = append(restored, dir) },
		Root:     s.root, Args: r.Args, Env: env, Dir: wd,
		UID: id.UID, GID: id.GID, Groups: id.Groups, Mounts: mounts,
		NoNetwork: instructions.GetNetwork(c) == instructions.NetworkNone,
		Platform:  foreignPlatform(b.cfg.Plan.Stages[s.index].Platform),
		Stdout:    stdout, Stderr: stderr,
	}
	if err := b.cfg.Runner.Run(ctx, spec); err != nil {
		var ee *run.ExitError
		if errors.As(err, &ee) {
			return fmt.Errorf("RUN %s: did not complete successfully: %w", oneLine(strings.Join(c.CmdLine, " ")), err)
		}
		var se *run.StartError
		if errors.As(err, &se) {
			return fmt.Errorf("RUN %s: %w", oneLine(strings.Join(c.CmdLine, " ")), err)
		}
		return fmt.Errorf("RUN: %w", err)
	}
	if s.root == "/" && !slices.Contains(restored, "/etc") {
		// In a container /etc holds its hosts, resolv.conf and hostname
		// mounts, as a RUN's in docker and BuildKit: it is dated as a
		// directory with mount points is.
		restored = append(restored, "/etc")
	}
	return b.commit(ctx, s, r.History, restored...)
}

// mountScript writes a heredoc script into a directory of its own under
// tmp and mounts that read-only at /dev/pipes.
func mountScript(sc *plan.Script, tmp string) (run.Mount, error) {
	dir, err := os.MkdirTemp(tmp, "heredoc-")
	if err != nil {
		return run.Mount{}, fmt.Errorf("making heredoc directory: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, sc.Name), []byte(sc.Data), 0o755); err != nil {
		return run.Mount{}, fmt.Errorf("writing heredoc script: %w", err)
	}
	return run.Mount{Type: "bind", Source: dir, Target: "/dev/pipes", Readonly: true}, nil
}

// runMounts prepares RUN --mount: bind, cache, tmpfs and secret.
// Secrets asked for as env=NAME come back as NAME=value, for this RUN only.
// release ends the RUN's hold on its cache mounts.
func (b *Solver) runMounts(ctx context.Context, s *stage, c *instructions.RunCommand) (_ []run.Mount, _ []string, release func(), _ error) {
	var out []run.Mount
	var env []string
	var releases []func()
	release = func() {
		for _, r := range releases {
			r()
		}
	}
	wd := s.cfg.Config.WorkingDir
	if wd == "" {
		wd = "/"
	}
	abs := func(p string) string {
		if !path.IsAbs(p) {
			return path.Join(wd, p)
		}
		return path.Clean(p)
	}
	for _, m := range instructions.GetMounts(c) {
		switch m.Type {
		case instructions.MountTypeBind:
			mnt, err := b.bindMount(ctx, s, m, abs(m.Target))
			if err != nil {
				return nil, nil, release, err
			}
			out = append(out, mnt)
		case instructions.MountTypeCache:
			mnt, done, err := b.cacheMount(m, abs(m.Target))
			releases = append(releases, done)
			if err != nil {
				return nil, nil, release, err
			}
			out = append(out, mnt)
		case instructions.MountTypeTmpfs:
			out = append(out, run.Mount{Type: "tmpfs", Target: abs(m.Target)})
		case instructions.MountTypeSecret:
			kv, mnt, err := b.secretMount(m, abs)
			if err != nil {
				return nil, nil, release, err
			}
			if kv != "" {
				env = append(env, kv)
			}
			if mnt != nil {
				out = append(out, *mnt)
				// The copy lives only as long as the RUN.
				copied := mnt.Source
				releases = append(releases, func() { os.Remove(copied) })
			}
		case instructions.MountTypeSSH:
			if m.Required {
				return nil, nil, release, fmt.Errorf("--mount=type=ssh is not supported")
			}
		}
	}
	return out, env, release, nil
}

// bindMount mounts m.Source of its stage, image or the context at target;
// a read-write bind gets a copy, since writes to it are thrown away.
func (b *Solver) bindMount(ctx context.Context, s *stage, m *instructions.Mount, target string) (run.Mount, error) {
	src, err := b.copySource(ctx, s, m.From)
	if err != nil {
		return run.Mount{}, err
	}
	host, err := filetree.Resolve(src.root, m.Source, true)
	if err != nil {
		return run.Mount{}, err
	}
	fi, err := os.Stat(host)
	if err != nil {
		return run.Mount{}, fmt.Errorf("--mount=type=bind: source %q: %w", m.Source, err)
	}
	if !m.ReadOnly {
		cp, err := os.MkdirTemp(b.cfg.TempDir, "bind-")
		if err != nil {
			return run.Mount{}, err
		}
		dst := "/data"
		if err := filetree.Copy(host, "", cp, dst, filetree.CopyOptions{}); err != nil {
			return run.Mount{}, err
		}
		host = filepath.Join(cp, "data")
	}
	return run.Mount{Type: "bind", Source: host, Target: target, Readonly: m.ReadOnly, File: !fi.IsDir()}, nil
}

// cacheMount holds m's cache directory, made with the mount's mode and
// owner if new. done releases the hold; it is set even with an error.
func (b *Solver) cacheMount(m *instructions.Mount, target string) (_ run.Mount, done func(), _ error) {
	id := m.CacheID
	if id == "" {
		id = target
	}
	sum := sha256.Sum256([]byte(id))
	dir, done, err := b.holdCacheDir(filepath.Join(b.cacheRoot(), hex.EncodeToString(sum[:8])), m.CacheSharing)
	if err != nil {
		return run.Mount{}, done, err
	}
	if _, err := os.Stat(dir); err != nil {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return run.Mount{}, done, err
		}
		if err := setMountOwner(dir, m, 0o755); err != nil {
			return run.Mount{}, done, err
		}
	}
	return run.Mount{Type: "cache", Source: dir, Target: target, Readonly: m.ReadOnly}, done, nil
}

// secretMount reads secret m: kv is NAME=value when asked for as env (else
// ""), mnt a read-only copy of it unless only the variable was asked for
// or an optional secret is not provided (else nil).
func (b *Solver) secretMount(m *instructions.Mount, abs func(string) string) (kv string, mnt *run.Mount, _ error) {
	id := m.CacheID
	if id == "" && m.Target != "" {
		id = path.Base(m.Target)
	}
	dt, ok := b.cfg.Secrets[id]
	if !ok {
		if m.Required {
			return "", nil, fmt.Errorf("secret %s: not provided (use --secret id=%s,src=FILE)", id, id)
		}
		return "", nil, nil
	}
	if m.Env != nil {
		name := *m.Env
		if name == "" {
			name = id
		}
		kv = name + "=" + string(dt)
		if m.Target == "" {
			return kv, nil, nil // only the variable was asked for
		}
	}
	target := m.Target
	if target == "" {
		target = "/run/secrets/" + id
	}
	// A copy of our own, so mode and owner can be the mount's.
	f, err := os.CreateTemp(b.cfg.TempDir, "secret-")
	if err != nil {
		return "", nil, err
	}
	_, err = f.Write(dt)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", nil, fmt.Errorf("secret %s: %w", id, err)
	}
	if err := setMountOwner(f.Name(), m, 0o400); err != nil {
		return "", nil, err
	}
	return kv, &run.Mount{Type: "bind", Source: f.Name(), Target: abs(target), Readonly: true, File: true}, nil
}

// cacheDir is one RUN --mount=type=cache directory in use.
type cacheDir struct {
	lock  sync.Mutex // held by a sharing=locked RUN
	users int
}

// holdCacheDir takes a cache directory for a RUN as its sharing mode says:
// shared (default) by everyone at once; locked, one RUN at a time;
// private, a directory of its own while another RUN uses this one. A
// flock beside the directory carries locked and private to other
// executors on the same --cache-dir.
func (b *Solver) holdCacheDir(dir string, sharing instructions.ShareMode) (string, func(), error) {
	b.mu.Lock()
	if b.cacheDirs == nil {
		b.cacheDirs = map[string]*cacheDir{}
	}
	cd := b.cacheDirs[dir]
	if cd == nil {
		cd = &cacheDir{}
		b.cacheDirs[dir] = cd
	}
	busy := cd.users > 0
	cd.users++
	b.mu.Unlock()
	done := func() {
		b.mu.Lock()
		cd.users--
		b.mu.Unlock()
	}
	switch sharing {
	case instructions.MountSharingLocked:
		// A RUN that has to wait says so: a build stalled here says why.
		if !cd.lock.TryLock() {
			b.log.Info("waiting for a locked cache mount", "dir", dir, "holder", "another RUN")
			cd.lock.Lock()
		}
		// Other executors on the same --cache-dir (a shared volume) wait too.
		unlock, err := flockFile(dir+".lock", unix.LOCK_EX|unix.LOCK_NB)
		if errors.Is(err, unix.EWOULDBLOCK) {
			b.log.Info("waiting for a locked cache mount", "dir", dir, "holder", "another executor")
			unlock, err = flockFile(dir+".lock", unix.LOCK_EX)
		}
		if err != nil {
			cd.lock.Unlock()
			return "", done, fmt.Errorf("locking cache mount: %w", err)
		}
		return dir, func() { unlock(); cd.lock.Unlock(); done() }, nil
	case instructions.MountSharingPrivate:
		if !busy {
			// Held while in use, so that another executor on the same
			// --cache-dir sees it busy too.
			unlock, err := flockFile(dir+".lock", unix.LOCK_EX|unix.LOCK_NB)
			if err == nil {
				return dir, func() { unlock(); done() }, nil
			}
			if !errors.Is(err, unix.EWOULDBLOCK) {
				return "", done, fmt.Errorf("locking cache mount: %w", err)
			}
		}
		if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
			return "", done, err
		}
		// A fresh directory, given its mode and owner like a new one.
		p, err := os.MkdirTemp(filepath.Dir(dir), filepath.Base(dir)+"-private-")
		if err == nil {
			err = os.Remove(p)
		}
		return p, done, err
	}
	return dir, done, nil
}

// flockFile takes the flock how (LOCK_EX, maybe with LOCK_NB) on p, made
// if missing, and returns its release.
func flockFile(p string, how int) (func(), error) {
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return nil, err
	}
	fd, err := unix.Open(p, unix.O_RDWR|unix.O_CREAT|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0o600)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: p, Err: err}
	}
	for {
		err = unix.Flock(fd, how)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		unix.Close(fd)
		return nil, &os.PathError{Op: "flock", Path: p, Err: err}
	}
	return func() { unix.Close(fd) }, nil
}

// setMountOwner gives a mount source the mode, uid and gid of the
// --mount options (root and def by default).
func setMountOwner(p string, m *instructions.Mount, def os.FileMode) error {
	mode, uid, gid := def, 0, 0
	if m.Mode != nil {
		mode = os.FileMode(*m.Mode)
	}
	if m.UID != nil {
		uid = int(*m.UID)
	}
	if m.GID != nil {
		gid = int(*m.GID)
	}
	if err := os.Chown(p, uid, gid); err != nil {
		return err
	}
	return os.Chmod(p, mode)
}

func (b *Solver) cacheRoot() string {
	if b.cfg.CacheDir != "" {
		return filepath.Join(b.cfg.CacheDir, "run-cache")
	}
	return filepath.Join(b.cfg.TempDir, "run-cache")
}

// foreignPlatform is p, os/arch[/variant], when this machine's processor
// cannot run its programs by itself; else "".
func foreignPlatform(p v1.Platform) string {
	if p.Architecture == "" || p.Architecture == runtime.GOARCH {
		return ""
	}
	return plan.FormatPlatform(p)
}
