package solve

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync/atomic"
	"syscall"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/validate"

	"github.com/kaniko-build/kaniko-build/engine/progress"
)

// testLayer is a gzip layer of n files of 64 KiB each, whose contents
// do not compress away, so that the blob spans many reads.
func testLayer(t *testing.T, n int) (v1.Layer, map[string][]byte) {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	files := map[string][]byte{}
	for i := range n {
		body := make([]byte, 64<<10)
		x := uint32(i + 1)
		for j := range body {
			x ^= x << 13
			x ^= x >> 17
			x ^= x << 5
			body[j] = byte(x)
		}
		name := fmt.Sprintf("d/f%03d", i)
		files[name] = body
		if err := tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(body))}); err != nil {
			t.Fatal(err)
		}
		tw.Write(body)
	}
	tw.Close()
	data := buf.Bytes()
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil })
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Layer(l); err != nil {
		t.Fatal(err)
	}
	return l, files
}

// flakyLayer's first cut blobs end after cut bytes with an error, as a
// dropped connection does.
type flakyLayer struct {
	v1.Layer
	cut   int64
	fails atomic.Int32
}

var errDropped = fmt.Errorf("connection dropped: %w", syscall.ECONNRESET)

func (l *flakyLayer) Compressed() (io.ReadCloser, error) {
	rc, err := l.Layer.Compressed()
	if err != nil || l.fails.Add(-1) < 0 {
		return rc, err
	}
	return struct {
		io.Reader
		io.Closer
	}{io.MultiReader(io.LimitReader(rc, l.cut), &failReader{errDropped}), rc}, nil
}

type failReader struct{ err error }

func (r *failReader) Read([]byte) (int, error) { return 0, r.err }

// A layer is extracted while it downloads; a download that drops half way
// starts again and the extraction reads on from the same bytes.
func TestExtractWhileDownloadingRetried(t *testing.T) {
	l, files := testLayer(t, 40)
	size, err := l.Size()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		fails int32
		err   bool
	}{
		{name: "whole"},
		{name: "dropped once", fails: 1},
		{name: "dropped every time", fails: 100, err: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM scratch\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			b := New(testConfig(t, dir))
			fl := &flakyLayer{Layer: l, cut: size / 2}
			fl.fails.Store(tc.fails)
			root := t.TempDir()
			err = b.fetchLayers(context.Background(), "a test layer", []v1.Layer{fl}).extract(root, nil, nil)
			if tc.err {
				if !errors.Is(err, errDropped) {
					t.Fatalf("extract: %v, want the download's error", err)
				}
			} else {
				if err != nil {
					t.Fatal(err)
				}
				for name, want := range files {
					got, err := os.ReadFile(filepath.Join(root, name))
					if err != nil || !bytes.Equal(got, want) {
						t.Fatalf("%s: %d bytes, %v; want %d bytes", name, len(got), err, len(want))
					}
				}
			}
			b.fetches.Wait()
			if left, _ := filepath.Glob(filepath.Join(b.cfg.TempDir, "pull-*")); len(left) > 0 {
				t.Errorf("download files left behind: %v", left)
			}
		})
	}
}

// An extraction waits while one ranked before it is under way, unless it
// is made urgent; one ranked first never waits.
func TestExtractOrder(t *testing.T) {
	waiting := make(chan int, 8)
	q := extractOrder{waiting: func(rank int) { waiting <- rank }}
	waited := make(chan string, 3)
	// looked returns once the waits of ranks want (in order) have each
	// looked again whether they may go on, and found they may not.
	looked := func(want ...int) {
		t.Helper()
		got := make([]int, len(want))
		for i := range got {
			select {
			case got[i] = <-waiting:
			case w := <-waited:
				t.Fatalf("%s extraction went on while an earlier one was under way", w)
			}
		}
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Fatalf("waits of ranks %v found they must wait, want %v", got, want)
		}
	}
	q.begin(0)
	q.begin(2)
	var urgent atomic.Bool
	go func() { q.wait(1, nil); waited <- "second" }()
	go func() { q.wait(3, &urgent); waited <- "urgent" }()
	q.wait(0, nil) // nothing ranked before it
	q.wait(-1, nil)
	looked(1, 3)
	urgent.Store(true)
	q.wake()
	if w := <-waited; w != "urgent" {
		t.Fatalf("%s went on first, want the urgent one", w)
	}
	looked(1) // woken too, and still behind rank 0
	q.end(2)  // ranked after "second": no change for it
	looked(1)
	q.end(0)
	if w := <-waited; w != "second" {
		t.Fatalf("got %s, want second", w)
	}
	select {
	case r := <-waiting:
		t.Errorf("a wait of rank %d looked again after all went on", r)
	default: // all waits have returned: nothing more can come
	}
}

// stalledLayer's blob stops after cut bytes until release closes.
type stalledLayer struct {
	v1.Layer
	cut     int64
	release chan struct{}
}

func (l *stalledLayer) Compressed() (io.ReadCloser, error) {
	rc, err := l.Layer.Compressed()
	if err != nil {
		return nil, err
	}
	wait := readerFunc(func([]byte) (int, error) { <-l.release; return 0, io.EOF })
	return struct {
		io.Reader
		io.Closer
	}{io.MultiReader(io.LimitReader(rc, l.cut), wait, rc), rc}, nil
}

type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }

// recordHandler sends the records of one event to a channel.
type recordHandler struct {
	event string
	got   chan<- slog.Record
}

func (h recordHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h recordHandler) Handle(_ context.Context, r slog.Record) error {
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == progress.Event && a.Value.String() == h.event {
			h.got <- r.Clone()
		}
		return true
	})
	return nil
}
func (h recordHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h recordHandler) WithGroup(string) slog.Handler      { return h }

// A download that takes long says how far it is, bytes of the total.
func TestLongPullReportsProgress(t *testing.T) {
	l, _ := testLayer(t, 8)
	size, err := l.Size()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM scratch\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	got := make(chan slog.Record, 16)
	cfg := testConfig(t, dir)
	cfg.Log = slog.New(recordHandler{event: "pull", got: got})
	b := New(cfg)
	sl := &stalledLayer{Layer: l, cut: size / 2, release: make(chan struct{})}
	lf := b.fetchLayers(context.Background(), "example/base", []v1.Layer{sl})
	r := <-got // after progressEvery, the download still stalled
	close(sl.release)
	if err := lf.extract(t.TempDir(), nil, nil); err != nil {
		t.Fatal(err)
	}
	b.Close()
	want := fmt.Sprintf("  pulling example/base: %.1f of %.1f MB", float64(size/2)/1e6, float64(size)/1e6)
	if r.Message != want {
		t.Errorf("got %q, want %q", r.Message, want)
	}
}

// A base whose layer holds a hostile entry is refused, the error naming
// the image, the layer's digest and the entry.
func TestHostileBaseLayerNamed(t *testing.T) {
	good, _ := testLayer(t, 1)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(&tar.Header{Name: ".wh..", Typeflag: tar.TypeReg, Mode: 0o644}); err != nil {
		t.Fatal(err)
	}
	tw.Close()
	data := buf.Bytes()
	bad, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil })
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Layer(bad); err != nil {
		t.Fatal(err)
	}
	img, err := mutate.AppendLayers(empty.Image, good, bad)
	if err != nil {
		t.Fatal(err)
	}
	d, err := bad.Digest()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM scratch\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	err = New(testConfig(t, dir)).extract(context.Background(), "registry.test/hostile:1", img, root, nil, 0, nil)
	want := fmt.Sprintf(`registry.test/hostile:1, layer %s: entry ".wh..": a whiteout of "."`, d)
	if err == nil || err.Error() != want {
		t.Fatalf("got %v\nwant %s", err, want)
	}
	if _, err := os.Stat(filepath.Join(root, "d", "f000")); err != nil {
		t.Errorf("the good layer's file is gone: %v", err)
	}
}
