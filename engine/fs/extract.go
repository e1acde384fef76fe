package fs

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Whiteout prefixes of the OCI layer format.
const (
	WhiteoutPrefix = ".wh."
	OpaqueWhiteout = ".wh..wh..opq"
	xattrPAXPrefix = "SCHILY.xattr."
)

// ExtractOptions tunes Extract.
type ExtractOptions struct {
	// Ignore reports in-image paths that must not be touched (in-container
	// mode: mount points and the executor's own files).
	Ignore func(p string) bool
	// NoChown leaves ownership to the calling user (tests as non-root).
	NoChown bool
}

// Extract applies one uncompressed layer tar to root: whiteouts and opaque
// directories remove lower content, everything else is created with its
// mode, owner, times and xattrs. No entry can write outside root.
func Extract(root string, r io.Reader, opt ExtractOptions) error {
	tr := tar.NewReader(r)
	written := map[string]bool{}
	type dirTime struct {
		host string
		t    time.Time
	}
	var dirs []dirTime
	// parents maps in-image directories this layer has seen on disk to
	// their host paths, which saves resolving (an lstat per path element)
	// and creating the parents of every entry. Whatever removes a path
	// (a whiteout, an entry replacing another) empties it.
	parents := map[string]string{}
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("reading layer: %w", err)
		}
		p := Clean(hdr.Name)
		if p == "/" {
			continue
		}
		if opt.Ignore != nil && opt.Ignore(p) {
			continue
		}
		dir, base := path.Dir(p), path.Base(p)
		if base == OpaqueWhiteout {
			clear(parents)
			if err := clearDir(root, dir, written, opt.Ignore); err != nil {
				return err
			}
			continue
		}
		if strings.HasPrefix(base, WhiteoutPrefix) {
			victim := path.Join(dir, strings.TrimPrefix(base, WhiteoutPrefix))
			if opt.Ignore != nil && opt.Ignore(victim) {
				continue
			}
			clear(parents)
			host, err := ResolveParent(root, victim)
			if err != nil {
				return err
			}
			if err := os.RemoveAll(host); err != nil {
				return fmt.Errorf("applying whiteout %s: %w", victim, err)
			}
			continue
		}
		parent, known := parents[dir]
		var host string
		if known {
			host = filepath.Join(parent, base)
		} else if host, err = ResolveParent(root, p); err != nil {
			return err
		}
		replaced, err := writeEntry(root, host, hdr, tr, opt, known)
		if err != nil {
			return fmt.Errorf("extracting %s: %w", p, err)
		}
		if replaced {
			clear(parents)
		}
		parents[dir] = filepath.Dir(host)
		written[p] = true
		if hdr.Typeflag == tar.TypeDir {
			parents[p] = host
			dirs = append(dirs, dirTime{host, hdr.ModTime})
		}
	}
	// Directory times last: creating children changed them.
	for i := len(dirs) - 1; i >= 0; i-- {
		_ = os.Chtimes(dirs[i].host, dirs[i].t, dirs[i].t)
	}
	return nil
}

// clearDir empties an opaque directory of everything the current layer
// did not write.
func clearDir(root, dir string, written map[string]bool, skip func(string) bool) error {
	host, err := Resolve(root, dir, true)
	if err != nil {
		return err
	}
	ents, err := os.ReadDir(host)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("applying opaque whiteout %s: %w", dir, err)
	}
	for _, e := range ents {
		child := path.Join(dir, e.Name())
		if written[child] || (skip != nil && skip(child)) {
			continue
		}
		if err := os.RemoveAll(filepath.Join(host, e.Name())); err != nil {
			return fmt.Errorf("applying opaque whiteout %s: %w", dir, err)
		}
	}
	return nil
}

// writeEntry creates the entry at host, replacing what is there unless
// both are directories; replaced tells whether a directory or a symlink
// was removed (paths resolved through it may have changed). parentKnown
// says host's directory exists. New paths are created with O_EXCL and the
// like, so that the common case needs no lstat first.
func writeEntry(root, host string, hdr *tar.Header, r io.Reader, opt ExtractOptions, parentKnown bool) (replaced bool, _ error) {
	if !parentKnown {
		if err := os.MkdirAll(filepath.Dir(host), 0o755); err != nil {
			return false, err
		}
	}
	// create runs mk, and once more after removing what stood at host.
	create := func(mk func() error) error {
		err := mk()
		if !errors.Is(err, os.ErrExist) {
			return err
		}
		if fi, err := os.Lstat(host); err == nil && (fi.IsDir() || fi.Mode()&os.ModeSymlink != 0) {
			replaced = true
		}
		if err := os.RemoveAll(host); err != nil {
			return err
		}
		return mk()
	}
	mode := os.FileMode(hdr.Mode).Perm()
	switch hdr.Typeflag {
	case tar.TypeDir:
		if err := os.Mkdir(host, mode); err != nil {
			fi, lerr := os.Lstat(host)
			if lerr != nil || !errors.Is(err, os.ErrExist) {
				return replaced, err
			}
			if !fi.IsDir() {
				if err := create(func() error { return os.Mkdir(host, mode) }); err != nil {
					return replaced, err
				}
			}
		}
	case tar.TypeReg, tar.TypeRegA:
		var f *os.File
		if err := create(func() (err error) {
			f, err = os.OpenFile(host, os.O_CREATE|os.O_EXCL|os.O_WRONLY|unix.O_NOFOLLOW, mode)
			return err
		}); err != nil {
			return replaced, err
		}
		err := writeFile(f, r, hdr, opt)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return replaced, err
		}
		setTimes(host, hdr)
		return replaced, nil
	case tar.TypeSymlink:
		if err := create(func() error { return os.Symlink(hdr.Linkname, host) }); err != nil {
			return replaced, err
		}
	case tar.TypeLink:
		target, err := ResolveParent(root, Clean(hdr.Linkname))
		if err != nil {
			return replaced, err
		}
		// a hard link shares the target's metadata
		return replaced, create(func() error { return os.Link(target, host) })
	case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		m := uint32(mode)
		switch hdr.Typeflag {
		case tar.TypeChar:
			m |= unix.S_IFCHR
		case tar.TypeBlock:
			m |= unix.S_IFBLK
		default:
			m |= unix.S_IFIFO
		}
		dev := int(unix.Mkdev(uint32(hdr.Devmajor), uint32(hdr.Devminor)))
		if err := create(func() error {
			if err := unix.Mknod(host, m, dev); err != nil {
				return &os.PathError{Op: "mknod", Path: host, Err: err}
			}
			return nil
		}); err != nil {
			return replaced, err
		}
	default:
		return replaced, nil // sockets and unknown types are not part of images
	}
	if !opt.NoChown {
		if err := os.Lchown(host, hdr.Uid, hdr.Gid); err != nil {
			return replaced, err
		}
	}
	if err := setXattrs(host, hdr); err != nil {
		return replaced, err
	}
	if hdr.Typeflag != tar.TypeSymlink {
		// chmod after chown: chown clears the setuid and setgid bits.
		if err := os.Chmod(host, TarMode(hdr.Mode)); err != nil {
			return replaced, err
		}
	}
	if hdr.Typeflag != tar.TypeDir {
		setTimes(host, hdr)
	}
	return replaced, nil
}

// writeFile fills a new regular file and sets its owner, xattrs and mode
// through its descriptor.
func writeFile(f *os.File, r io.Reader, hdr *tar.Header, opt ExtractOptions) error {
	if _, err := io.Copy(f, r); err != nil {
		return err
	}
	if !opt.NoChown {
		if err := f.Chown(hdr.Uid, hdr.Gid); err != nil {
			return err
		}
	}
	if err := setXattrs(f.Name(), hdr); err != nil {
		return err
	}
	// chmod after chown: chown clears the setuid and setgid bits.
	return f.Chmod(TarMode(hdr.Mode))
}

func setXattrs(host string, hdr *tar.Header) error {
	for k, v := range hdr.PAXRecords {
		if name, ok := strings.CutPrefix(k, xattrPAXPrefix); ok {
			if err := unix.Lsetxattr(host, name, []byte(v), 0); err != nil && !errors.Is(err, unix.ENOTSUP) && !errors.Is(err, unix.EPERM) {
				return fmt.Errorf("setting xattr %s: %w", name, err)
			}
		}
	}
	return nil
}

func setTimes(host string, hdr *tar.Header) {
	ts := []unix.Timespec{unix.NsecToTimespec(hdr.ModTime.UnixNano()), unix.NsecToTimespec(hdr.ModTime.UnixNano())}
	_ = unix.UtimesNanoAt(unix.AT_FDCWD, host, ts, unix.AT_SYMLINK_NOFOLLOW)
}

// TarMode turns a tar header mode into an os.FileMode keeping the
// setuid, setgid and sticky bits.
func TarMode(m int64) os.FileMode {
	mode := os.FileMode(m).Perm()
	if m&0o4000 != 0 {
		mode |= os.ModeSetuid
	}
	if m&0o2000 != 0 {
		mode |= os.ModeSetgid
	}
	if m&0o1000 != 0 {
		mode |= os.ModeSticky
	}
	return mode
}
