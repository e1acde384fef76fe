package image

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/google/go-containerregistry/pkg/v1/validate"
	"github.com/klauspost/compress/zstd"
)

// testTar is a tar of n files of about size bytes each: words from a small
// vocabulary (compressible, so that levels differ), always the same bytes.
func testTar(t testing.TB, n, size int) []byte {
	t.Helper()
	rng := rand.New(rand.NewPCG(1, 2))
	words := []string{"layer", "image", "build", "kaniko", "registry", "digest", "config", "manifest", "tar", "gzip", "zstd", "blob"}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(&tar.Header{Name: "data/", Typeflag: tar.TypeDir, Mode: 0o755, ModTime: time.Unix(1, 0)}); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		var body bytes.Buffer
		for body.Len() < size {
			body.WriteString(words[rng.IntN(len(words))])
			body.WriteByte(" \n"[rng.IntN(2)])
		}
		h := &tar.Header{Name: fmt.Sprintf("data/f%03d", i), Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(body.Len()), ModTime: time.Unix(1, 0)}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(body.Bytes()); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// writeChunks writes b in pieces of uneven sizes, as a tar writer does.
func writeChunks(b []byte) func(io.Writer) error {
	return func(w io.Writer) error {
		for i, n := 0, 1; i < len(b); i, n = i+n, n*3+1 {
			end := min(i+n, len(b))
			if _, err := w.Write(b[i:end]); err != nil {
				return err
			}
		}
		return nil
	}
}

func sha(b []byte) v1.Hash {
	s := sha256.Sum256(b)
	return v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(s[:])}
}

func readAll(t *testing.T, open func() (io.ReadCloser, error)) []byte {
	t.Helper()
	rc, err := open()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	if err := rc.Close(); err != nil {
		t.Fatal(err)
	}
	return b
}

// checkLayer checks a layer's Digest, DiffID and Size against its bytes:
// validate.Layer for gzip; for zstd, which validate.Layer cannot read (it
// gunzips whatever the media type), the same checks by hand.
func checkLayer(t *testing.T, l v1.Layer) {
	t.Helper()
	mt, err := l.MediaType()
	if err != nil {
		t.Fatal(err)
	}
	if mt != types.OCILayerZStd {
		if err := validate.Layer(l); err != nil {
			t.Errorf("validate.Layer: %v", err)
		}
		return
	}
	compressed := readAll(t, l.Compressed)
	zr, err := zstd.NewReader(bytes.NewReader(compressed))
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	unzstd, err := io.ReadAll(zr)
	if err != nil {
		t.Fatalf("decoding zstd: %v", err)
	}
	digest, _ := l.Digest()
	diffID, _ := l.DiffID()
	size, _ := l.Size()
	if want := sha(compressed); digest != want {
		t.Errorf("Digest() = %s, SHA256(Compressed()) = %s", digest, want)
	}
	if size != int64(len(compressed)) {
		t.Errorf("Size() = %d, len(Compressed()) = %d", size, len(compressed))
	}
	if want := sha(unzstd); diffID != want {
		t.Errorf("DiffID() = %s, SHA256(unzstd(Compressed())) = %s", diffID, want)
	}
	if want := sha(readAll(t, l.Uncompressed)); diffID != want {
		t.Errorf("DiffID() = %s, SHA256(Uncompressed()) = %s", diffID, want)
	}
	tr := tar.NewReader(bytes.NewReader(unzstd))
	seen := map[string]bool{}
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("reading the layer's tar: %v", err)
		}
		if seen[h.Name] {
			t.Errorf("duplicate file path: %s", h.Name)
		}
		seen[h.Name] = true
	}
}

func TestWriteLayer(t *testing.T) {
	// Over pgzip's 1 MB block, so that blocks are compressed at once and
	// joined.
	big := testTar(t, 24, 64<<10)
	data := testTar(t, 8, 16<<10)
	empty := testTar(t, 0, 0)
	for _, tc := range []struct {
		c     Compression
		level int
		data  []byte
	}{
		{Gzip, 0, big}, {Zstd, 0, big},
		{Gzip, 0, data}, {Gzip, -1, data}, {Gzip, 1, data}, {Gzip, 6, data}, {Gzip, 9, data},
		{Zstd, 0, data}, {Zstd, -3, data}, {Zstd, 1, data}, {Zstd, 3, data}, {Zstd, 7, data}, {Zstd, 19, data}, {Zstd, 22, data},
		{"", 0, data}, // no compression named: gzip
		{Gzip, 0, empty}, {Zstd, 0, empty},
		{Gzip, 0, nil}, {Zstd, 0, nil}, // write writes nothing
	} {
		name := fmt.Sprintf("%s/%d/%d bytes", tc.c, tc.level, len(tc.data))
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			mt := LayerMediaType(OCI, tc.c)
			l, err := WriteLayer(dir, tc.c, tc.level, mt, writeChunks(tc.data))
			if err != nil {
				t.Fatal(err)
			}
			checkLayer(t, l)
			if filepath.Dir(l.path) != dir {
				t.Errorf("layer file %s, want it in %s", l.path, dir)
			}
			file, err := os.ReadFile(l.path)
			if err != nil {
				t.Fatal(err)
			}
			digest, _ := l.Digest()
			diffID, _ := l.DiffID()
			size, _ := l.Size()
			if got, _ := l.MediaType(); got != mt {
				t.Errorf("MediaType() = %s, want %s", got, mt)
			}
			if digest != sha(file) || size != int64(len(file)) {
				t.Errorf("Digest, Size = %s, %d; the file's are %s, %d", digest, size, sha(file), len(file))
			}
			if diffID != sha(tc.data) {
				t.Errorf("DiffID() = %s, the written tar's is %s", diffID, sha(tc.data))
			}
			if got := readAll(t, l.Compressed); !bytes.Equal(got, file) {
				t.Errorf("Compressed() is not the file's content")
			}
			if got := readAll(t, l.Uncompressed); !bytes.Equal(got, tc.data) {
				t.Errorf("Uncompressed() is not what write wrote (%d bytes, want %d)", len(got), len(tc.data))
			}

			// The file decodes with a reader other than the one the
			// layer uses, to the bytes written.
			var plain []byte
			if tc.c == Zstd {
				if !bytes.HasPrefix(file, []byte{0x28, 0xb5, 0x2f, 0xfd}) {
					t.Fatalf("not a zstd frame: % x", file[:min(4, len(file))])
				}
				zr, err := zstd.NewReader(bytes.NewReader(file))
				if err != nil {
					t.Fatal(err)
				}
				defer zr.Close()
				plain, err = io.ReadAll(zr)
				if err != nil {
					t.Fatal(err)
				}
			} else {
				gr, err := gzip.NewReader(bytes.NewReader(file))
				if err != nil {
					t.Fatalf("not gzip: %v", err)
				}
				if plain, err = io.ReadAll(gr); err != nil {
					t.Fatal(err)
				}
			}
			if !bytes.Equal(plain, tc.data) {
				t.Errorf("the file decodes to %d bytes, not the %d written", len(plain), len(tc.data))
			}
		})
	}
}

// The level is passed on: the highest compresses this text smaller than
// the fastest, which is what 0 means.
func TestWriteLayerLevel(t *testing.T) {
	data := testTar(t, 8, 16<<10)
	for _, tc := range []struct {
		c           Compression
		fast, small int
	}{{Gzip, 1, 9}, {Zstd, 1, 19}} {
		size := func(level int) int64 {
			l, err := WriteLayer(t.TempDir(), tc.c, level, LayerMediaType(Docker, tc.c), writeChunks(data))
			if err != nil {
				t.Fatal(err)
			}
			checkLayer(t, l)
			n, _ := l.Size()
			return n
		}
		fast, small, def := size(tc.fast), size(tc.small), size(0)
		if small >= fast {
			t.Errorf("%s: level %d gave %d bytes, level %d %d: the level is not used", tc.c, tc.small, small, tc.fast, fast)
		}
		if def != fast {
			t.Errorf("%s: level 0 gave %d bytes, the fastest level %d: want the same", tc.c, def, fast)
		}
	}
}

func TestWriteLayerErrors(t *testing.T) {
	boom := errors.New("boom")
	data := testTar(t, 4, 4<<10)
	for _, tc := range []struct {
		name  string
		c     Compression
		level int
		write func(io.Writer) error
		is    error  // errors.Is when set
		want  string // in the error
	}{
		{"gzip, write fails at once", Gzip, 0, func(io.Writer) error { return boom }, boom, "boom"},
		{"zstd, write fails at once", Zstd, 0, func(io.Writer) error { return boom }, boom, "boom"},
		{"gzip, write fails half way", Gzip, 0, func(w io.Writer) error {
			w.Write(data[:len(data)/2])
			return fmt.Errorf("walking: %w", boom)
		}, boom, "walking: boom"},
		{"zstd, write fails half way", Zstd, 9, func(w io.Writer) error {
			w.Write(data[:len(data)/2])
			return fmt.Errorf("walking: %w", boom)
		}, boom, "walking: boom"},
		{"gzip level out of range", Gzip, 10, writeChunks(data), nil, "creating compressor"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			l, err := WriteLayer(dir, tc.c, tc.level, LayerMediaType(Docker, tc.c), tc.write)
			if err == nil {
				t.Fatalf("WriteLayer = %v, want an error", l)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("error %q is not %q", err, tc.is)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not say %q", err, tc.want)
			}
			// A failed layer leaves no partial file behind.
			if ents, _ := os.ReadDir(dir); len(ents) != 0 {
				t.Errorf("%d files left in the layer directory, first %s", len(ents), ents[0].Name())
			}
		})
	}
	if _, err := WriteLayer(filepath.Join(t.TempDir(), "missing"), Gzip, 0, types.DockerLayer, writeChunks(data)); err == nil || !strings.Contains(err.Error(), "creating layer file") {
		t.Errorf("WriteLayer to a missing directory: %v, want creating layer file", err)
	}
}

func TestLayerMediaType(t *testing.T) {
	for _, tc := range []struct {
		f    Format
		c    Compression
		want types.MediaType
	}{
		{Docker, Gzip, types.DockerLayer},
		{OCI, Gzip, types.OCILayer},
		// Docker's manifest has no zstd layer type: OCI's is used.
		{Docker, Zstd, types.OCILayerZStd},
		{OCI, Zstd, types.OCILayerZStd},
		{"", "", types.DockerLayer},
		{OCI, "", types.OCILayer},
	} {
		if got := LayerMediaType(tc.f, tc.c); got != tc.want {
			t.Errorf("LayerMediaType(%q, %q) = %s, want %s", tc.f, tc.c, got, tc.want)
		}
	}
}

// Opening a layer whose file is gone is an error, not a panic or an
// empty layer.
func TestFileLayerFileGone(t *testing.T) {
	for _, c := range []Compression{Gzip, Zstd} {
		l, err := WriteLayer(t.TempDir(), c, 0, LayerMediaType(OCI, c), writeChunks(testTar(t, 1, 10)))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Remove(l.path); err != nil {
			t.Fatal(err)
		}
		if rc, err := l.Compressed(); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: Compressed() = %v, %v; want ErrNotExist", c, rc, err)
		}
		if rc, err := l.Uncompressed(); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: Uncompressed() = %v, %v; want ErrNotExist", c, rc, err)
		}
	}
}
