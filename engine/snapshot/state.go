// Package snapshot finds what changed in a root directory between two
// moments from file metadata alone, and writes those changes as a layer.
package snapshot

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/kaniko-build/kaniko-build/engine/owners"
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

// State is the metadata of every path below a root, held compactly for
// trees of millions of files: a node per directory lists its entries by
// name, each as a fingerprint of its Entry rather than the Entry itself.
// Paths come in tree order: a directory, then what is in it, siblings by
// name (byte order; the order of a path's components).
type State struct {
	nodes []node // nodes[0] is the root's
	n     int
}

// node is one directory's entries, sorted by name.
type node struct {
	names []byte   // the names, back to back
	ends  []uint32 // where each name ends in names
	metas []meta
}

// meta is what a diff needs of an entry.
type meta struct {
	sum   uint64 // hash of the Entry but its Ctime
	ctime int64
	id    uint64 // hash of Dev and Ino: a directory's identity
	mode  uint32
	sub   int32 // a directory's node; -1 for none
}

func (m meta) isDir() bool { return m.mode&syscall.S_IFMT == syscall.S_IFDIR }

func (nd *node) len() int { return len(nd.ends) }

func (nd *node) name(i int) []byte {
	start := uint32(0)
	if i > 0 {
		start = nd.ends[i-1]
	}
	return nd.names[start:nd.ends[i]]
}

// find is the index of name in nd, or -1.
func (nd *node) find(name string) int {
	i := sort.Search(nd.len(), func(i int) bool { return string(nd.name(i)) >= name })
	if i < nd.len() && string(nd.name(i)) == name {
		return i
	}
	return -1
}

// Len is the number of paths.
func (st *State) Len() int {
	if st == nil {
		return 0
	}
	return st.n
}

// lookup finds the in-image path p: its node and index there.
func (st *State) lookup(p string) (*node, int) {
	if st == nil || len(st.nodes) == 0 || p == "/" || !strings.HasPrefix(p, "/") {
		return nil, -1
	}
	nd := &st.nodes[0]
	for rest := p[1:]; ; {
		name, after, more := strings.Cut(rest, "/")
		i := nd.find(name)
		if i < 0 || !more {
			return nd, i
		}
		m := nd.metas[i]
		if m.sub < 0 {
			return nil, -1
		}
		nd, rest = &st.nodes[m.sub], after
	}
}

// has reports whether st holds the path p.
func (st *State) has(p string) bool {
	_, i := st.lookup(p)
	return i >= 0
}

// Update records e as the entry of p, which st holds.
func (st *State) Update(p string, e Entry) error {
	nd, i := st.lookup(p)
	if i < 0 {
		return fmt.Errorf("updating %s: not in the snapshot", p)
	}
	m := summarize(e)
	m.sub = nd.metas[i].sub
	if m.isDir() != nd.metas[i].isDir() {
		return fmt.Errorf("updating %s: its type changed", p)
	}
	nd.metas[i] = m
	return nil
}

// summarize is the meta of e, not yet linked to a node.
func summarize(e Entry) meta {
	h := fnv.New64a()
	var b [52]byte
	binary.LittleEndian.PutUint32(b[0:], e.Mode)
	binary.LittleEndian.PutUint32(b[4:], e.UID)
	binary.LittleEndian.PutUint32(b[8:], e.GID)
	binary.LittleEndian.PutUint64(b[12:], uint64(e.Size))
	binary.LittleEndian.PutUint64(b[20:], uint64(e.Mtime))
	binary.LittleEndian.PutUint64(b[28:], e.Ino)
	binary.LittleEndian.PutUint64(b[36:], e.Dev)
	binary.LittleEndian.PutUint64(b[44:], e.Nlink)
	h.Write(b[:52])
	h.Write([]byte(e.Link))
	id := fnv.New64a()
	id.Write(b[28:44])
	return meta{sum: h.Sum64(), ctime: e.Ctime, id: id.Sum64(), mode: e.Mode, sub: -1}
}

// scanWorkers read directories at once: the walk is mostly system calls,
// which overlap across cores and with the disk.
const scanWorkers = 4

// Scan walks root and records every path but those skip reports; a
// skipped directory is not entered. Workers read directories at once,
// each entry stat'ed relative to its directory's descriptor.
func Scan(root string, skip func(p string) bool) (*State, error) {
	return ScanOwned(root, skip, nil)
}

// ScanOwned is Scan with each path's owner and mode as t says the image
// has them, where the disk cannot hold them (a build without root).
func ScanOwned(root string, skip func(p string) bool, t *owners.Table) (*State, error) {
	root = filepath.Clean(root)
	prefix := root
	if root == "/" {
		prefix = ""
	}
	w := &walk{prefix: prefix, skip: skip, owners: t, queue: []queued{{"/", 0}}, nodes: make([]node, 1)}
	w.cond = sync.NewCond(&w.mu)
	var wg sync.WaitGroup
	for range scanWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				q, ok := w.next()
				if !ok {
					return
				}
				nd, subdirs, err := w.readDir(q.dir)
				w.done(q, nd, subdirs, err)
			}
		}()
	}
	wg.Wait()
	if w.err != nil {
		return nil, fmt.Errorf("scanning %s: %w", root, w.err)
	}
	return &State{nodes: w.nodes, n: w.n}, nil
}

type queued struct {
	dir  string
	node int32
}

// walk is the shared queue of directories still to read.
type walk struct {
	prefix string
	skip   func(string) bool
	owners *owners.Table

	mu     sync.Mutex
	cond   *sync.Cond
	queue  []queued
	nodes  []node
	n      int
	active int // directories being read
	err    error
}

// next is a directory to read, or false when there are none left (or an
// error stopped the walk).
func (w *walk) next() (queued, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for len(w.queue) == 0 && w.active > 0 && w.err == nil {
		w.cond.Wait()
	}
	if len(w.queue) == 0 || w.err != nil {
		return queued{}, false
	}
	q := w.queue[len(w.queue)-1]
	w.queue = w.queue[:len(w.queue)-1]
	w.active++
	return q, true
}

// done stores the node read for directory q and queues its
// subdirectories, each given a node of its own.
func (w *walk) done(q queued, nd node, subdirs []subdir, err error) {
	w.mu.Lock()
	w.active--
	if err != nil && w.err == nil {
		w.err = err
	}
	if err == nil {
		for _, s := range subdirs {
			k := int32(len(w.nodes))
			w.nodes = append(w.nodes, node{})
			nd.metas[s.index].sub = k
			w.queue = append(w.queue, queued{s.path, k})
		}
		w.nodes[q.node] = nd
		w.n += nd.len()
	}
	w.mu.Unlock()
	w.cond.Broadcast()
}

type subdir struct {
	index int
	path  string
}

// readDir reads the in-image directory dir into a node and returns its
// subdirectories to walk.
func (w *walk) readDir(dir string) (node, []subdir, error) {
	// Never follow a symlink or block on a FIFO that replaced a
	// directory since it was stat'ed.
	flags := os.O_RDONLY | unix.O_DIRECTORY | unix.O_CLOEXEC
	if dir != "/" {
		flags |= unix.O_NOFOLLOW
	}
	f, err := os.OpenFile(w.prefix+dir, flags, 0)
	if err != nil {
		return node{}, nil, err
	}
	defer f.Close()
	names, err := f.Readdirnames(-1)
	if err != nil {
		return node{}, nil, err
	}
	sort.Strings(names)
	fd := int(f.Fd())
	base := dir
	if dir != "/" {
		base += "/"
	}
	size := 0
	for _, name := range names {
		size += len(name)
	}
	nd := node{names: make([]byte, 0, size), ends: make([]uint32, 0, len(names)), metas: make([]meta, 0, len(names))}
	var subdirs []subdir
	for _, name := range names {
		p := base + name
		if w.skip != nil && w.skip(p) {
			continue
		}
		e, err := statAt(fd, name)
		if err != nil {
			return node{}, nil, fmt.Errorf("%s: %w", w.prefix+p, err)
		}
		e = Owned(e, p, w.owners)
		if e.IsDir() {
			subdirs = append(subdirs, subdir{nd.len(), p})
		}
		nd.names = append(nd.names, name...)
		nd.ends = append(nd.ends, uint32(len(nd.names)))
		nd.metas = append(nd.metas, summarize(e))
	}
	return nd, subdirs, nil
}

// Owned is e, the entry of the in-image path p, with the owner and mode t
// keeps for it.
func Owned(e Entry, p string, t *owners.Table) Entry {
	e.UID, e.GID, e.Mode = t.Apply(p, e.UID, e.GID, e.Mode, e.Ino)
	return e
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
