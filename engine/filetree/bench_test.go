package filetree

import (
	"archive/tar"
	"bufio"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/klauspost/pgzip"
)

// Benchmarks of applying a layer, as a pull does for each base layer
// (a regression guard; `make bench` times whole builds):
//
//	go test -run '^$' -bench . -benchtime 3x ./engine/filetree

// benchLayer writes a layer tar of n text files of size bytes in 100
// directories to a file, gzip-compressed (pgzip, as the engine reads
// layers) when gz is set.
func benchLayer(b *testing.B, n, size int, gz bool) string {
	b.Helper()
	p := filepath.Join(b.TempDir(), "layer.tar")
	f, err := os.Create(p)
	if err != nil {
		b.Fatal(err)
	}
	var w io.Writer = f
	var zw *pgzip.Writer
	if gz {
		zw = pgzip.NewWriter(f)
		w = zw
	}
	tw := tar.NewWriter(w)
	mtime := time.Unix(1577836800, 0)
	const alphabet = "abcdefghijklmnopqrstuvwxyz     \n"
	body := make([]byte, size)
	for i := 0; i < n; i++ {
		dir := fmt.Sprintf("d%03d/", i%100)
		if i < 100 {
			if err := tw.WriteHeader(&tar.Header{Name: dir, Typeflag: tar.TypeDir, Mode: 0o755, ModTime: mtime}); err != nil {
				b.Fatal(err)
			}
		}
		rng := rand.New(rand.NewPCG(uint64(i), 2))
		for j := range body {
			body[j] = alphabet[rng.IntN(len(alphabet))]
		}
		hdr := &tar.Header{Name: dir + fmt.Sprintf("f%05d", i), Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(size), ModTime: mtime, Uid: 1000, Gid: 1000}
		if err := tw.WriteHeader(hdr); err != nil {
			b.Fatal(err)
		}
		if _, err := tw.Write(body); err != nil {
			b.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		b.Fatal(err)
	}
	if zw != nil {
		if err := zw.Close(); err != nil {
			b.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
	return p
}

// BenchmarkExtract applies a ~200 MB layer to an empty root.
func BenchmarkExtract(b *testing.B) {
	for _, tc := range []struct {
		name        string
		files, size int
		gz          bool
	}{
		{"tar/200x1MiB", 200, 1 << 20, false},
		{"tar/20000x10KiB", 20000, 10 << 10, false},
		{"gzip/20000x10KiB", 20000, 10 << 10, true},
	} {
		b.Run(tc.name, func(b *testing.B) {
			layer := benchLayer(b, tc.files, tc.size, tc.gz)
			parent := b.TempDir()
			opt := ExtractOptions{NoChown: os.Geteuid() != 0}
			b.SetBytes(int64(tc.files * tc.size))
			i := 0
			for b.Loop() {
				b.StopTimer()
				root := filepath.Join(parent, fmt.Sprint(i))
				i++
				if err := os.Mkdir(root, 0o755); err != nil {
					b.Fatal(err)
				}
				f, err := os.Open(layer)
				if err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				var r io.Reader = bufio.NewReaderSize(f, 1<<20)
				if tc.gz {
					zr, err := pgzip.NewReader(r)
					if err != nil {
						b.Fatal(err)
					}
					r = zr
				}
				if err := Extract(root, r, opt); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				f.Close()
				if err := os.RemoveAll(root); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
		})
	}
}
