package filetree

import (
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/kaniko-build/kaniko-build/engine/owners"
)

// copyWorkers is how many files Copy writes at once.
const copyWorkers = 4

// Owner is a numeric owner.
type Owner struct{ UID, GID int }

// CopyOptions tunes Copy.
type CopyOptions struct {
	// Owner replaces the owner of everything copied; nil keeps the source's.
	Owner *Owner
	// DirOwner owns the destination directories Copy creates; nil is root.
	DirOwner *Owner
	// DirMode is their mode; 0 is 0755. BuildKit gives them a numeric
	// --chmod's permission bits.
	DirMode os.FileMode
	// Chmod changes the mode of everything copied (COPY --chmod).
	Chmod Chmod
	// Exclude reports source paths (relative to the source root, slash
	// separated) not to copy. A directory that is excluded is still
	// entered when HasExceptions is set, so that "!" patterns can bring
	// children back.
	Exclude       func(rel string) bool
	HasExceptions bool
	// Refuse reports destination paths that must not be written; Copy
	// fails with a *RefusedError before writing anything there.
	Refuse func(dst string) bool
	// dstRoot is the destination's root, for Owners (set by Copy).
	dstRoot string
	// Owners keeps the owners and modes the destination's disk cannot
	// hold (a build without root); SrcOwners those of the source's, under
	// SrcRoot, the source's root.
	Owners    *owners.Table
	SrcOwners *owners.Table
	SrcRoot   string
}

// RefusedError is a copy onto a path that Refuse protects.
type RefusedError struct{ Path string }

func (e *RefusedError) Error() string {
	return fmt.Sprintf("%s belongs to the container, not the image (a mount, the executor's files or the build context): nothing may be copied there", e.Path)
}

type entry struct {
	rel  string // relative to the source directory; "" for itself
	info fs.FileInfo
}

// Copy copies srcHost (a host path: a file, a symlink or a directory whose
// contents are copied) to the in-image path dst under dstRoot. srcRel is
// srcHost relative to its source root for Exclude. Hard links inside the
// copy stay hard links. A directory is copied as it is walked, in memory
// that grows with its directories (and hard links), not its files: its
// directories in order, then its files by workers, its hard links last.
func Copy(srcHost, srcRel, dstRoot, dst string, opt CopyOptions) error {
	opt.dstRoot = dstRoot
	fi, err := os.Lstat(srcHost)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		if opt.Refuse != nil && opt.Refuse(Clean(dst)) {
			return &RefusedError{Clean(dst)}
		}
		if err := mkdirAllIn(opt.disk(), dstRoot, path.Dir(dst), opt.DirOwner, opt.MadeDirMode()); err != nil {
			return err
		}
		host, err := ResolveParent(dstRoot, dst)
		if err != nil {
			return err
		}
		if err := copyOne(srcHost, host, fi, map[[2]uint64]string{}, opt); err != nil {
			return fmt.Errorf("copying %s: %w", dst, err)
		}
		return nil
	}
	if opt.Refuse != nil && opt.Refuse(Clean(dst)) {
		return &RefusedError{Clean(dst)}
	}
	if err := mkdirAllIn(opt.disk(), dstRoot, dst, opt.DirOwner, opt.MadeDirMode()); err != nil {
		return err
	}
	c := &copier{srcHost: srcHost, dstRoot: dstRoot, dst: dst, opt: opt,
		seen: map[[2]uint64]bool{}, links: map[[2]uint64]string{}}
	// Two walks: the directories first, then the files. Made between the
	// files, the directories land in the block groups those filled, and
	// the workers' creates contend there (ext4: three times the time).
	c.dirsOnly = true
	if err := walkEach(srcHost, srcRel, opt, c.entry); err != nil {
		return err
	}
	c.dirsOnly = false
	if err := walkEach(srcHost, srcRel, opt, c.entry); err != nil {
		return err
	}
	if err := c.flush(); err != nil {
		return err
	}
	for _, j := range c.linked {
		host, err := ResolveParent(dstRoot, j.target)
		if err != nil {
			return err
		}
		if err := copyOne(j.src, host, j.info, c.links, opt); err != nil {
			return fmt.Errorf("copying %s: %w", j.target, err)
		}
	}
	for i := len(c.dirs) - 1; i >= 0; i-- {
		_ = os.Chtimes(c.dirs[i].host, c.dirs[i].t, c.dirs[i].t)
	}
	return nil
}

// copyJob is one entry Copy writes.
type copyJob struct {
	src, target string
	info        fs.FileInfo
}

// copier is one directory Copy under way: the walk makes directories and
// gathers files, which workers write a batch at a time while the walk
// waits (walking while they write made the kernel work three times as
// hard).
type copier struct {
	srcHost, dstRoot, dst string
	opt                   CopyOptions
	dirs                  []dirTime            // made, whose times are set last
	seen                  map[[2]uint64]bool   // files with hard links, by device and inode
	linked                []copyJob            // hard links to one of the files, made last
	links                 map[[2]uint64]string // where each file with hard links went
	batch                 []copyJob            // files not written yet
	dirsOnly              bool                 // the first walk: directories alone
}

// copyBatch is how many files the walk gathers before they are written.
const copyBatch = 4096

// flush writes the gathered files in parallel.
func (c *copier) flush() error {
	if len(c.batch) == 0 {
		return nil
	}
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		next     atomic.Int64
		firstErr error
	)
	for range copyWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			mine := map[[2]uint64]string{}
			for i := next.Add(1) - 1; i < int64(len(c.batch)); i = next.Add(1) - 1 {
				j := c.batch[i]
				host, err := ResolveParent(c.dstRoot, j.target)
				if err == nil {
					err = copyOne(j.src, host, j.info, mine, c.opt)
				}
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = fmt.Errorf("copying %s: %w", j.target, err)
					}
					mu.Unlock()
					return
				}
			}
			mu.Lock()
			maps.Copy(c.links, mine)
			mu.Unlock()
		}()
	}
	wg.Wait()
	c.batch = c.batch[:0]
	return firstErr
}

// entry copies one walked entry: a directory at once, in order; a file
// by a worker; a hard link to a file seen before, at the end.
func (c *copier) entry(e entry) error {
	if e.rel == "" {
		// A directory's contents are copied; the destination keeps its
		// own metadata, or the 0755 root of one MkdirAll just made.
		return nil
	}
	target := path.Join(c.dst, e.rel)
	if c.opt.Refuse != nil && c.opt.Refuse(target) {
		return &RefusedError{target}
	}
	j := copyJob{src: filepath.Join(c.srcHost, filepath.FromSlash(e.rel)), target: target, info: e.info}
	if e.info.IsDir() != c.dirsOnly {
		return nil
	}
	switch st, _ := e.info.Sys().(*syscall.Stat_t); {
	case e.info.IsDir():
		host, err := ResolveParent(c.dstRoot, target)
		if err != nil {
			return err
		}
		if err := copyOne(j.src, host, j.info, nil, c.opt); err != nil {
			return fmt.Errorf("copying %s: %w", target, err)
		}
		c.dirs = append(c.dirs, dirTime{host, e.info.ModTime()})
		return nil
	case st != nil && st.Nlink > 1 && e.info.Mode().IsRegular():
		key := [2]uint64{st.Dev, st.Ino}
		if c.seen[key] {
			c.linked = append(c.linked, j)
			return nil
		}
		c.seen[key] = true
	}
	if c.batch = append(c.batch, j); len(c.batch) >= copyBatch {
		return c.flush()
	}
	return nil
}

// MadeDirMode is the mode of the directories a copy with opt makes.
func (opt CopyOptions) MadeDirMode() os.FileMode {
	if opt.DirMode == 0 {
		return 0o755
	}
	return opt.DirMode
}

// walkEach calls fn for each entry of the tree at root that Exclude
// keeps, as it walks: a directory before what is in it. An excluded
// directory that "!" patterns may reach into (HasExceptions) is passed on
// only once something in it is kept, just before that.
func walkEach(root, rootRel string, opt CopyOptions, fn func(entry) error) error {
	var pending []entry // excluded directories along the current path
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel := strings.TrimPrefix(filepath.ToSlash(strings.TrimPrefix(p, root)), "/")
		for len(pending) > 0 && !strings.HasPrefix(rel, pending[len(pending)-1].rel+"/") {
			pending = pending[:len(pending)-1]
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if rel != "" && opt.Exclude != nil && opt.Exclude(path.Join(rootRel, rel)) {
			if d.IsDir() && !opt.HasExceptions {
				return filepath.SkipDir
			}
			if d.IsDir() {
				pending = append(pending, entry{rel, info})
			}
			return nil
		}
		for _, e := range pending {
			if err := fn(e); err != nil {
				return err
			}
		}
		pending = pending[:0]
		return fn(entry{rel, info})
	})
}

func copyOne(src, dst string, fi fs.FileInfo, links map[[2]uint64]string, opt CopyOptions) error {
	st, _ := fi.Sys().(*syscall.Stat_t)
	existing, err := os.Lstat(dst)
	if err == nil && !(existing.IsDir() && fi.IsDir()) {
		if err := os.RemoveAll(dst); err != nil {
			return err
		}
		opt.disk().forget(dst)
	}
	mode := fi.Mode()
	switch {
	case fi.IsDir():
		if err != nil || !existing.IsDir() {
			if err := os.Mkdir(dst, 0o755); err != nil {
				return err
			}
		}
	case mode.IsRegular():
		if st != nil && st.Nlink > 1 {
			key := [2]uint64{st.Dev, st.Ino}
			if first, ok := links[key]; ok {
				if err := os.Link(first, dst); err != nil {
					return err
				}
				opt.disk().link(first, dst)
				return nil
			}
			links[key] = dst
		}
		if err := copyFile(src, dst); err != nil {
			return err
		}
	case mode&os.ModeSymlink != 0:
		target, err := os.Readlink(src)
		if err != nil {
			return err
		}
		if err := os.Symlink(target, dst); err != nil {
			return err
		}
	case mode&(os.ModeDevice|os.ModeNamedPipe) != 0 && st != nil:
		if err := unix.Mknod(dst, st.Mode, int(st.Rdev)); err != nil {
			return err
		}
	default:
		return nil
	}
	uid, gid := 0, 0
	if st != nil {
		uid, gid, mode = opt.srcDisk().meta(src, st, mode)
	}
	if opt.Owner != nil {
		uid, gid = opt.Owner.UID, opt.Owner.GID
	}
	if err := opt.disk().chown(dst, uid, gid); err != nil {
		return err
	}
	if mode&os.ModeSymlink != 0 {
		t := unix.NsecToTimespec(fi.ModTime().UnixNano())
		return unix.UtimesNanoAt(unix.AT_FDCWD, dst, []unix.Timespec{t, t}, unix.AT_SYMLINK_NOFOLLOW)
	}
	perm := mode.Perm() | mode&(os.ModeSetuid|os.ModeSetgid|os.ModeSticky)
	if opt.Chmod != nil {
		perm = opt.Chmod(perm, fi.IsDir())
	}
	if err := opt.disk().chmod(dst, perm, fi.IsDir()); err != nil {
		return err
	}
	if mode.IsRegular() {
		copyXattrs(src, dst)
		return os.Chtimes(dst, fi.ModTime(), fi.ModTime())
	}
	return nil
}

// CloneMetadata gives the directory dst the owner, mode, extended
// attributes and times that fi (src's Lstat) records: last, once dst's
// children are in place.
func CloneMetadata(src, dst string, fi fs.FileInfo) error {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		if err := os.Lchown(dst, int(st.Uid), int(st.Gid)); err != nil {
			return err
		}
	}
	mode := fi.Mode()
	if err := os.Chmod(dst, mode.Perm()|mode&(os.ModeSetuid|os.ModeSetgid|os.ModeSticky)); err != nil {
		return err
	}
	copyXattrs(src, dst)
	return os.Chtimes(dst, fi.ModTime(), fi.ModTime())
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// Xattrs lists a file's extended attributes as name, value pairs, sorted
// by name (system.* left out, as copies leave them).
func Xattrs(p string) []string {
	sz, err := unix.Llistxattr(p, nil)
	if err != nil || sz <= 0 {
		return nil
	}
	buf := make([]byte, sz)
	if sz, err = unix.Llistxattr(p, buf); err != nil {
		return nil
	}
	names := strings.Split(string(buf[:sz]), "\x00")
	sort.Strings(names)
	var out []string
	for _, name := range names {
		if name == "" || strings.HasPrefix(name, "system.") {
			continue
		}
		val := make([]byte, 64*1024)
		n, err := unix.Lgetxattr(p, name, val)
		if err != nil {
			continue
		}
		out = append(out, name, string(val[:n]))
	}
	return out
}

func copyXattrs(src, dst string) {
	x := Xattrs(src)
	for i := 0; i+1 < len(x); i += 2 {
		_ = unix.Lsetxattr(dst, x[i], []byte(x[i+1]), 0)
	}
}

// MkdirAll creates the in-image directory p under root with its missing
// parents, mode 0755, owned by owner (root when nil). A symlink on the way,
// dangling or not, is followed: the directories are made where it leads.
func MkdirAll(root, p string, owner *Owner) error {
	return mkdirAll(root, p, owner, 0o755)
}

// MkdirAllIn is MkdirAll with the owners and modes the disk cannot hold
// kept in t (a build without root).
func MkdirAllIn(t *owners.Table, root, p string, owner *Owner) error {
	return mkdirAllIn(disk{t: t, root: root}, root, p, owner, 0o755)
}

// mkdirAll is MkdirAll with the mode of the directories it makes.
func mkdirAll(root, p string, owner *Owner, mode os.FileMode) error {
	return mkdirAllIn(disk{root: root}, root, p, owner, mode)
}

// mkdirAllIn is mkdirAll setting owners and modes through d.
func mkdirAllIn(d disk, root, p string, owner *Owner, mode os.FileMode) error {
	rp, err := ResolvePath(root, p, true)
	if err != nil {
		return err
	}
	host := join(filepath.Clean(root), rp)
	if fi, err := os.Stat(host); err == nil {
		if fi.IsDir() {
			return nil
		}
		return fmt.Errorf("%s is not a directory", p)
	}
	parent := path.Dir(rp)
	if parent != rp {
		if err := mkdirAllIn(d, root, parent, owner, mode); err != nil {
			return err
		}
	}
	if err := os.Mkdir(host, mode); err != nil && !os.IsExist(err) {
		return err
	}
	uid, gid := 0, 0
	if owner != nil {
		uid, gid = owner.UID, owner.GID
	}
	if err := d.chown(host, uid, gid); err != nil {
		return err
	}
	return d.chmod(host, mode, true) // not the umask's
}

// disk is where Copy sets the destination's owners and modes.
func (opt CopyOptions) disk() disk { return disk{t: opt.Owners, root: opt.dstRoot} }

// srcDisk reads the source's owners and modes.
func (opt CopyOptions) srcDisk() disk { return disk{t: opt.SrcOwners, root: opt.SrcRoot} }
