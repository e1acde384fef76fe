package image

import (
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/kaniko-build/kaniko-build/engine/snapshot"
)

// Benchmarks of making a layer from a directory: snapshot.WriteTar
// through WriteLayer's compressor and hashes into a file, about 200 MB
// (a regression guard; `make bench` times whole builds):
//
//	go test -run '^$' -bench . -benchtime 3x ./engine/image

// benchFiles writes n files of size bytes spread over 100 directories:
// text (lines of words from a fixed 1,024-word vocabulary, gzip keeps
// about a third, like source code) or random bytes (incompressible, like
// compressed artifacts). Always the same bytes.
func benchFiles(b *testing.B, n, size int, random bool) string {
	b.Helper()
	vocab := make([]string, 1024)
	vr := rand.New(rand.NewPCG(0, 0))
	for i := range vocab {
		w := make([]byte, 2+vr.IntN(9))
		for j := range w {
			w[j] = 'a' + byte(vr.IntN(26))
		}
		vocab[i] = string(w)
	}
	root := b.TempDir()
	buf := make([]byte, 0, size+16)
	for i := 0; i < n; i++ {
		dir := filepath.Join(root, fmt.Sprintf("d%03d", i%100))
		if i < 100 {
			if err := os.Mkdir(dir, 0o755); err != nil {
				b.Fatal(err)
			}
		}
		rng := rand.New(rand.NewPCG(uint64(i), 1))
		buf = buf[:0]
		line := 0
		for len(buf) < size {
			if random {
				buf = binary.LittleEndian.AppendUint64(buf, rng.Uint64())
				continue
			}
			w := vocab[rng.IntN(len(vocab))]
			buf = append(buf, w...)
			if line += len(w) + 1; line > 72 {
				buf, line = append(buf, '\n'), 0
			} else {
				buf = append(buf, ' ')
			}
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%05d", i)), buf[:size], 0o644); err != nil {
			b.Fatal(err)
		}
	}
	return root
}

var layerCases = []struct {
	name        string
	files, size int
	random      bool
}{
	{"text/200x1MiB", 200, 1 << 20, false},
	{"text/20000x10KiB", 20000, 10 << 10, false},
	{"random/200x1MiB", 200, 1 << 20, true},
}

// BenchmarkWriteLayer is a whole layer: tar, compress, hash, write.
func BenchmarkWriteLayer(b *testing.B) {
	for _, c := range []Compression{Gzip, Zstd} {
		for _, tc := range layerCases {
			b.Run(string(c)+"/"+tc.name, func(b *testing.B) {
				root := benchFiles(b, tc.files, tc.size, tc.random)
				cur, err := snapshot.Scan(root, nil)
				if err != nil {
					b.Fatal(err)
				}
				changes := snapshot.Diff(nil, cur)
				out := b.TempDir()
				b.SetBytes(int64(tc.files * tc.size))
				var size int64
				for b.Loop() {
					l, err := WriteLayer(out, c, -1, LayerMediaType(Docker, c), func(w io.Writer) error {
						return snapshot.WriteTar(w, root, cur, changes, snapshot.TarOptions{})
					})
					if err != nil {
						b.Fatal(err)
					}
					size = l.size
					os.Remove(l.path)
				}
				b.ReportMetric(float64(size)/float64(tc.files*tc.size), "ratio")
			})
		}
	}
}

// BenchmarkWriteTar is the tar alone, into io.Discard: what WriteLayer
// costs beyond it is compression, hashing and the file.
func BenchmarkWriteTar(b *testing.B) {
	for _, tc := range layerCases {
		b.Run(tc.name, func(b *testing.B) {
			root := benchFiles(b, tc.files, tc.size, tc.random)
			cur, err := snapshot.Scan(root, nil)
			if err != nil {
				b.Fatal(err)
			}
			changes := snapshot.Diff(nil, cur)
			b.SetBytes(int64(tc.files * tc.size))
			for b.Loop() {
				if err := snapshot.WriteTar(io.Discard, root, cur, changes, snapshot.TarOptions{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
