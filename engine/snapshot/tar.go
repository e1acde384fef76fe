package snapshot

import (
	"archive/tar"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// TarOptions tunes WriteTar.
type TarOptions struct {
	// Epoch, when set, replaces every timestamp (reproducible builds).
	Epoch *time.Time
}

type inode struct{ dev, ino uint64 }

// WriteTar writes the changes as a layer tar: the changed entries with
// their parent directories, whiteouts for deletions, opaque markers for
// replaced directories. Entries come in path order, so equal trees give
// equal bytes.
func WriteTar(w io.Writer, root string, cur State, changes []Change, opt TarOptions) error {
	root = filepath.Clean(root)
	items := changedItems(cur, changes)
	paths := items.sorted()
	var hosts []string
	for _, p := range paths {
		if e, ok := cur[p]; ok && !items[p].whiteout && readsContent(e) {
			hosts = append(hosts, filepath.Join(root, filepath.FromSlash(p)))
		}
	}
	pf := prefetch(hosts)
	defer pf.stop()
	tw := tar.NewWriter(w)
	links := map[inode]string{}
	for _, p := range paths {
		it := items[p]
		if it.whiteout {
			if err := writeMarker(tw, p[1:], opt); err != nil {
				return fmt.Errorf("writing whiteout %s: %w", p, err)
			}
			continue
		}
		e, ok := cur[p]
		if !ok {
			continue
		}
		if err := writeEntry(tw, filepath.Join(root, filepath.FromSlash(p)), p, e, links, opt); err != nil {
			return err
		}
		if readsContent(e) {
			pf.consumed()
		}
		if it.opaque {
			if err := writeMarker(tw, p[1:]+"/.wh..wh..opq", opt); err != nil {
				return fmt.Errorf("writing opaque marker %s: %w", p, err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("closing layer tar: %w", err)
	}
	return nil
}

// tarItem is one path WriteTar writes: an entry of cur, with an opaque
// marker after it when opaque, or a whiteout.
type tarItem struct {
	path     string
	whiteout bool
	opaque   bool
}

// tarItems are the paths WriteTar writes.
type tarItems map[string]*tarItem

func (items tarItems) add(p string) *tarItem {
	it := items[p]
	if it == nil {
		it = &tarItem{path: p}
		items[p] = it
	}
	return it
}

// changedItems lists the paths a layer with changes holds: the changed
// ones, whiteouts for deletions, what is under a replaced directory, and
// every parent.
func changedItems(cur State, changes []Change) tarItems {
	items := tarItems{}
	var replacedDirs []string
	for _, c := range changes {
		switch c.Kind {
		case Deleted:
			items.add(path.Join(path.Dir(c.Path), ".wh."+path.Base(c.Path))).whiteout = true
		case Replaced:
			if cur[c.Path].IsDir() {
				items.add(c.Path).opaque = true
				replacedDirs = append(replacedDirs, c.Path)
			} else {
				// A non-directory hides the lower directory's children by
				// itself; a whiteout beside it confuses flatteners.
				items.add(c.Path)
			}
		default:
			items.add(c.Path)
		}
	}
	// Everything under a replaced directory is new content.
	if len(replacedDirs) > 0 {
		for p := range cur {
			for _, d := range replacedDirs {
				if strings.HasPrefix(p, d+"/") {
					items.add(p)
					break
				}
			}
		}
	}
	// Parents, so that the layer alone recreates each path faithfully.
	for p := range items {
		for d := path.Dir(p); d != "/"; d = path.Dir(d) {
			if _, ok := items[d]; ok {
				break
			}
			items.add(d)
		}
	}
	return items
}

// sorted returns the paths in order.
func (items tarItems) sorted() []string {
	paths := make([]string, 0, len(items))
	for p := range items {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	return paths
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
// the host file its content and xattrs come from ("" for none).
type Item struct {
	Path  string
	Entry Entry
	Host  string
}

// WriteItems writes items as a layer tar, in path order, hard links (equal
// Dev and Ino, Nlink above 1, not directories) as links to the first: for
// a layer whose entries are known without a scan.
func WriteItems(w io.Writer, items []Item, opt TarOptions) error {
	items = append([]Item(nil), items...)
	sort.Slice(items, func(i, j int) bool { return items[i].Path < items[j].Path })
	var hosts []string
	for _, it := range items {
		if it.Host != "" && readsContent(it.Entry) {
			hosts = append(hosts, it.Host)
		}
	}
	pf := prefetch(hosts)
	defer pf.stop()
	tw := tar.NewWriter(w)
	links := map[inode]string{}
	for _, it := range items {
		if err := writeEntry(tw, it.Host, it.Path, it.Entry, links, opt); err != nil {
			return err
		}
		if it.Host != "" && readsContent(it.Entry) {
			pf.consumed()
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
