package buildctx

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/kaniko-build/kaniko-build/engine/cache"
	"github.com/kaniko-build/kaniko-build/engine/filetree"
)

// HashTree adds every file under host: name, type, mode, owner, xattrs,
// size and content (link target for symlinks). With exceptions ("!"
// lines in the ignore file) it enters excluded directories, as COPY does,
// since a file below one may be brought back. The walk only reads
// directories, in order; workers stat, read and hash each entry (sums,
// when not nil, spares reading the files it knows unchanged), and the
// entries are added in walk order.
func HashTree(h *cache.Hasher, host, rel string, excluded func(string) bool, exceptions bool, sums *cache.Sums) error {
	work := make(chan *hashItem, 256)
	wait := fillHashItems(work, sums)
	t := &hashWalk{excluded: excluded, exceptions: exceptions, work: work}
	err := t.tree(host, rel)
	close(work)
	if werr := wait(); err == nil {
		err = werr
	}
	if err != nil {
		return err
	}
	addHashItems(h, t.items)
	return nil
}

// fillHashItems starts the workers that fill the items sent on work. The
// function it returns waits for them, once work is closed, and returns
// the first error one of them met.
func fillHashItems(work <-chan *hashItem, sums *cache.Sums) (wait func() error) {
	errs := make(chan error, hashWorkers)
	var wg sync.WaitGroup
	for range hashWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var first error
			buf := make([]byte, 128<<10)
			for it := range work {
				if first == nil {
					first = it.fill(buf, sums)
				}
			}
			errs <- first
		}()
	}
	return func() error {
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				return err
			}
		}
		return nil
	}
}

// hashWalk lists the entries of a tree in order, sending each to the
// workers.
type hashWalk struct {
	excluded   func(string) bool
	exceptions bool
	work       chan<- *hashItem
	items      []*hashItem
}

func (t *hashWalk) add(path, rel string) {
	it := &hashItem{path: path, rel: rel}
	t.items = append(t.items, it)
	t.work <- it
}

// tree adds host, known as rel, and what is under it.
func (t *hashWalk) tree(host, rel string) error {
	fi, err := os.Lstat(host)
	if err != nil {
		return err
	}
	r := filepath.ToSlash(rel)
	t.add(host, r)
	if fi.IsDir() {
		return t.dir(host, strings.TrimSuffix(r, "/"))
	}
	return nil
}

// dir adds what is under dir, known as r.
func (t *hashWalk) dir(dir, r string) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range ents {
		p, cr := filepath.Join(dir, e.Name()), r+"/"+e.Name()
		if t.excluded(cr) {
			if !e.IsDir() || !t.exceptions {
				continue
			}
		} else {
			t.add(p, cr)
		}
		if e.IsDir() {
			if err := t.dir(p, cr); err != nil {
				return err
			}
		}
	}
	return nil
}

// addHashItems adds the filled items to h in order, a hard link to an
// earlier item as a link to it.
func addHashItems(h *cache.Hasher, items []*hashItem) {
	links := map[[2]uint64]string{} // hard links: which earlier file each shares
	for _, it := range items {
		if it.nlink > 1 && it.file {
			id := [2]uint64{it.st.Dev, it.st.Ino}
			if first, ok := links[id]; ok {
				h.Add(it.rel, "hardlink", first)
				continue
			}
			links[id] = it.rel
		}
		// Each part on its own, as the hasher length-prefixes them.
		for _, part := range it.parts {
			h.Add(part)
		}
		if it.file {
			h.AddKey(it.key)
		}
	}
}

// hashItem is one entry of a tree being keyed.
type hashItem struct {
	path, rel string
	parts     []string // added before the content
	file      bool     // a regular file: its content key follows
	st        cache.FileStat
	nlink     uint64
	key       cache.Key
}

// fill stats the entry and, for a regular file, finds its content key.
func (it *hashItem) fill(buf []byte, sums *cache.Sums) error {
	fi, err := os.Lstat(it.path)
	if err != nil {
		return err
	}
	uid, gid := uint32(0), uint32(0)
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		uid, gid, it.nlink = st.Uid, st.Gid, uint64(st.Nlink)
		it.st = cache.FileStat{Dev: st.Dev, Ino: st.Ino, Size: uint64(st.Size), Mtime: st.Mtim.Nano(), Ctime: st.Ctim.Nano()}
	}
	it.parts = []string{it.rel, fmt.Sprintf("%o %d:%d %d", fi.Mode(), uid, gid, fi.Size())}
	if fi.Mode().IsRegular() {
		it.file = true
		k, plain, ok := sums.Lookup(it.path, it.st)
		if ok && plain {
			it.key = k
			return nil
		}
		xattrs := filetree.Xattrs(it.path)
		it.parts = append(it.parts, xattrs...)
		if ok {
			it.key = k
			return nil
		}
		if it.key, err = HashFile(it.path, buf); err != nil {
			return err
		}
		sums.Record(it.path, it.st, it.key, len(xattrs) == 0)
		return nil
	}
	it.parts = append(it.parts, filetree.Xattrs(it.path)...)
	if fi.Mode()&os.ModeSymlink != 0 {
		t, err := os.Readlink(it.path)
		if err != nil {
			return err
		}
		it.parts = append(it.parts, t)
	}
	return nil
}

// hashWorkers is how many files HashTree reads at once: more than the
// cores, so that files not in the page cache keep the disk busy.
const hashWorkers = 8

// HashFile hashes a file's content. It reads with plain system calls: an
// os.File would also register with the poller and allocate a buffer per
// file, which costs more than the read for small files. buf, when not
// nil, is the read buffer.
func HashFile(p string, buf []byte) (cache.Key, error) {
	fd, err := unix.Open(p, unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0)
	if err != nil {
		return cache.Key{}, &os.PathError{Op: "open", Path: p, Err: err}
	}
	defer unix.Close(fd)
	if buf == nil {
		buf = make([]byte, 128<<10)
	}
	hw := cache.NewStream()
	for {
		n, err := unix.Read(fd, buf)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return cache.Key{}, &os.PathError{Op: "read", Path: p, Err: err}
		}
		if n == 0 {
			return hw.Sum(), nil
		}
		hw.Write(buf[:n])
	}
}
