// Package snapshot finds what changed in a root directory between two
// moments from file metadata alone, and writes those changes as a layer.
package snapshot

import (
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"syscall"
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

// Scan walks root and records every path but those skip reports; a
// skipped directory is not entered.
func Scan(root string, skip func(p string) bool) (State, error) {
	root = filepath.Clean(root)
	st := State{}
	err := filepath.WalkDir(root, func(host string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if host == root {
			return nil
		}
		p := filepath.ToSlash(host)
		if root != "/" {
			p = filepath.ToSlash(host[len(root):])
		}
		if skip != nil && skip(p) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		e, err := Stat(host)
		if err != nil {
			return err
		}
		st[p] = e
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("scanning %s: %w", root, err)
	}
	return st, nil
}

// Stat is the entry of one host path, not following a symlink.
func Stat(host string) (Entry, error) {
	var s syscall.Stat_t
	if err := syscall.Lstat(host, &s); err != nil {
		return Entry{}, err
	}
	e := Entry{
		Mode: s.Mode, UID: s.Uid, GID: s.Gid, Size: s.Size,
		Mtime: s.Mtim.Nano(), Ctime: s.Ctim.Nano(),
		Ino: s.Ino, Dev: s.Dev, Nlink: uint64(s.Nlink),
	}
	if e.typ() == syscall.S_IFLNK {
		l, err := os.Readlink(host)
		if err != nil {
			return Entry{}, err
		}
		e.Link = l
	}
	if e.IsDir() {
		e.Size = 0
	}
	return e, nil
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
