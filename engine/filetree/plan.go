package filetree

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"syscall"
)

// Planned is one path a copy would create, with the metadata Copy would
// give it. Src is the host file it comes from (content, xattrs), "" for
// a directory Copy makes itself.
type Planned struct {
	Path string // in-image path
	Src  string
	Mode os.FileMode // type and permission bits
	UID  int
	GID  int
	// Mtime is the source's, or zero for "when copied".
	Mtime int64
	Link  string // symlink target
	// Dev, Ino and Nlink are the source's: equal Dev and Ino for hard
	// links of one file.
	Dev, Ino, Nlink uint64
	Size            int64
}

// ErrUnplanned is a source Copy treats in ways a plan does not model
// (devices, FIFOs, sockets): copy those for real.
var ErrUnplanned = errors.New("a source a plan does not model")

// PlanEach calls fn with what Copy(srcHost, srcRel, dstRoot, dst, opt)
// would create when dst does not exist yet: dst itself (the directory
// MkdirAll makes for a directory source, or the file) and, for a
// directory, every entry below it, in tree order (a directory, then what
// is in it, siblings by name). The parents of dst are not included. It
// stops with ErrUnplanned at the first source a plan does not model.
func PlanEach(srcHost, srcRel, dst string, opt CopyOptions, fn func(Planned) error) error {
	dst = Clean(dst)
	fi, err := os.Lstat(srcHost)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		if opt.Refuse != nil && opt.Refuse(dst) {
			return &RefusedError{dst}
		}
		p, ok := planOne(srcHost, dst, fi, opt)
		if !ok {
			return ErrUnplanned
		}
		return fn(p)
	}
	return walkEach(srcHost, srcRel, opt, func(e entry) error {
		target := path.Join(dst, e.rel)
		if opt.Refuse != nil && opt.Refuse(target) {
			return &RefusedError{target}
		}
		if e.rel == "" {
			// MkdirAll's: its mode, owned by DirOwner, made now.
			o := Owner{}
			if opt.DirOwner != nil {
				o = *opt.DirOwner
			}
			return fn(Planned{Path: dst, Mode: os.ModeDir | opt.MadeDirMode(), UID: o.UID, GID: o.GID})
		}
		p, ok := planOne(filepath.Join(srcHost, filepath.FromSlash(e.rel)), target, e.info, opt)
		if !ok {
			return ErrUnplanned
		}
		return fn(p)
	})
}

// planOne is copyOne's result for one entry.
func planOne(src, target string, fi fs.FileInfo, opt CopyOptions) (Planned, bool) {
	st, _ := fi.Sys().(*syscall.Stat_t)
	mode := fi.Mode()
	p := Planned{Path: target, Src: src, Mtime: fi.ModTime().UnixNano()}
	switch {
	case fi.IsDir():
		p.Src = "" // copyOne gives directories no xattrs
	case mode.IsRegular():
		p.Size = fi.Size()
	case mode&os.ModeSymlink != 0:
		l, err := os.Readlink(src)
		if err != nil {
			return p, false
		}
		p.Link = l
	default:
		return p, false
	}
	if st != nil {
		p.UID, p.GID, mode = opt.srcDisk().meta(src, st, mode)
		p.Dev, p.Ino, p.Nlink = st.Dev, st.Ino, uint64(st.Nlink)
	}
	if opt.Owner != nil {
		p.UID, p.GID = opt.Owner.UID, opt.Owner.GID
	}
	perm := mode.Perm() | mode&(os.ModeSetuid|os.ModeSetgid|os.ModeSticky)
	if mode&os.ModeSymlink != 0 {
		perm = 0o777
	} else if opt.Chmod != nil {
		perm = opt.Chmod(perm, fi.IsDir())
	}
	p.Mode = mode.Type() | perm
	return p, true
}

// String is for test failures.
func (p Planned) String() string {
	return fmt.Sprintf("%s %v %d:%d %d %q", p.Path, p.Mode, p.UID, p.GID, p.Size, p.Link)
}
