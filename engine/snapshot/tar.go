package snapshot

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/kaniko-build/kaniko-build/engine/owners"
)

// TarOptions tunes WriteTar.
type TarOptions struct {
	// Epoch, when set, replaces every timestamp (reproducible builds).
	Epoch *time.Time
	// Owners keeps the owners and modes the disk cannot hold.
	Owners *owners.Table
}

type inode struct{ dev, ino uint64 }

// WriteTar writes the changes as a layer tar: the changed entries with
// their parent directories, whiteouts for deletions, opaque markers for
// replaced directories. Entries come in tree order, so equal trees give
// equal bytes; each is stat'ed again as it is written.
func WriteTar(w io.Writer, root string, cur *State, changes *Changes, opt TarOptions) error {
	root = filepath.Clean(root)
	if changes.cur != cur {
		return fmt.Errorf("writing layer: the changes are not of this snapshot")
	}
	return WriteItems(w, func(yield func(Item) error) error {
		return changes.walk(&tarVisitor{root: root, owners: opt.Owners, yield: yield})
	}, opt)
}

// tarVisitor turns a walk of the changes into the layer's items.
type tarVisitor struct {
	root   string
	owners *owners.Table
	yield  func(Item) error
	// dirs are the directories entered, innermost last; written says
	// whether each is in the layer yet.
	dirs        []tarDir
	justWritten string
}

type tarDir struct {
	path    string
	written bool
}

func (t *tarVisitor) entry(p []byte, k Kind, m meta, replaced bool) error {
	if k == unchanged && !replaced {
		return nil
	}
	if err := t.parents(); err != nil {
		return err
	}
	if k == Deleted {
		dir, base := path.Split(string(p))
		return t.yield(Item{Path: dir + ".wh." + base, Marker: true})
	}
	if err := t.write(string(p)); err != nil {
		return err
	}
	t.justWritten = string(p)
	if k == Replaced && m.isDir() {
		return t.yield(Item{Path: string(p) + "/.wh..wh..opq", Marker: true})
	}
	return nil
}

func (t *tarVisitor) enter(p []byte) {
	written := t.justWritten == string(p)
	t.dirs = append(t.dirs, tarDir{string(p), written})
}

func (t *tarVisitor) leave() { t.dirs = t.dirs[:len(t.dirs)-1] }

// parents writes the directories entered and not written yet, so that
// the layer alone recreates each path faithfully.
func (t *tarVisitor) parents() error {
	for i := range t.dirs {
		if t.dirs[i].written {
			continue
		}
		if err := t.write(t.dirs[i].path); err != nil {
			return err
		}
		t.dirs[i].written = true
	}
	return nil
}

// write yields the entry of p as it is on disk.
func (t *tarVisitor) write(p string) error {
	host := filepath.Join(t.root, filepath.FromSlash(p))
	e, err := Stat(host)
	if err != nil {
		return fmt.Errorf("reading %s: %w", p, err)
	}
	return t.yield(Item{Path: p, Entry: Owned(e, p, t.owners), Host: host})
}

// writeMarker writes an empty file named name, a whiteout or an opaque
// marker.
func writeMarker(tw *tar.Writer, name string, opt TarOptions) error {
	hdr := &tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0, Format: tar.FormatPAX}
	hdr.ModTime = stamp(time.Unix(0, 0), opt)
	return tw.WriteHeader(hdr)
}

func stamp(t time.Time, opt TarOptions) time.Time {
	if opt.Epoch != nil {
		return *opt.Epoch
	}
	return t
}

// Header builds the tar header of one path from its metadata.
func Header(p string, e Entry, host string) (*tar.Header, error) {
	hdr := &tar.Header{
		Name:    strings.TrimPrefix(p, "/"),
		Mode:    int64(e.Mode & 0o7777),
		Uid:     int(e.UID),
		Gid:     int(e.GID),
		ModTime: time.Unix(0, e.Mtime).Truncate(time.Second),
		Format:  tar.FormatPAX,
	}
	switch e.typ() {
	case syscall.S_IFDIR:
		hdr.Typeflag = tar.TypeDir
		hdr.Name += "/"
	case syscall.S_IFREG:
		hdr.Typeflag = tar.TypeReg
		hdr.Size = e.Size
	case syscall.S_IFLNK:
		hdr.Typeflag = tar.TypeSymlink
		hdr.Linkname = e.Link
	case syscall.S_IFCHR, syscall.S_IFBLK:
		hdr.Typeflag = tar.TypeChar
		if e.typ() == syscall.S_IFBLK {
			hdr.Typeflag = tar.TypeBlock
		}
		var s syscall.Stat_t
		if err := syscall.Lstat(host, &s); err != nil {
			return nil, err
		}
		hdr.Devmajor = int64(unix.Major(s.Rdev))
		hdr.Devminor = int64(unix.Minor(s.Rdev))
	case syscall.S_IFIFO:
		hdr.Typeflag = tar.TypeFifo
	default:
		return nil, nil // sockets are not part of images
	}
	if (hdr.Typeflag == tar.TypeReg || hdr.Typeflag == tar.TypeDir) && host != "" {
		if err := addXattrs(hdr, host); err != nil {
			return nil, err
		}
	}
	return hdr, nil
}

// Item is one entry of a layer that WriteItems writes: its metadata, and
// the host file its content and xattrs come from ("" for none); or a
// whiteout or opaque marker.
type Item struct {
	Path   string
	Entry  Entry
	Host   string
	Marker bool
}

// Items yields a layer's items, in the order they are written.
type Items func(yield func(Item) error) error

// WriteItems writes items as a layer tar, hard links (equal Dev and Ino,
// Nlink above 1, not directories) as links to the first. Items are made
// in a goroutine of their own, a bounded distance ahead of the writer, and
// the kernel is asked to read the files coming next.
func WriteItems(w io.Writer, items Items, opt TarOptions) error {
	pf := startPrefetch()
	ch := make(chan Item, prefetchAhead)
	quit := make(chan struct{})
	errc := make(chan error, 1)
	go func() {
		defer close(ch)
		errc <- items(func(it Item) error {
			if !it.Marker && it.Host != "" && readsContent(it.Entry) {
				pf.hint(it.Host)
			}
			select {
			case ch <- it:
				return nil
			case <-quit:
				return errStopped
			}
		})
	}()
	err := writeAll(w, ch, opt)
	close(quit)
	for range ch {
	}
	pf.stop()
	if perr := <-errc; err == nil && !errors.Is(perr, errStopped) {
		err = perr
	}
	return err
}

var errStopped = errors.New("stopped")

func writeAll(w io.Writer, ch <-chan Item, opt TarOptions) error {
	tw := tar.NewWriter(w)
	links := map[inode]string{}
	for it := range ch {
		if it.Marker {
			if err := writeMarker(tw, it.Path[1:], opt); err != nil {
				return fmt.Errorf("writing whiteout %s: %w", it.Path, err)
			}
			continue
		}
		if err := writeEntry(tw, it.Host, it.Path, it.Entry, links, opt); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("closing layer tar: %w", err)
	}
	return nil
}

func writeEntry(tw *tar.Writer, host, p string, e Entry, links map[inode]string, opt TarOptions) error {
	hdr, err := Header(p, e, host)
	if err != nil {
		return fmt.Errorf("reading %s: %w", p, err)
	}
	if hdr == nil {
		return nil
	}
	hdr.ModTime = stamp(hdr.ModTime, opt)
	// Any non-directory can have hard links (GNU ln links a symlink
	// itself); docker and containerd write them all as links.
	if hdr.Typeflag != tar.TypeDir && e.Nlink > 1 {
		key := inode{e.Dev, e.Ino}
		if first, ok := links[key]; ok {
			hdr.Typeflag = tar.TypeLink
			hdr.Linkname = first
			hdr.Size = 0
			if err := tw.WriteHeader(hdr); err != nil {
				return fmt.Errorf("writing %s: %w", p, err)
			}
			return nil
		}
		links[key] = hdr.Name
	}
	if err := tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("writing %s: %w", p, err)
	}
	if hdr.Typeflag != tar.TypeReg || hdr.Size == 0 {
		return nil
	}
	f, err := os.Open(host)
	if err != nil {
		return fmt.Errorf("reading %s: %w", p, err)
	}
	defer f.Close()
	n, err := io.Copy(tw, io.LimitReader(f, hdr.Size))
	if err != nil {
		return fmt.Errorf("writing %s: %w", p, err)
	}
	if n != hdr.Size {
		return fmt.Errorf("writing %s: file shrank while reading", p)
	}
	return nil
}

// addXattrs records the file's extended attributes (file capabilities
// among them) as PAX records, as docker and buildkit do.
func addXattrs(hdr *tar.Header, host string) error {
	sz, err := unix.Llistxattr(host, nil)
	if err != nil || sz <= 0 {
		return nil
	}
	buf := make([]byte, sz)
	sz, err = unix.Llistxattr(host, buf)
	if err != nil {
		return nil
	}
	for _, name := range strings.Split(string(buf[:sz]), "\x00") {
		if name == "" || strings.HasPrefix(name, "system.") || strings.HasPrefix(name, "trusted.overlay") {
			continue
		}
		vsz, err := unix.Lgetxattr(host, name, nil)
		if err != nil || vsz < 0 {
			continue
		}
		val := make([]byte, vsz)
		vsz, err = unix.Lgetxattr(host, name, val)
		if err != nil {
			continue
		}
		if hdr.PAXRecords == nil {
			hdr.PAXRecords = map[string]string{}
		}
		hdr.PAXRecords["SCHILY.xattr."+name] = string(val[:vsz])
	}
	return nil
}
