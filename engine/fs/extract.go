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
			host, err := ResolveParent(root, victim)
			if err != nil {
				return err
			}
			if err := os.RemoveAll(host); err != nil {
				return fmt.Errorf("applying whiteout %s: %w", victim, err)
			}
			continue
		}
		host, err := ResolveParent(root, p)
		if err != nil {
			return err
		}
		if err := writeEntry(root, host, hdr, tr, opt); err != nil {
			return fmt.Errorf("extracting %s: %w", p, err)
		}
		written[p] = true
		if hdr.Typeflag == tar.TypeDir {
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

func writeEntry(root, host string, hdr *tar.Header, r io.Reader, opt ExtractOptions) error {
	if err := os.MkdirAll(filepath.Dir(host), 0o755); err != nil {
		return err
	}
	fi, err := os.Lstat(host)
	exists := err == nil
	if exists && !(fi.IsDir() && hdr.Typeflag == tar.TypeDir) {
		if err := os.RemoveAll(host); err != nil {
			return err
		}
	}
	mode := os.FileMode(hdr.Mode).Perm()
	switch hdr.Typeflag {
	case tar.TypeDir:
		if !exists || !fi.IsDir() {
			if err := os.Mkdir(host, mode); err != nil {
				return err
			}
		}
	case tar.TypeReg, tar.TypeRegA:
		f, err := os.OpenFile(host, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
		if err != nil {
			return err
		}
		if _, err := io.Copy(f, r); err != nil {
			f.Close()
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
	case tar.TypeSymlink:
		if err := os.Symlink(hdr.Linkname, host); err != nil {
			return err
		}
	case tar.TypeLink:
		target, err := ResolveParent(root, Clean(hdr.Linkname))
		if err != nil {
			return err
		}
		if err := os.Link(target, host); err != nil {
			return err
		}
		return nil // a hard link shares the target's metadata
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
		if err := unix.Mknod(host, m, int(unix.Mkdev(uint32(hdr.Devmajor), uint32(hdr.Devminor)))); err != nil {
			return err
		}
	default:
		return nil // sockets and unknown types are not part of images
	}
	if !opt.NoChown {
		if err := os.Lchown(host, hdr.Uid, hdr.Gid); err != nil {
			return err
		}
	}
	for k, v := range hdr.PAXRecords {
		if name, ok := strings.CutPrefix(k, xattrPAXPrefix); ok {
			if err := unix.Lsetxattr(host, name, []byte(v), 0); err != nil && !errors.Is(err, unix.ENOTSUP) && !errors.Is(err, unix.EPERM) {
				return fmt.Errorf("setting xattr %s: %w", name, err)
			}
		}
	}
	if hdr.Typeflag != tar.TypeSymlink {
		// chmod after chown: chown clears the setuid and setgid bits.
		if err := os.Chmod(host, TarMode(hdr.Mode)); err != nil {
			return err
		}
	}
	if hdr.Typeflag != tar.TypeDir {
		ts := []unix.Timespec{unix.NsecToTimespec(hdr.ModTime.UnixNano()), unix.NsecToTimespec(hdr.ModTime.UnixNano())}
		_ = unix.UtimesNanoAt(unix.AT_FDCWD, host, ts, unix.AT_SYMLINK_NOFOLLOW)
	}
	return nil
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
