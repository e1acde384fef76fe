// Package snapshot finds what changed in a root directory between two
// moments from file metadata alone, and writes those changes as a layer.
package snapshot

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// Entry is the metadata of one path that decides whether it changed.
// Contents are never read: a write changes size, mtime or ctime.
type Entry struct {
	Mode  uint32 // st_mode: type and permission bits
	UID   uint32
	GID   uint32
	Size  int64
	Mtime int64 // nanoseconds
	Ctime int64
	Ino   uint64
	Dev   uint64
	Nlink uint64
	Link  string // symlink target
}

// ModeOf is the st_mode of a Go file mode: type, permission and the
// setuid, setgid and sticky bits.
func ModeOf(m os.FileMode) uint32 {
	var t uint32
	switch {
	case m.IsDir():
		t = syscall.S_IFDIR
	case m&os.ModeSymlink != 0:
		t = syscall.S_IFLNK
	case m&os.ModeNamedPipe != 0:
		t = syscall.S_IFIFO
	case m&os.ModeCharDevice != 0:
		t = syscall.S_IFCHR
	case m&os.ModeDevice != 0:
		t = syscall.S_IFBLK
	case m&os.ModeSocket != 0:
		t = syscall.S_IFSOCK
	default:
		t = syscall.S_IFREG
	}
	t |= uint32(m.Perm())
	if m&os.ModeSetuid != 0 {
		t |= syscall.S_ISUID
	}
	if m&os.ModeSetgid != 0 {
		t |= syscall.S_ISGID
	}
	if m&os.ModeSticky != 0 {
		t |= syscall.S_ISVTX
	}
	return t
}

// IsDir reports whether the entry is a directory.
func (e Entry) IsDir() bool { return e.Mode&syscall.S_IFMT == syscall.S_IFDIR }

func (e Entry) typ() uint32 { return e.Mode & syscall.S_IFMT }

// State maps clean in-image paths ("/etc/passwd") to their metadata.
type State map[string]Entry

// scanWorkers read directories at once: the walk is mostly system calls,
// which overlap across cores and with the disk.
const scanWorkers = 4

// Scan walks root and records every path but those skip reports; a
// skipped directory is not entered. Workers read directories at once,
// each entry stat'ed relative to its directory's descriptor.
func Scan(root string, skip func(p string) bool) (State, error) {
	root = filepath.Clean(root)
	prefix := root
	if root == "/" {
		prefix = ""
	}
	w := &walk{prefix: prefix, skip: skip, queue: []string{"/"}}
	w.cond = sync.NewCond(&w.mu)
	perWorker := make([][]found, scanWorkers)
	var wg sync.WaitGroup
	for i := range perWorker {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				dir, ok := w.next()
				if !ok {
					return
				}
				var subdirs []string
				var err error
				perWorker[i], subdirs, err = w.readDir(dir, perWorker[i])
				w.done(subdirs, err)
			}
		}()
	}
	wg.Wait()
	if w.err != nil {
		return nil, fmt.Errorf("scanning %s: %w", root, w.err)
	}
	n := 0
	for _, f := range perWorker {
		n += len(f)
	}
	st := make(State, n)
	for _, f := range perWorker {
		for _, e := range f {
			st[e.path] = e.entry
		}
	}
	return st, nil
}

type found struct {
	path  string
	entry Entry
}

// walk is the shared queue of directories still to read.
type walk struct {
	prefix string
	skip   func(string) bool

	mu     sync.Mutex
	cond   *sync.Cond
	queue  []string
	active int // directories being read
	err    error
}

// next is a directory to read, or false when there are none left (or an
// error stopped the walk).
func (w *walk) next() (string, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for len(w.queue) == 0 && w.active > 0 && w.err == nil {
		w.cond.Wait()
	}
	if len(w.queue) == 0 || w.err != nil {
		return "", false
	}
	d := w.queue[len(w.queue)-1]
	w.queue = w.queue[:len(w.queue)-1]
	w.active++
	return d, true
}

func (w *walk) done(subdirs []string, err error) {
	w.mu.Lock()
	w.active--
	if err != nil && w.err == nil {
		w.err = err
	}
	w.queue = append(w.queue, subdirs...)
	w.mu.Unlock()
	w.cond.Broadcast()
}

// readDir appends the entries of the in-image directory dir to out and
// returns its subdirectories to walk.
func (w *walk) readDir(dir string, out []found) ([]found, []string, error) {
	// Never follow a symlink or block on a FIFO that replaced a
	// directory since it was stat'ed.
	flags := os.O_RDONLY | unix.O_DIRECTORY | unix.O_CLOEXEC
	if dir != "/" {
		flags |= unix.O_NOFOLLOW
	}
	f, err := os.OpenFile(w.prefix+dir, flags, 0)
	if err != nil {
		return out, nil, err
	}
	defer f.Close()
	names, err := f.Readdirnames(-1)
	if err != nil {
		return out, nil, err
	}
	fd := int(f.Fd())
	base := dir
	if dir != "/" {
		base += "/"
	}
	var subdirs []string
	for _, name := range names {
		p := base + name
		if w.skip != nil && w.skip(p) {
			continue
		}
		e, err := statAt(fd, name)
		if err != nil {
			return out, nil, fmt.Errorf("%s: %w", w.prefix+p, err)
		}
		out = append(out, found{p, e})
		if e.IsDir() {
			subdirs = append(subdirs, p)
		}
	}
	return out, subdirs, nil
}

// Stat is the entry of one host path, not following a symlink.
func Stat(host string) (Entry, error) {
	return statAt(unix.AT_FDCWD, host)
}

// statAt is the entry of name in the directory open as dirfd.
func statAt(dirfd int, name string) (Entry, error) {
	var s unix.Stat_t
	if err := unix.Fstatat(dirfd, name, &s, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return Entry{}, &os.PathError{Op: "lstat", Path: name, Err: err}
	}
	e := Entry{
		Mode: s.Mode, UID: s.Uid, GID: s.Gid, Size: s.Size,
		Mtime: s.Mtim.Nano(), Ctime: s.Ctim.Nano(),
		Ino: s.Ino, Dev: uint64(s.Dev), Nlink: uint64(s.Nlink),
	}
	if e.typ() == syscall.S_IFLNK {
		l, err := readlinkAt(dirfd, name, int(s.Size))
		if err != nil {
			return Entry{}, &os.PathError{Op: "readlink", Path: name, Err: err}
		}
		e.Link = l
	}
	if e.IsDir() {
		e.Size = 0
	}
	return e, nil
}

func readlinkAt(dirfd int, name string, size int) (string, error) {
	for n := max(size+1, 128); ; n *= 2 {
		buf := make([]byte, n)
		m, err := unix.Readlinkat(dirfd, name, buf)
		if err != nil {
			return "", err
		}
		if m < n {
			return string(buf[:m]), nil
		}
	}
}

// Kind says how a path changed.
type Kind int

// The kinds of change.
const (
	Added Kind = iota
	Modified
	Deleted
	// Replaced is a directory that is gone and came back (or changed type):
	// lower content under it must be hidden.
	Replaced
)

// Change is one changed path.
type Change struct {
	Path string
	Kind Kind
}

// Diff lists the changes from old to cur, sorted by path. Deletions under
// a deleted or replaced directory are folded into it.
func Diff(old, cur State) []Change {
	var out []Change
	for p, e := range cur {
		o, ok := old[p]
		switch {
		case !ok:
			out = append(out, Change{p, Added})
		case o.IsDir() && (!e.IsDir() || o.Ino != e.Ino || o.Dev != e.Dev):
			out = append(out, Change{p, Replaced})
		case o != e:
			out = append(out, Change{p, Modified})
		}
	}
	for p := range old {
		if _, ok := cur[p]; ok {
			continue
		}
		if hiddenByParent(p, old, cur) {
			continue
		}
		out = append(out, Change{p, Deleted})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out
}

// hiddenByParent reports whether a deleted path needs no whiteout of its
// own because an ancestor is deleted or replaced too.
func hiddenByParent(p string, old, cur State) bool {
	for d := path.Dir(p); d != "/"; d = path.Dir(d) {
		c, ok := cur[d]
		if !ok {
			return true
		}
		o := old[d]
		if !c.IsDir() || o.Ino != c.Ino || o.Dev != c.Dev {
			return true
		}
	}
	return false
}

// Clone returns a copy of st.
func (st State) Clone() State {
	n := make(State, len(st))
	for k, v := range st {
		n[k] = v
	}
	return n
}
