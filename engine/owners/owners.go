// Package owners keeps the owners and modes of a build's files that the
// disk under it cannot hold: without root every file is the builder's,
// and as root in a user namespace an owner outside the mapping cannot be
// set. Layers are written with what the table says, so the image is the
// one a build as root makes.
package owners

import (
	"errors"
	"os"
	"strings"
	"sync"
	"syscall"
)

// Meta is what a path is in the image where the disk differs: its owner,
// and its permission bits (setuid, setgid, sticky included) when Perm is
// set.
type Meta struct {
	UID, GID uint32
	Perm     uint32
	HasPerm  bool
	// Ino, when set, is the inode the entry is for: a path a RUN made
	// again (another inode) is the disk's once more.
	Ino uint64
}

// Table maps in-image paths to their Meta. A nil *Table keeps nothing:
// the disk holds every owner (a build as root).
type Table struct {
	mu sync.RWMutex
	m  map[string]Meta
	// squash: the builder's own IDs on disk mean root's, what a build as
	// root gives what it makes.
	squash   bool
	uid, gid uint32
}

// ForProcess returns the table a build by this process needs: nil as
// root outside a user namespace, one that squashes this user's IDs to
// root's without root, and one for the owners a chown cannot set as root
// in a user namespace.
func ForProcess() *Table {
	switch uid := os.Geteuid(); {
	case uid != 0:
		return NoRoot(uid, os.Getegid())
	case inUserNamespace():
		return &Table{m: map[string]Meta{}}
	}
	return nil
}

// NoRoot returns the table of a builder without root whose IDs are uid
// and gid: its files read as root's.
func NoRoot(uid, gid int) *Table {
	return &Table{m: map[string]Meta{}, squash: true, uid: uint32(uid), gid: uint32(gid)}
}

// inUserNamespace tells whether this process's user IDs are not the
// whole range: a chown may then fail.
func inUserNamespace() bool {
	b, err := os.ReadFile("/proc/self/uid_map")
	if err != nil {
		return false
	}
	f := strings.Fields(string(b))
	return !(len(f) == 3 && f[0] == "0" && f[1] == "0" && f[2] == "4294967295")
}

// Squashing tells whether the builder has no root: its files are not
// chowned and their permission bits are kept apart.
func (t *Table) Squashing() bool { return t != nil && t.squash }

// Len is how many paths the table keeps.
func (t *Table) Len() int {
	if t == nil {
		return 0
	}
	t.mu.RLock()
	defer t.mu.RUnlock()
	return len(t.m)
}

// Chown gives the file at host (the in-image path p) the owner uid:gid:
// on disk when it can, in the table when the disk cannot hold it.
func (t *Table) Chown(host, p string, uid, gid int) error {
	if t == nil {
		return os.Lchown(host, uid, gid)
	}
	if t.squash {
		// The disk says the builder, which reads as root.
		t.setOwner(p, uid, gid, uid == 0 && gid == 0, 0)
		return nil
	}
	err := os.Lchown(host, uid, gid)
	if errors.Is(err, syscall.EINVAL) || errors.Is(err, syscall.EPERM) {
		// Kept for this inode alone: a RUN may remake the path.
		var st syscall.Stat_t
		if err := syscall.Lstat(host, &st); err != nil {
			return err
		}
		t.setOwner(p, uid, gid, false, st.Ino)
		return nil
	}
	t.setOwner(p, uid, gid, true, 0)
	return err
}

// setOwner keeps uid:gid for p (for inode ino, 0 for any), unless the
// disk reads so already (asDisk) and no permission bits are kept either.
func (t *Table) setOwner(p string, uid, gid int, asDisk bool, ino uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	m, ok := t.m[p]
	if asDisk && (!ok || !m.HasPerm) {
		delete(t.m, p)
		return
	}
	m.UID, m.GID, m.Ino = uint32(uid), uint32(gid), ino
	t.m[p] = m
}

// image maps on-disk IDs to the image's: without root, the builder's
// own are root's.
func (t *Table) image(uid, gid uint32) (uint32, uint32) {
	if t.squash {
		if uid == t.uid {
			uid = 0
		}
		if gid == t.gid {
			gid = 0
		}
	}
	return uid, gid
}

// Chmod gives the file at host (the in-image path p, a directory when
// dir) the permission bits perm. Without root the disk gets what the
// builder needs to go on as well (a directory it can enter and write, a
// file it can read and replace), and the table keeps perm when that
// differs.
func (t *Table) Chmod(host, p string, perm os.FileMode, dir bool) error {
	if !t.Squashing() {
		return os.Chmod(host, perm)
	}
	need := os.FileMode(0o600)
	if dir {
		need = 0o700
	}
	if err := os.Chmod(host, perm|need); err != nil {
		return err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	m, ok := t.m[p]
	if perm|need == perm {
		if ok && m.HasPerm {
			m.Perm, m.HasPerm = 0, false
			if m.UID == 0 && m.GID == 0 {
				delete(t.m, p)
			} else {
				t.m[p] = m
			}
		}
		return nil
	}
	m.Perm, m.HasPerm = PermBits(perm), true // a new entry's owner: root, as the disk reads
	t.m[p] = m
	return nil
}

// PermBits is the st_mode permission bits (setuid, setgid and sticky
// included) of the Go mode perm.
func PermBits(perm os.FileMode) uint32 {
	m := uint32(perm.Perm())
	if perm&os.ModeSetuid != 0 {
		m |= syscall.S_ISUID
	}
	if perm&os.ModeSetgid != 0 {
		m |= syscall.S_ISGID
	}
	if perm&os.ModeSticky != 0 {
		m |= syscall.S_ISVTX
	}
	return m
}

// Apply returns the image's owner and st_mode of p, inode ino, from the
// disk's.
func (t *Table) Apply(p string, uid, gid, mode uint32, ino uint64) (uint32, uint32, uint32) {
	if t == nil {
		return uid, gid, mode
	}
	t.mu.RLock()
	m, ok := t.m[p]
	t.mu.RUnlock()
	if ok && m.Ino != 0 && m.Ino != ino {
		ok = false
	}
	if !ok {
		uid, gid = t.image(uid, gid)
		return uid, gid, mode
	}
	if m.HasPerm {
		mode = mode&syscall.S_IFMT | m.Perm
	}
	return m.UID, m.GID, mode
}

// Forget drops p and everything below it: they are gone or replaced.
func (t *Table) Forget(p string) {
	if t == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.m) == 0 {
		return
	}
	delete(t.m, p)
	prefix := strings.TrimSuffix(p, "/") + "/"
	for k := range t.m {
		if strings.HasPrefix(k, prefix) {
			delete(t.m, k)
		}
	}
}

// Clone is a copy of t for a root copied from the one t is for.
func (t *Table) Clone() *Table {
	if t == nil {
		return nil
	}
	t.mu.RLock()
	defer t.mu.RUnlock()
	c := &Table{m: make(map[string]Meta, len(t.m)), squash: t.squash, uid: t.uid, gid: t.gid}
	for k, v := range t.m {
		c.m[k] = v
	}
	return c
}

// Link gives p what target has: a hard link is the same file.
func (t *Table) Link(target, p string) {
	if t == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if m, ok := t.m[target]; ok {
		t.m[p] = m
	} else {
		delete(t.m, p)
	}
}
