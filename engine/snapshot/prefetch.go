package snapshot

import (
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// Writing a layer reads its files one after the other. When they are not
// in the page cache (a context just checked out, or pages the kernel
// reclaimed while the build waited), each read waits for the disk in
// turn. A prefetcher asks the kernel to start reading the next files
// (posix_fadvise WILLNEED) a bounded distance ahead of the writer, so the
// disk sees many requests at once.

const (
	prefetchAhead   = 128 // files
	prefetchWorkers = 4
)

type prefetcher struct {
	slots chan struct{}
	quit  chan struct{}
	wg    sync.WaitGroup
}

// prefetch starts reading paths ahead; the reader calls consumed once per
// path, in order, and stop at the end.
func prefetch(paths []string) *prefetcher {
	p := &prefetcher{slots: make(chan struct{}, prefetchAhead), quit: make(chan struct{})}
	if len(paths) < 2 {
		return p
	}
	var next atomic.Int64
	for range prefetchWorkers {
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			for {
				select {
				case p.slots <- struct{}{}:
				case <-p.quit:
					return
				}
				i := int(next.Add(1)) - 1
				if i >= len(paths) {
					return
				}
				fd, err := unix.Open(paths[i], unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NOFOLLOW|unix.O_NONBLOCK, 0)
				if err != nil {
					continue
				}
				_ = unix.Fadvise(fd, 0, 0, unix.FADV_WILLNEED)
				unix.Close(fd)
			}
		}()
	}
	return p
}

// consumed frees a slot: the reader is done with one more path.
func (p *prefetcher) consumed() {
	select {
	case <-p.slots:
	default:
	}
}

func (p *prefetcher) stop() {
	close(p.quit)
	p.wg.Wait()
}

// readsContent reports whether writing e reads a file's bytes.
func readsContent(e Entry) bool { return e.typ() == unix.S_IFREG && e.Size > 0 }
