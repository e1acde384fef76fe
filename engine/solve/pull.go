package solve

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/kaniko-build/kaniko-build/engine/filetree"
	"github.com/kaniko-build/kaniko-build/engine/owners"
	"github.com/kaniko-build/kaniko-build/engine/progress"
)

// pullJobs is how many layers download at once.
const pullJobs = 3

// progressEvery is how often a long download reports its progress.
const progressEvery = 5 * time.Second

// layerFetch downloads an image's layers into files, pullJobs at a time.
// Each file can be read while it is being written, so that a layer is
// extracted as it arrives.
type layerFetch struct {
	what   string // the image, as progress names it
	cancel context.CancelFunc
	layers []*download
	// pause, when set, is called before each read of a layer: it holds
	// an extraction back while one that matters more is under way.
	pause func()
}

// fetchImage starts downloading img's layers. It needs only the image's
// manifest: a base's layers come while its config is fetched.
func (b *Solver) fetchImage(ctx context.Context, what string, img v1.Image) (*layerFetch, error) {
	layers, err := img.Layers()
	if err != nil {
		return nil, err
	}
	return b.fetchLayers(ctx, what, layers), nil
}

// fetchLayers starts downloading layers, what names them in progress.
func (b *Solver) fetchLayers(ctx context.Context, what string, layers []v1.Layer) *layerFetch {
	ctx, cancel := context.WithCancel(ctx)
	lf := &layerFetch{what: what, cancel: cancel}
	sem := make(chan struct{}, pullJobs)
	var all sync.WaitGroup
	for _, l := range layers {
		d := &download{}
		d.digest, _ = l.Digest()
		d.cond.L = &d.mu
		lf.layers = append(lf.layers, d)
		b.fetches.Add(1)
		all.Add(1)
		go func() {
			defer b.fetches.Done()
			defer all.Done()
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				d.finish(ctx.Err())
				return
			}
			defer func() { <-sem }()
			b.downloadLayer(ctx, l, d)
		}()
	}
	done := make(chan struct{})
	b.fetches.Add(2)
	go func() {
		defer b.fetches.Done()
		all.Wait()
		close(done)
	}()
	go func() {
		defer b.fetches.Done()
		b.reportPull(ctx, what, layers, lf.layers, done)
	}()
	return lf
}

// reportPull logs how far the downloads are every progressEvery, until
// they end: a short pull says nothing.
func (b *Solver) reportPull(ctx context.Context, what string, layers []v1.Layer, ds []*download, done <-chan struct{}) {
	t := time.NewTicker(progressEvery)
	defer t.Stop()
	var total int64
	for _, l := range layers {
		if n, err := l.Size(); err == nil {
			total += n
		}
	}
	for {
		select {
		case <-done:
			return
		case <-ctx.Done():
			return
		case <-t.C:
		}
		var got int64
		for _, d := range ds {
			d.mu.Lock()
			got += d.size
			d.mu.Unlock()
		}
		b.log.LogAttrs(ctx, slog.LevelInfo, fmt.Sprintf("  pulling %s: %.1f of %.1f MB", what, float64(got)/1e6, float64(total)/1e6),
			slog.String(progress.Event, "pull"), slog.String("image", what), slog.Int64("bytes", got), slog.Int64("total", total))
	}
}

// extract applies img's layers to root in order, at the given rank in
// extractOrder. Layers download in parallel (each retried as a whole when
// the connection drops) while earlier ones are being extracted.
func (b *Solver) extract(ctx context.Context, what string, img v1.Image, root string, skip func(string) bool, rank int, t *owners.Table) error {
	lf, err := b.fetchImage(ctx, what, img)
	if err != nil {
		return err
	}
	b.inOrder(lf, rank, nil)
	return lf.extract(root, skip, t)
}

// extract applies the fetched layers to root in order, each as it
// downloads, and removes their files. The first error stops the fetch.
func (lf *layerFetch) extract(root string, skip func(string) bool, t *owners.Table) error {
	defer lf.cancel()
	var firstErr error
	for _, d := range lf.layers {
		if firstErr == nil {
			firstErr = d.extract(root, skip, lf.pause, t)
			var bad *filetree.EntryError
			if errors.As(firstErr, &bad) {
				firstErr = fmt.Errorf("%s, layer %s: %w", lf.what, d.digest, firstErr)
			}
			if firstErr != nil {
				lf.cancel()
			}
		}
		if p, _ := d.wait(); p != "" {
			os.Remove(p)
		}
	}
	return firstErr
}

// download is one layer's compressed blob being written to a file.
type download struct {
	digest v1.Hash
	mu     sync.Mutex
	cond   sync.Cond // on mu: the file grew, or the download ended
	path   string    // the file, once made
	size   int64     // bytes in the file; a retry starts again from 0
	done   bool
	err    error
}

// downloadLayer copies a layer's compressed blob into a file; the registry
// reader checks the digest at the end.
func (b *Solver) downloadLayer(ctx context.Context, l v1.Layer, d *download) {
	f, err := os.CreateTemp(b.cfg.TempDir, "pull-")
	if err != nil {
		d.finish(err)
		return
	}
	defer f.Close()
	d.mu.Lock()
	d.path = f.Name()
	d.mu.Unlock()
	err = b.cfg.Registry.Retry(ctx, func() error {
		// A retry writes the same bytes again: readers wait for them.
		d.grow(-1)
		if err := f.Truncate(0); err != nil {
			return err
		}
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return err
		}
		rc, err := l.Compressed()
		if err != nil {
			return err
		}
		defer rc.Close()
		_, err = io.Copy(growingFile{f, d}, rc)
		return err
	})
	if err != nil {
		dg, _ := l.Digest()
		err = fmt.Errorf("downloading layer %s: %w", dg, err)
	}
	d.finish(err)
}

// grow records n more bytes in the file; n < 0 empties it.
func (d *download) grow(n int64) {
	d.mu.Lock()
	if n < 0 {
		d.size = 0
	} else {
		d.size += n
	}
	d.mu.Unlock()
	d.cond.Broadcast()
}

// finish ends the download with err, nil for success.
func (d *download) finish(err error) {
	d.mu.Lock()
	d.done, d.err = true, err
	d.mu.Unlock()
	d.cond.Broadcast()
}

// wait waits for the download to end: its file and error.
func (d *download) wait() (string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for !d.done {
		d.cond.Wait()
	}
	return d.path, d.err
}

// extract applies the layer to root as it downloads. When the extraction
// fails, a failed download is the error to report: what was read was not
// the layer.
func (d *download) extract(root string, skip func(string) bool, pause func(), t *owners.Table) error {
	d.mu.Lock()
	for d.path == "" && !d.done {
		d.cond.Wait()
	}
	p, err := d.path, d.err
	d.mu.Unlock()
	if p == "" {
		return err
	}
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	var r io.Reader = &followReader{d: d, f: f}
	if pause != nil {
		// Wait for the turn before the decompressor's buffers are made:
		// a hundred stages waiting would hold a hundred of them.
		pause()
		r = pausingReader{r, pause}
	}
	err = extractFrom(r, root, skip, t)
	if _, derr := d.wait(); derr != nil {
		return derr
	}
	return err
}

// growingFile is the file a download writes, telling readers it grew.
type growingFile struct {
	f *os.File
	d *download
}

func (g growingFile) Write(p []byte) (int, error) {
	n, err := g.f.Write(p)
	g.d.grow(int64(n))
	return n, err
}

// followReader reads a download's file as it is written, up to the end
// of a download that succeeded.
type followReader struct {
	d   *download
	f   *os.File
	off int64
}

func (r *followReader) Read(p []byte) (int, error) {
	for {
		r.d.mu.Lock()
		for r.off >= r.d.size && !r.d.done {
			r.d.cond.Wait()
		}
		size, done, err := r.d.size, r.d.done, r.d.err
		r.d.mu.Unlock()
		if r.off >= size {
			if err != nil {
				return 0, err
			}
			return 0, io.EOF
		}
		n, rerr := r.f.ReadAt(p[:min(int64(len(p)), size-r.off)], r.off)
		r.off += int64(n)
		if n > 0 {
			return n, nil
		}
		if rerr != nil && !errors.Is(rerr, io.EOF) {
			return 0, rerr
		}
		if done {
			// The file is as long as size says when the download ended.
			return 0, io.ErrUnexpectedEOF
		}
		// A retry emptied the file after size was read: wait for it.
	}
}

// pausingReader calls pause before every read.
type pausingReader struct {
	r     io.Reader
	pause func()
}

func (p pausingReader) Read(b []byte) (int, error) {
	p.pause()
	return p.r.Read(b)
}

// extractOrder has base extractions run in the order the build needs
// them, rather than share the CPU: an extraction pauses between reads
// while one of a lower rank is under way. Stages rank by build order; in
// a container the stage in the root ranks first (-1), as the build waits
// on it. An extraction made urgent pauses for none.
type extractOrder struct {
	mu   sync.Mutex
	cond sync.Cond   // on mu (set on first use): busy changed
	busy map[int]int // rank -> extractions under way
	// waiting, if set, is called (mu held) each time a wait finds it must
	// wait: tests see through it that a wait did not go on.
	waiting func(rank int)
}

func (q *extractOrder) lock() {
	q.mu.Lock()
	q.cond.L = &q.mu
	if q.busy == nil {
		q.busy = map[int]int{}
	}
}

func (q *extractOrder) begin(rank int) {
	q.lock()
	q.busy[rank]++
	q.mu.Unlock()
}

func (q *extractOrder) end(rank int) {
	q.lock()
	if q.busy[rank]--; q.busy[rank] == 0 {
		delete(q.busy, rank)
		q.cond.Broadcast()
	}
	q.mu.Unlock()
}

// wake has waiters look again whether they may go on.
func (q *extractOrder) wake() {
	q.lock()
	q.cond.Broadcast()
	q.mu.Unlock()
}

// wait returns when no extraction ranked before rank is under way, or
// when urgent (nil for never) is set.
func (q *extractOrder) wait(rank int, urgent *atomic.Bool) {
	q.lock()
	defer q.mu.Unlock()
	for urgent == nil || !urgent.Load() {
		ahead := false
		for r := range q.busy {
			if r < rank {
				ahead = true
				break
			}
		}
		if !ahead {
			return
		}
		if q.waiting != nil {
			q.waiting(rank)
		}
		q.cond.Wait()
	}
}

// extractFrom applies a layer, compressed or plain tar, read from r.
func extractFrom(r io.Reader, root string, skip func(string) bool, t *owners.Table) error {
	dr, err := filetree.Decompress(r)
	if err != nil {
		return fmt.Errorf("reading layer: %w", err)
	}
	defer dr.Close()
	return filetree.Extract(root, dr, filetree.ExtractOptions{Ignore: skip, Owners: t})
}
