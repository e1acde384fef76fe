package filetree

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/kaniko-build/kaniko-build/engine/owners"
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
	// Owners keeps the owners and modes the disk cannot hold (a build
	// without root), by in-image path under OwnersRoot (root when empty).
	Owners     *owners.Table
	OwnersRoot string
	// Owner, when set, owns every entry instead of the one in the tar
	// (ADD --chown of an archive).
	Owner *Owner

	// serial makes every entry in the reading goroutine (tests).
	serial bool
}

const (
	// extractWorkers create new small files and symlinks while the layer
	// is read on: creating a file costs several system calls, each slow
	// on overlayfs and ext4, and they overlap well.
	extractWorkers = 4
	// smallFile is the largest file a worker takes, its content in memory;
	// larger ones are written as they are read.
	smallFile = 64 << 10
)

// Extract applies one uncompressed layer tar to root: whiteouts and opaque
// directories remove lower content, everything else is created with its
// mode, owner, times and xattrs. No entry can write outside root.
//
// Entries are read in order. A new small file or symlink whose directory
// is known goes to a worker; everything else is made here, after the
// workers are done when it could depend on their work: a whiteout, a hard
// link, an entry replacing something, or one below a path in the works.
func Extract(root string, r io.Reader, opt ExtractOptions) error {
	tr := tar.NewReader(r)
	x := &extractor{root: root, opt: opt, written: map[string]bool{}, parents: map[string]string{}}
	x.w = newWorkers(root, opt)
	defer x.w.stop()
	for {
		if err := x.w.failed(); err != nil {
			return err
		}
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("reading layer: %w", err)
		}
		if err := x.entry(hdr, tr); err != nil {
			return err
		}
	}
	if err := x.settle(); err != nil {
		return err
	}
	// Directory times last: creating children changed them.
	for i := len(x.dirs) - 1; i >= 0; i-- {
		_ = os.Chtimes(x.dirs[i].host, x.dirs[i].t, x.dirs[i].t)
	}
	return nil
}

// extractor is the state of one Extract.
type extractor struct {
	root string
	opt  ExtractOptions
	w    *workers
	// written are the in-image paths the layer wrote, which an opaque
	// whiteout after them keeps.
	written map[string]bool
	// dirs are the directories made, whose times are set last.
	dirs []dirTime
	// parents maps in-image directories this layer has seen on disk to
	// their host paths, which saves resolving (an lstat per path element)
	// and creating the parents of every entry. A whiteout, or an entry
	// replacing a directory or a symlink, empties it.
	parents map[string]string
}

type dirTime struct {
	host string
	t    time.Time
}

// settle waits for the workers; what they replaced empties parents.
func (x *extractor) settle() error {
	replaced, err := x.w.wait()
	if replaced {
		clear(x.parents)
	}
	return err
}

// EntryError is a tar entry refused as hostile or broken.
type EntryError struct {
	Name   string // the entry's name as in the tar
	Reason string
}

func (e *EntryError) Error() string { return fmt.Sprintf("entry %q: %s", e.Name, e.Reason) }

// checkEntry refuses a name, whiteout or hard link target that climbs
// with "..", or a whiteout of "." or "..": cleaned, each would reach
// somewhere the entry does not name, a whiteout of "." its directory.
func checkEntry(hdr *tar.Header) error {
	if hasDotDot(hdr.Name) {
		return &EntryError{hdr.Name, `".." in its path`}
	}
	if victim, ok := strings.CutPrefix(path.Base(filepath.ToSlash(hdr.Name)), WhiteoutPrefix); ok &&
		(victim == "" || victim == "." || victim == ".." || victim == ".wh.") {
		return &EntryError{hdr.Name, fmt.Sprintf("a whiteout of %q", victim)}
	}
	if hdr.Typeflag == tar.TypeLink && hasDotDot(hdr.Linkname) {
		return &EntryError{hdr.Name, fmt.Sprintf("a hard link to %q, with \"..\" in it", hdr.Linkname)}
	}
	return nil
}

func hasDotDot(p string) bool {
	for _, e := range strings.Split(filepath.ToSlash(p), "/") {
		if e == ".." {
			return true
		}
	}
	return false
}

// entry applies one entry of the layer, its content read from r.
func (x *extractor) entry(hdr *tar.Header, r io.Reader) error {
	if err := checkEntry(hdr); err != nil {
		return err
	}
	p := Clean(hdr.Name)
	if p == "/" {
		return nil
	}
	if x.opt.Ignore != nil && x.opt.Ignore(p) {
		return nil
	}
	if x.opt.Owner != nil {
		hdr.Uid, hdr.Gid = x.opt.Owner.UID, x.opt.Owner.GID
	}
	dir, base := path.Dir(p), path.Base(p)
	if base == OpaqueWhiteout {
		return x.opaque(dir)
	}
	if victim, ok := strings.CutPrefix(base, WhiteoutPrefix); ok {
		return x.whiteout(path.Join(dir, victim))
	}
	return x.write(p, hdr, r)
}

// opaque empties dir of what lower layers put there.
func (x *extractor) opaque(dir string) error {
	if err := x.settle(); err != nil {
		return err
	}
	clear(x.parents)
	return clearDir(x.root, dir, x.written, x.opt)
}

// whiteout removes victim, unless it is ignored.
func (x *extractor) whiteout(victim string) error {
	if x.opt.Ignore != nil && x.opt.Ignore(victim) {
		return nil
	}
	if err := x.settle(); err != nil {
		return err
	}
	clear(x.parents)
	host, err := ResolveParent(x.root, victim)
	if err != nil {
		return err
	}
	if err := os.RemoveAll(host); err != nil {
		return fmt.Errorf("applying whiteout %s: %w", victim, err)
	}
	x.opt.disk(x.root).forget(host)
	return nil
}

// write makes the entry at p, or hands it to a worker.
func (x *extractor) write(p string, hdr *tar.Header, r io.Reader) error {
	host, known, err := x.host(p, hdr)
	if err != nil {
		return err
	}
	replaced := false
	if known && x.w.takes(hdr) && isNew(host) {
		if err := x.w.add(p, host, hdr, r); err != nil {
			return fmt.Errorf("extracting %s: %w", p, err)
		}
	} else if replaced, err = writeEntry(x.root, host, hdr, r, x.opt, known, x.settle); err != nil {
		return fmt.Errorf("extracting %s: %w", p, err)
	}
	x.written[p] = true
	if hdr.Typeflag == tar.TypeDir {
		x.dirs = append(x.dirs, dirTime{host, hdr.ModTime})
	}
	if replaced {
		// What it replaced may be how p was reached ("a/b/x"
		// through a symlink a/b to "/", replacing the directory a).
		clear(x.parents)
		return nil
	}
	dir := path.Dir(p)
	x.parents[dir] = filepath.Dir(host)
	if hdr.Typeflag == tar.TypeDir {
		x.parents[p] = host
	}
	return nil
}

// host returns the host path of p; known tells whether its directory is
// one of parents, which exists.
func (x *extractor) host(p string, hdr *tar.Header) (host string, known bool, _ error) {
	dir := path.Dir(p)
	parent, known := x.parents[dir]
	if !known || x.w.busyAt(p) || hdr.Typeflag == tar.TypeLink {
		// Resolving reads what the workers may be making; so does
		// a hard link, of its target.
		if err := x.settle(); err != nil {
			return "", false, err
		}
		parent, known = x.parents[dir]
	}
	if known {
		return filepath.Join(parent, path.Base(p)), true, nil
	}
	host, err := ResolveParent(x.root, p)
	if err != nil {
		return "", false, err
	}
	return host, false, nil
}

// isNew reports whether nothing is at host yet.
func isNew(host string) bool {
	_, err := os.Lstat(host)
	return errors.Is(err, os.ErrNotExist)
}

// workers make new entries for Extract.
type workers struct {
	root string
	opt  ExtractOptions
	jobs chan extractJob
	wg   sync.WaitGroup // jobs handed out and not done
	busy map[string]bool

	mu       sync.Mutex
	err      error
	replaced bool
}

type extractJob struct {
	p, host string
	hdr     *tar.Header
	data    []byte
}

func newWorkers(root string, opt ExtractOptions) *workers {
	w := &workers{root: root, opt: opt, busy: map[string]bool{}}
	if opt.serial {
		return w
	}
	w.jobs = make(chan extractJob, 64)
	for range extractWorkers {
		go func() {
			for j := range w.jobs {
				replaced, err := writeEntry(w.root, j.host, j.hdr, bytes.NewReader(j.data), w.opt, true, nil)
				w.mu.Lock()
				if err != nil && w.err == nil {
					w.err = fmt.Errorf("extracting %s: %w", j.p, err)
				}
				w.replaced = w.replaced || replaced
				w.mu.Unlock()
				w.wg.Done()
			}
		}()
	}
	return w
}

// takes reports whether a worker can make the entry.
func (w *workers) takes(hdr *tar.Header) bool {
	if w.jobs == nil {
		return false
	}
	switch hdr.Typeflag {
	case tar.TypeReg, tar.TypeRegA:
		return hdr.Size <= smallFile
	case tar.TypeSymlink:
		return true
	}
	return false
}

// add hands the entry, its content read from r, to a worker.
func (w *workers) add(p, host string, hdr *tar.Header, r io.Reader) error {
	var data []byte
	if hdr.Typeflag != tar.TypeSymlink && hdr.Size > 0 {
		data = make([]byte, hdr.Size)
		if _, err := io.ReadFull(r, data); err != nil {
			return err
		}
	}
	w.busy[p] = true
	w.wg.Add(1)
	w.jobs <- extractJob{p: p, host: host, hdr: hdr, data: data}
	return nil
}

// busyAt reports whether p or a path above it is handed out.
func (w *workers) busyAt(p string) bool {
	if len(w.busy) == 0 {
		return false
	}
	for ; p != "/"; p = path.Dir(p) {
		if w.busy[p] {
			return true
		}
	}
	return false
}

// failed returns a worker's error, if one failed.
func (w *workers) failed() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

// wait waits until every handed-out entry is made; replaced tells whether
// one of them replaced a directory or a symlink.
func (w *workers) wait() (replaced bool, _ error) {
	if len(w.busy) == 0 {
		return false, w.failed()
	}
	w.wg.Wait()
	clear(w.busy)
	w.mu.Lock()
	defer w.mu.Unlock()
	replaced, w.replaced = w.replaced, false
	return replaced, w.err
}

// stop ends the workers once they are done.
func (w *workers) stop() {
	if w.jobs != nil {
		w.wg.Wait()
		close(w.jobs)
	}
}

// clearDir empties an opaque directory of everything the current layer
// did not write.
func clearDir(root, dir string, written map[string]bool, opt ExtractOptions) error {
	skip := opt.Ignore
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
		opt.disk(root).forget(filepath.Join(host, e.Name()))
	}
	return nil
}

// writeEntry creates the entry at host, replacing what is there unless
// both are directories; replaced tells whether a directory or a symlink
// was removed (paths resolved through it may have changed). parentKnown
// says host's directory exists; beforeReplace, when set, runs before
// anything is removed. New paths are created with O_EXCL and the
// like, so that the common case needs no lstat first.
func writeEntry(root, host string, hdr *tar.Header, r io.Reader, opt ExtractOptions, parentKnown bool, beforeReplace func() error) (replaced bool, _ error) {
	if !parentKnown {
		if err := os.MkdirAll(filepath.Dir(host), 0o755); err != nil {
			return false, err
		}
	}
	e := &entryWriter{root: root, host: host, hdr: hdr, opt: opt, beforeReplace: beforeReplace}
	err := e.write(r)
	return e.replaced, err
}

// entryWriter makes one entry for writeEntry.
type entryWriter struct {
	root, host    string
	hdr           *tar.Header
	opt           ExtractOptions
	beforeReplace func() error
	// replaced tells whether a directory or a symlink was removed.
	replaced bool
}

// write makes the entry, its content read from r, with its metadata.
func (e *entryWriter) write(r io.Reader) error {
	mode := os.FileMode(e.hdr.Mode).Perm()
	var err error
	switch e.hdr.Typeflag {
	case tar.TypeDir:
		err = e.mkdir(mode)
	case tar.TypeReg, tar.TypeRegA:
		return e.file(r, mode)
	case tar.TypeSymlink:
		err = e.create(func() error { return os.Symlink(e.hdr.Linkname, e.host) })
	case tar.TypeLink:
		return e.link() // a hard link shares the target's metadata
	case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		err = e.mknod(mode)
	default:
		return nil // sockets and unknown types are not part of images
	}
	if err != nil {
		return err
	}
	return setMetadata(e.host, e.hdr, e.opt.disk(e.root), e.opt)
}

// create runs mk, and once more after removing what stood at host.
func (e *entryWriter) create(mk func() error) error {
	err := mk()
	if !errors.Is(err, os.ErrExist) {
		return err
	}
	if e.beforeReplace != nil {
		// Work under way may go through what is replaced.
		if err := e.beforeReplace(); err != nil {
			return err
		}
	}
	if fi, err := os.Lstat(e.host); err == nil && (fi.IsDir() || fi.Mode()&os.ModeSymlink != 0) {
		e.replaced = true
	}
	if err := os.RemoveAll(e.host); err != nil {
		return err
	}
	e.opt.disk(e.root).forget(e.host)
	return mk()
}

// mkdir makes a directory, keeping one that is there.
func (e *entryWriter) mkdir(mode os.FileMode) error {
	err := os.Mkdir(e.host, mode)
	if err == nil {
		return nil
	}
	fi, lerr := os.Lstat(e.host)
	if lerr != nil || !errors.Is(err, os.ErrExist) {
		return err
	}
	if fi.IsDir() {
		return nil
	}
	return e.create(func() error { return os.Mkdir(e.host, mode) })
}

// file makes a regular file with its content read from r and its
// metadata.
func (e *entryWriter) file(r io.Reader, mode os.FileMode) error {
	var f *os.File
	if err := e.create(func() (err error) {
		f, err = os.OpenFile(e.host, os.O_CREATE|os.O_EXCL|os.O_WRONLY|unix.O_NOFOLLOW, mode)
		return err
	}); err != nil {
		return err
	}
	err := writeFile(f, r, e.hdr, e.opt.disk(e.root), e.opt)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	setTimes(e.host, e.hdr)
	return nil
}

// link makes a hard link to the in-image path the entry names.
func (e *entryWriter) link() error {
	// Resolved after what stood at host is gone, which can change it.
	return e.create(func() error {
		target, err := ResolveParent(e.root, Clean(e.hdr.Linkname))
		if err != nil {
			return err
		}
		if err := os.Link(target, e.host); err != nil {
			return err
		}
		e.opt.disk(e.root).link(target, e.host)
		return nil
	})
}

// mknod makes a character or block device or a FIFO.
func (e *entryWriter) mknod(mode os.FileMode) error {
	m := uint32(mode)
	switch e.hdr.Typeflag {
	case tar.TypeChar:
		m |= unix.S_IFCHR
	case tar.TypeBlock:
		m |= unix.S_IFBLK
	default:
		m |= unix.S_IFIFO
	}
	dev := int(unix.Mkdev(uint32(e.hdr.Devmajor), uint32(e.hdr.Devminor)))
	return e.create(func() error {
		if err := unix.Mknod(e.host, m, dev); err != nil {
			return &os.PathError{Op: "mknod", Path: e.host, Err: err}
		}
		return nil
	})
}

// setMetadata gives the entry at host the owner, xattrs, mode and times
// hdr records.
func setMetadata(host string, hdr *tar.Header, d disk, opt ExtractOptions) error {
	if !opt.NoChown {
		if err := d.chown(host, hdr.Uid, hdr.Gid); err != nil {
			return err
		}
	}
	if err := setXattrs(host, hdr); err != nil {
		return err
	}
	if hdr.Typeflag != tar.TypeSymlink {
		// chmod after chown: chown clears the setuid and setgid bits.
		if err := d.chmod(host, TarMode(hdr.Mode), hdr.Typeflag == tar.TypeDir); err != nil {
			return err
		}
	}
	if hdr.Typeflag != tar.TypeDir {
		setTimes(host, hdr)
	}
	return nil
}

// writeFile fills a new regular file and sets its owner, xattrs and mode
// through its descriptor.
func writeFile(f *os.File, r io.Reader, hdr *tar.Header, d disk, opt ExtractOptions) error {
	if _, err := io.Copy(f, r); err != nil {
		return err
	}
	if !opt.NoChown {
		if d.t != nil {
			if err := d.chown(f.Name(), hdr.Uid, hdr.Gid); err != nil {
				return err
			}
		} else if err := f.Chown(hdr.Uid, hdr.Gid); err != nil {
			return err
		}
	}
	if err := setXattrs(f.Name(), hdr); err != nil {
		return err
	}
	// chmod after chown: chown clears the setuid and setgid bits.
	if d.t != nil {
		return d.chmod(f.Name(), TarMode(hdr.Mode), false)
	}
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

// disk is where the extraction under root sets owners and modes.
func (o ExtractOptions) disk(root string) disk {
	if o.OwnersRoot != "" {
		root = o.OwnersRoot
	}
	return disk{t: o.Owners, root: root}
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
