package filetree

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
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
// copy stay hard links.
func Copy(srcHost, srcRel, dstRoot, dst string, opt CopyOptions) error {
	entries, err := copyEntries(srcHost, srcRel, dstRoot, dst, opt)
	if err != nil {
		return err
	}
	// Directories first, in order; then files in parallel (they are
	// independent once their directories exist); hard links last, once
	// the files they link to are there.
	jobs, err := copyDirs(srcHost, dstRoot, dst, entries, opt)
	if err != nil {
		return err
	}
	links, err := copyFiles(jobs.files, opt)
	if err != nil {
		return err
	}
	for _, j := range jobs.linked {
		if err := copyOne(j.src, j.host, j.info, links, opt); err != nil {
			return fmt.Errorf("copying %s: %w", j.target, err)
		}
	}
	for i := len(jobs.dirs) - 1; i >= 0; i-- {
		t := jobs.dirs[i].info.ModTime()
		_ = os.Chtimes(jobs.dirs[i].host, t, t)
	}
	return nil
}

// copyEntries lists what Copy copies from srcHost, refuses it if Refuse
// protects a destination, and makes the destination's directory.
func copyEntries(srcHost, srcRel, dstRoot, dst string, opt CopyOptions) ([]entry, error) {
	fi, err := os.Lstat(srcHost)
	if err != nil {
		return nil, err
	}
	if !fi.IsDir() {
		if opt.Refuse != nil && opt.Refuse(Clean(dst)) {
			return nil, &RefusedError{Clean(dst)}
		}
		if err := mkdirAll(dstRoot, path.Dir(dst), opt.DirOwner, opt.MadeDirMode()); err != nil {
			return nil, err
		}
		return []entry{{"", fi}}, nil
	}
	entries, err := walk(srcHost, srcRel, opt)
	if err != nil {
		return nil, err
	}
	if opt.Refuse != nil {
		for _, e := range entries {
			if t := path.Join(Clean(dst), e.rel); opt.Refuse(t) {
				return nil, &RefusedError{t}
			}
		}
	}
	if err := mkdirAll(dstRoot, dst, opt.DirOwner, opt.MadeDirMode()); err != nil {
		return nil, err
	}
	return entries, nil
}

// copyJob is one entry Copy writes.
type copyJob struct {
	src, host, target string
	info              fs.FileInfo
}

// copyJobs are a copy's entries by when they are written.
type copyJobs struct {
	dirs   []copyJob // made in order
	files  []copyJob // written in parallel
	linked []copyJob // hard links to one of files, made last
}

// copyDirs makes the directories among entries, in order, and sorts the
// rest into files and hard links to them.
func copyDirs(srcHost, dstRoot, dst string, entries []entry, opt CopyOptions) (copyJobs, error) {
	var jobs copyJobs
	seen := map[[2]uint64]bool{}
	for _, e := range entries {
		if e.rel == "" && e.info.IsDir() {
			// A directory's contents are copied; the destination keeps its
			// own metadata, or the 0755 root of one MkdirAll just made.
			continue
		}
		target := path.Join(dst, e.rel)
		host, err := ResolveParent(dstRoot, target)
		if err != nil {
			return copyJobs{}, err
		}
		j := copyJob{filepath.Join(srcHost, filepath.FromSlash(e.rel)), host, target, e.info}
		switch st, _ := e.info.Sys().(*syscall.Stat_t); {
		case e.info.IsDir():
			if err := copyOne(j.src, j.host, j.info, nil, opt); err != nil {
				return copyJobs{}, fmt.Errorf("copying %s: %w", target, err)
			}
			jobs.dirs = append(jobs.dirs, j)
		case st != nil && st.Nlink > 1 && e.info.Mode().IsRegular():
			key := [2]uint64{st.Dev, st.Ino}
			if seen[key] {
				jobs.linked = append(jobs.linked, j)
				continue
			}
			seen[key] = true
			jobs.files = append(jobs.files, j)
		default:
			jobs.files = append(jobs.files, j)
		}
	}
	return jobs, nil
}

// copyFiles writes files in parallel and returns where each file with
// hard links went, by device and inode.
func copyFiles(files []copyJob, opt CopyOptions) (map[[2]uint64]string, error) {
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
		next     = make(chan copyJob)
	)
	links := map[[2]uint64]string{}
	for w := 0; w < copyWorkers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range next {
				mine := map[[2]uint64]string{}
				err := copyOne(j.src, j.host, j.info, mine, opt)
				mu.Lock()
				if err != nil && firstErr == nil {
					firstErr = fmt.Errorf("copying %s: %w", j.target, err)
				}
				for k, v := range mine {
					links[k] = v
				}
				mu.Unlock()
			}
		}()
	}
	for _, j := range files {
		next <- j
	}
	close(next)
	wg.Wait()
	return links, firstErr
}

// MadeDirMode is the mode of the directories a copy with opt makes.
func (opt CopyOptions) MadeDirMode() os.FileMode {
	if opt.DirMode == 0 {
		return 0o755
	}
	return opt.DirMode
}

// walk lists a directory tree in path order, honouring Exclude.
func walk(root, rootRel string, opt CopyOptions) ([]entry, error) {
	var out []entry
	included := map[string]bool{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel := filepath.ToSlash(strings.TrimPrefix(p, root))
		rel = strings.TrimPrefix(rel, "/")
		info, err := d.Info()
		if err != nil {
			return err
		}
		if rel != "" && opt.Exclude != nil && opt.Exclude(path.Join(rootRel, rel)) {
			if d.IsDir() && !opt.HasExceptions {
				return filepath.SkipDir
			}
			if d.IsDir() {
				out = append(out, entry{rel, info}) // kept only if a child is
			}
			return nil
		}
		included[rel] = true
		for dir := path.Dir(rel); rel != "" && dir != "." && !included[dir]; dir = path.Dir(dir) {
			included[dir] = true
		}
		out = append(out, entry{rel, info})
		return nil
	})
	if err != nil {
		return nil, err
	}
	kept := out[:0]
	for _, e := range out {
		if e.rel == "" || included[e.rel] {
			kept = append(kept, e)
		}
	}
	sort.SliceStable(kept, func(i, j int) bool { return kept[i].rel < kept[j].rel })
	return kept, nil
}

func copyOne(src, dst string, fi fs.FileInfo, links map[[2]uint64]string, opt CopyOptions) error {
	st, _ := fi.Sys().(*syscall.Stat_t)
	existing, err := os.Lstat(dst)
	if err == nil && !(existing.IsDir() && fi.IsDir()) {
		if err := os.RemoveAll(dst); err != nil {
			return err
		}
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
				return os.Link(first, dst)
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
		uid, gid = int(st.Uid), int(st.Gid)
	}
	if opt.Owner != nil {
		uid, gid = opt.Owner.UID, opt.Owner.GID
	}
	if err := os.Lchown(dst, uid, gid); err != nil {
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
	if err := os.Chmod(dst, perm); err != nil {
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

// mkdirAll is MkdirAll with the mode of the directories it makes.
func mkdirAll(root, p string, owner *Owner, mode os.FileMode) error {
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
		if err := mkdirAll(root, parent, owner, mode); err != nil {
			return err
		}
	}
	if err := os.Mkdir(host, mode); err != nil && !os.IsExist(err) {
		return err
	}
	if err := os.Chmod(host, mode); err != nil { // not the umask's
		return err
	}
	uid, gid := 0, 0
	if owner != nil {
		uid, gid = owner.UID, owner.GID
	}
	return os.Lchown(host, uid, gid)
}
