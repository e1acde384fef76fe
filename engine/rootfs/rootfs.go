// Package rootfs keeps in-container builds off what is the container's:
// the build's root is then the container's own "/", and what belongs to
// the container rather than the build (the executor's files, every mount
// point, --ignore-path entries) is never deleted, overwritten or put into
// a layer.
package rootfs

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"syscall"

	"github.com/kaniko-build/kaniko-build/engine/filetree"
)

// alwaysIgnored are container paths that are never the image's.
var alwaysIgnored = []string{"/proc", "/sys", "/dev", "/etc/hosts", "/etc/resolv.conf", "/etc/hostname", "/etc/mtab", "/.dockerenv", "/run/.containerenv"}

// IgnoreList is a set of in-image paths skipped with everything below them.
type IgnoreList []string

// Covers reports whether p is an ignored path or lies below one.
func (l IgnoreList) Covers(p string) bool {
	for _, ig := range l {
		if p == ig || strings.HasPrefix(p, ig+"/") || ig == "/" {
			return true
		}
	}
	return false
}

// Under reports whether some ignored path lies strictly below p.
func (l IgnoreList) Under(p string) bool {
	prefix := strings.TrimSuffix(p, "/") + "/"
	for _, ig := range l {
		if strings.HasPrefix(ig, prefix) {
			return true
		}
	}
	return false
}

// Ignores lists what in-container mode must leave alone: kanikoDir, the
// container's own files, every mount point and extra.
func Ignores(kanikoDir string, extra []string) (IgnoreList, error) {
	l := IgnoreList{filetree.Clean(kanikoDir)}
	l = append(l, alwaysIgnored...)
	for _, p := range extra {
		l = append(l, filetree.Clean(p))
	}
	mounts, err := mountPoints("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	for _, m := range mounts {
		if m != "/" {
			l = append(l, m)
		}
	}
	sort.Strings(l)
	return l, nil
}

// mountPoints reads the mount points of a mountinfo file.
func mountPoints(file string) ([]string, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, fmt.Errorf("reading mount points: %w", err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		out = append(out, unescapeMount(fields[4]))
	}
	return out, sc.Err()
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			var c int
			if _, err := fmt.Sscanf(s[i+1:i+4], "%o", &c); err == nil {
				b.WriteByte(byte(c))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// Wipe deletes everything under root but the ignored paths, as the
// step before a stage's base is extracted into "/".
func Wipe(root string, ignored IgnoreList) error {
	var wipe func(dir string) error
	wipe = func(dir string) error {
		ents, err := os.ReadDir(filepath.Join(root, dir))
		if err != nil {
			return err
		}
		for _, e := range ents {
			p := path.Join(dir, e.Name())
			switch {
			case ignored.Covers(p):
			case e.IsDir() && ignored.Under(p):
				if err := wipe(p); err != nil {
					return err
				}
			default:
				if err := os.RemoveAll(filepath.Join(root, p)); err != nil {
					return fmt.Errorf("clearing %s: %w", p, err)
				}
			}
		}
		return nil
	}
	return wipe("/")
}

// InContainer reports whether this process runs in a container.
func InContainer() bool {
	for _, f := range []string{"/.dockerenv", "/run/.containerenv"} {
		if _, err := os.Stat(f); err == nil {
			return true
		}
	}
	if os.Getenv("KUBERNETES_SERVICE_HOST") != "" {
		return true
	}
	dt, err := os.ReadFile("/proc/1/cgroup")
	if err == nil {
		s := string(dt)
		for _, w := range []string{"docker", "kubepods", "containerd", "libpod", "lxc"} {
			if strings.Contains(s, w) {
				return true
			}
		}
	}
	return false
}

// MoveAside moves what root holds, but the paths skip reports, under dst:
// by rename where it can, so a stage that later stages read leaves "/"
// without being copied. A directory that holds an ignored path is made
// anew in dst with the same metadata, and its other children are moved
// one by one. What cannot be renamed (another filesystem) is copied.
func MoveAside(root, dst string, ignored IgnoreList, skip func(string) bool) error {
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return err
	}
	var move func(dir string) error
	move = func(dir string) error {
		ents, err := os.ReadDir(filepath.Join(root, dir))
		if err != nil {
			return err
		}
		for _, e := range ents {
			p := path.Join(dir, e.Name())
			from, to := filepath.Join(root, p), filepath.Join(dst, p)
			switch {
			case skip(p):
			case e.IsDir() && ignored.Under(p):
				fi, err := os.Lstat(from)
				if err != nil {
					return err
				}
				if err := os.Mkdir(to, 0o700); err != nil {
					return err
				}
				if err := move(p); err != nil {
					return err
				}
				if err := filetree.CloneMetadata(from, to, fi); err != nil {
					return fmt.Errorf("moving %s: %w", p, err)
				}
			default:
				if err := moveEntry(root, dst, dir, e.Name()); err != nil {
					return err
				}
			}
		}
		return nil
	}
	return move("/")
}

// MoveIn moves what src holds into root, the inverse of MoveAside: root
// holds only ignored paths and their ancestors (Wipe's result) and src
// none of those paths. What root lacks is renamed in; a directory both
// hold (an ignored path's ancestor) takes src's metadata, and its children
// are moved one by one. Across filesystems it copies.
func MoveIn(src, root string, ignored IgnoreList) error {
	var move func(dir string) error
	move = func(dir string) error {
		ents, err := os.ReadDir(filepath.Join(src, dir))
		if err != nil {
			return err
		}
		for _, e := range ents {
			p := path.Join(dir, e.Name())
			if ignored.Covers(p) {
				continue
			}
			from, to := filepath.Join(src, p), filepath.Join(root, p)
			have, err := os.Lstat(to)
			switch {
			case err == nil && have.IsDir() && e.IsDir():
				fi, err := os.Lstat(from)
				if err != nil {
					return err
				}
				if err := move(p); err != nil {
					return err
				}
				if err := filetree.CloneMetadata(from, to, fi); err != nil {
					return fmt.Errorf("moving %s in: %w", p, err)
				}
			case err == nil:
				kind := "file"
				if e.Type()&fs.ModeSymlink != 0 {
					kind = "symbolic link"
				}
				return fmt.Errorf("moving %s in: the image has a %s there, and the container keeps a directory that holds its mounts", p, kind)
			default:
				if err := moveEntry(src, root, dir, e.Name()); err != nil {
					return err
				}
			}
		}
		return nil
	}
	return move("/")
}

// moveEntry moves dir/name from one tree to the same place in another: by
// rename, or by copy across filesystems.
func moveEntry(fromRoot, toRoot, dir, name string) error {
	p := path.Join(dir, name)
	err := os.Rename(filepath.Join(fromRoot, p), filepath.Join(toRoot, p))
	if err == nil {
		return nil
	}
	if !errors.Is(err, syscall.EXDEV) {
		return fmt.Errorf("moving %s: %w", p, err)
	}
	only := func(rel string) bool { return rel != name && !strings.HasPrefix(rel, name+"/") }
	if err := filetree.Copy(filepath.Join(fromRoot, dir), "", toRoot, dir, filetree.CopyOptions{Exclude: only}); err != nil {
		return fmt.Errorf("copying %s: %w", p, err)
	}
	return nil
}

// trashPrefix names the scratch directories of finished builds, left for
// the next build in the container to delete (see Discard).
const trashPrefix = "trash-"

// ScratchPrefix names a build's scratch directory.
const ScratchPrefix = "kaniko-build-"

// largeFile is the size from which Discard deletes a file rather than
// leave it to the flush at the container's end. Measured in a container
// after a build of two stages: deleting the 4,800 files they left took
// longer than flushing them, deleting the three large ones (100 MB)
// took milliseconds and cut the flush by more than half.
const largeFile = 128 << 10

// Discard disposes of a finished build's scratch directory dir. A
// container's end waits while what it wrote is flushed to disk, but the
// stages set aside here can hold many thousands of files, whose deletion
// would take as long. So what costs the flush most goes now: dir's plain
// files (layers) and the large files below it. The rest is renamed for a
// later build's EmptyTrash.
func Discard(dir string) {
	if ents, err := os.ReadDir(dir); err == nil {
		for _, e := range ents {
			p := filepath.Join(dir, e.Name())
			switch {
			case e.Type().IsRegular():
				os.Remove(p)
			case e.IsDir():
				removeLarge(p)
			}
		}
	}
	trash := filepath.Join(filepath.Dir(dir), trashPrefix+filepath.Base(dir))
	if os.Rename(dir, trash) != nil {
		os.RemoveAll(dir)
	}
}

// removeLarge deletes the regular files of at least largeFile bytes
// below dir.
func removeLarge(dir string) {
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return nil
		}
		if fi, err := d.Info(); err == nil && fi.Size() >= largeFile {
			os.Remove(p)
		}
		return nil
	})
}

// removerArg is the argv[0] under which the executor re-executes itself
// to remove a finished build's scratch after it has exited.
const removerArg = "kaniko-build-remove-scratch"

// InitRemover must be called early in main of a program that sets
// Options.RemoveInBackground: in the re-executed remover it deletes the
// trash directories it was given and exits.
func InitRemover() {
	if len(os.Args) == 0 || os.Args[0] != removerArg {
		return
	}
	for _, p := range os.Args[1:] {
		if strings.HasPrefix(filepath.Base(p), trashPrefix) {
			os.RemoveAll(p)
		}
	}
	os.Exit(0)
}

// removeDetached moves dir to the trash and has a detached copy of this
// program (see InitRemover) delete it, so that the caller can exit at
// once; when that cannot start, it deletes dir itself.
func removeDetached(dir string) {
	trash := filepath.Join(filepath.Dir(dir), trashPrefix+filepath.Base(dir))
	if os.Rename(dir, trash) != nil {
		os.RemoveAll(dir)
		return
	}
	cmd := exec.Command("/proc/self/exe")
	cmd.Args = []string{removerArg, trash}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		os.RemoveAll(trash)
		return
	}
	cmd.Process.Release()
}

// EmptyTrash deletes, in the background, what earlier builds in this
// container left in dir: their trash, and the scratch of a build that was
// killed (only one build at a time runs in a container's own root, so any
// scratch there is a dead build's).
func EmptyTrash(dir string) {
	old, _ := filepath.Glob(filepath.Join(dir, trashPrefix+"*"))
	killed, _ := filepath.Glob(filepath.Join(dir, ScratchPrefix+"*"))
	for _, k := range killed {
		trash := filepath.Join(dir, trashPrefix+filepath.Base(k))
		if os.Rename(k, trash) == nil {
			old = append(old, trash)
		}
	}
	if len(old) == 0 {
		return
	}
	go func() {
		for _, p := range old {
			os.RemoveAll(p)
		}
	}()
}
