package filetree

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/kaniko-build/kaniko-build/engine/owners"
)

// disk sets owners and modes under root, through the table t where the
// disk cannot hold them (a build without root); a nil t is the disk.
type disk struct {
	t    *owners.Table
	root string
}

// key is the in-image path of host.
func (d disk) key(host string) string {
	rel := strings.TrimPrefix(filepath.Clean(host), filepath.Clean(d.root))
	if rel == "" {
		return "/"
	}
	return filepath.ToSlash(rel)
}

func (d disk) chown(host string, uid, gid int) error {
	if d.t == nil {
		return os.Lchown(host, uid, gid)
	}
	return d.t.Chown(host, d.key(host), uid, gid)
}

func (d disk) chmod(host string, perm os.FileMode, dir bool) error {
	if d.t == nil {
		return os.Chmod(host, perm)
	}
	return d.t.Chmod(host, d.key(host), perm, dir)
}

// forget drops what the table keeps for host and below: it is gone.
func (d disk) forget(host string) {
	if d.t != nil {
		d.t.Forget(d.key(host))
	}
}

// link gives host, a new hard link to target, what the table keeps for
// target.
func (d disk) link(target, host string) {
	if d.t != nil {
		d.t.Link(d.key(target), d.key(host))
	}
}

// meta is the owner and mode of the file at host that fi describes, as
// the image has them.
func (d disk) meta(host string, st *syscall.Stat_t, mode os.FileMode) (int, int, os.FileMode) {
	if d.t == nil {
		return int(st.Uid), int(st.Gid), mode
	}
	u, g, m := d.t.Apply(d.key(host), st.Uid, st.Gid, owners.PermBits(mode), st.Ino)
	return int(u), int(g), mode&^(os.ModePerm|os.ModeSetuid|os.ModeSetgid|os.ModeSticky) | TarMode(int64(m&0o7777))
}
