package snapshot

import (
	"sync"

	"golang.org/x/sys/unix"
)

// Writing a layer reads its files one after the other. When they are not
// in the page cache (a context just checked out, or pages the kernel
// reclaimed while the build waited), each read waits for the disk in
// turn. A prefetcher asks the kernel to start reading the next files
// (posix_fadvise WILLNEED) as the items are made, a bounded distance
// ahead of the writer, so the disk sees many requests at once.

const (
	prefetchAhead   = 128 // items
	prefetchWorkers = 4
	// prefetchBytes is how much of a file is asked for: the start of a
	// large one is enough, the kernel's readahead follows the reader.
	prefetchBytes = 8 << 20
)

type prefetcher struct {
	paths chan string
	wg    sync.WaitGroup
}

func startPrefetch() *prefetcher {
	p := &prefetcher{paths: make(chan string, prefetchAhead)}
	for range prefetchWorkers {
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			for path := range p.paths {
				fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NOFOLLOW|unix.O_NONBLOCK, 0)
				if err != nil {
					continue
				}
				_ = unix.Fadvise(fd, 0, prefetchBytes, unix.FADV_WILLNEED)
				unix.Close(fd)
			}
		}()
	}
	return p
}

// hint asks for path to be read soon; when the workers are behind, it is
// dropped rather than waited for.
func (p *prefetcher) hint(path string) {
	select {
	case p.paths <- path:
	default:
	}
}

func (p *prefetcher) stop() {
	close(p.paths)
	p.wg.Wait()
}

// readsContent reports whether writing e reads a file's bytes.
func readsContent(e Entry) bool { return e.typ() == unix.S_IFREG && e.Size > 0 }
