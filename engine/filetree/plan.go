package filetree

import (
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
	// Dev and Ino are the source's: equal for hard links of one file.
	Dev, Ino uint64
	Size     int64
}

// PlanNew lists what Copy(srcHost, srcRel, dstRoot, dst, opt) would
// create when dst does not exist yet: dst itself (the directory MkdirAll
// makes for a directory source, or the file) and, for a directory, every
// entry below it, in path order. The parents of dst are not included.
// ok is false for sources Copy would treat in ways a plan does not model
// (devices, FIFOs, sockets): copy those for real.
func PlanNew(srcHost, srcRel, dst string, opt CopyOptions) (_ []Planned, ok bool, _ error) {
	dst = Clean(dst)
	fi, err := os.Lstat(srcHost)
	if err != nil {
		return nil, false, err
	}
	if !fi.IsDir() {
		if opt.Refuse != nil && opt.Refuse(dst) {
			return nil, false, &RefusedError{dst}
		}
		p, ok := planOne(srcHost, dst, fi, opt)
		return []Planned{p}, ok, nil
	}
	entries, err := walk(srcHost, srcRel, opt)
	if err != nil {
		return nil, false, err
	}
	out := make([]Planned, 0, len(entries))
	for _, e := range entries {
		target := path.Join(dst, e.rel)
		if opt.Refuse != nil && opt.Refuse(target) {
			return nil, false, &RefusedError{target}
		}
		if e.rel == "" {
			// MkdirAll's: its mode, owned by DirOwner, made now.
			o := Owner{}
			if opt.DirOwner != nil {
				o = *opt.DirOwner
			}
			out = append(out, Planned{Path: dst, Mode: os.ModeDir | opt.MadeDirMode(), UID: o.UID, GID: o.GID})
			continue
		}
		p, ok := planOne(filepath.Join(srcHost, filepath.FromSlash(e.rel)), target, e.info, opt)
		if !ok {
			return nil, false, nil
		}
		out = append(out, p)
	}
	return out, true, nil
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
		p.UID, p.GID = int(st.Uid), int(st.Gid)
		p.Dev, p.Ino = st.Dev, st.Ino
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
