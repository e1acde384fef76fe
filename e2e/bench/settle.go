//go:build linux

package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// An ext4 filesystem without a journal does not reuse an inode within 60
// seconds of its deletion (ext4's recently_deleted, RECENTCY_MIN; 360 s
// while the inode table block is dirty, hence the sync before each run):
// each new file's allocation reads past every recently deleted inode of
// its group. A build that creates 20,000 files right after the previous
// run deleted 20,000 runs two to three times slower, whichever builder it
// is. So on such a filesystem a timed run starts only after that window
// has passed since the bench started (what ran before it may have deleted
// files) and since the last run or cleanup that deleted many inodes. With
// a journal (the usual case, and e2e/docker-fs.sh's filesystem, which
// setup.sh gives dockerd on such a machine) ext4 skips the check and the
// settle time is zero.

// recentcy is ext4's RECENTCY_MIN (fs/ext4/ialloc.c).
const recentcy = 60 * time.Second

// manyInodes is the number of freed inodes that makes the next run wait.
const manyInodes = 1000

// autoSettle returns the settle time for the filesystems of dirs: the
// window plus a second if any of them is ext4 without a journal, else 0,
// and the reason.
func autoSettle(dirs ...string) (time.Duration, string) {
	mounts, err := os.ReadFile("/proc/self/mounts")
	if err != nil {
		return 0, ""
	}
	for _, d := range dirs {
		dev, fstype := mountOf(string(mounts), d)
		if fstype != "ext4" {
			continue
		}
		if real, err := filepath.EvalSymlinks(dev); err == nil {
			dev = real
		}
		j, err := os.ReadFile(filepath.Join("/sys/fs/ext4", filepath.Base(dev), "journal_task"))
		if err != nil || strings.TrimSpace(string(j)) != "<none>" {
			continue
		}
		return recentcy + time.Second, fmt.Sprintf("%s (%s) is ext4 without a journal: inodes deleted less than %s ago slow down file creation", d, dev, recentcy)
	}
	return 0, ""
}

// mountOf returns the device and type of the mount that holds dir.
func mountOf(mounts, dir string) (dev, fstype string) {
	best := -1
	for _, l := range strings.Split(mounts, "\n") {
		f := strings.Fields(l)
		if len(f) < 3 {
			continue
		}
		mp := f[1]
		if (dir == mp || strings.HasPrefix(dir, strings.TrimSuffix(mp, "/")+"/")) && len(mp) > best {
			best, dev, fstype = len(mp), f[0], f[2]
		}
	}
	return dev, fstype
}

// settleDown waits until e.settle has passed since the last deletion.
func (e *env) settleDown() {
	if d := e.settle - time.Since(e.lastDeletion); d > 0 {
		time.Sleep(d)
	}
}

// deleted records that files were just deleted.
func (e *env) deleted() { e.lastDeletion = time.Now() }

// inodeWatch follows the free inodes of the filesystem holding dir, to
// tell how many a run and its cleanup freed: the rise from the lowest
// count seen to the count at the end.
type inodeWatch struct {
	dir  string
	stop chan struct{}
	done chan struct{}
	mu   sync.Mutex
	min  uint64
}

func watchInodes(dir string) *inodeWatch {
	w := &inodeWatch{dir: dir, stop: make(chan struct{}), done: make(chan struct{}), min: ^uint64(0)}
	go func() {
		defer close(w.done)
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			if n, ok := freeInodes(w.dir); ok {
				w.mu.Lock()
				w.min = min(w.min, n)
				w.mu.Unlock()
			}
			select {
			case <-w.stop:
				return
			case <-t.C:
			}
		}
	}()
	return w
}

// freed stops the watch and returns how many inodes came free since the
// lowest point.
func (w *inodeWatch) freed() uint64 {
	close(w.stop)
	<-w.done
	n, ok := freeInodes(w.dir)
	w.mu.Lock()
	defer w.mu.Unlock()
	if !ok || n < w.min {
		return 0
	}
	return n - w.min
}

func freeInodes(dir string) (uint64, bool) {
	st, ok := statfs(dir)
	return st.Ffree, ok
}

// statfs is dir's filesystem's statistics, ok false when they cannot be
// read.
func statfs(dir string) (syscall.Statfs_t, bool) {
	var st syscall.Statfs_t
	err := syscall.Statfs(dir, &st)
	return st, err == nil
}

// lowDisk is the free space under which the runs' storage is freed after
// each run rather than at the end of the context: bigfile's 30 runs keep
// about 25 GB in the builders' storage otherwise.
const lowDisk = 10 << 30

// freeEarly runs cleanups now when the bench's or docker's filesystem
// has less than lowDisk free; when they deleted many files, the next run
// waits as after any such deletion.
func freeEarly(e *env, cleanups func()) {
	if freeBytes(e.work) >= lowDisk && freeBytes(e.dockerRoot) >= lowDisk {
		return
	}
	w := watchInodes(e.work)
	cleanups()
	if w.freed() >= manyInodes {
		e.deleted()
	}
}

// freeBytes is the space left for root on dir's filesystem; 0 if it
// cannot be told.
func freeBytes(dir string) uint64 {
	st, ok := statfs(dir)
	if !ok {
		return 0
	}
	return st.Bfree * uint64(st.Bsize)
}
