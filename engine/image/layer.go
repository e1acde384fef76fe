// Package image writes layers to disk and edits image configs.
package image

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"os"
	"runtime"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/klauspost/compress/zstd"
	"github.com/klauspost/pgzip"
)

// Format is the image's manifest format.
type Format string

// The formats.
const (
	Docker Format = "docker"
	OCI    Format = "oci"
)

// Compression is a layer compression.
type Compression string

// The compressions.
const (
	Gzip Compression = "gzip"
	Zstd Compression = "zstd"
)

// LayerMediaType returns the media type of a layer for the format.
func LayerMediaType(f Format, c Compression) types.MediaType {
	switch {
	case c == Zstd:
		return types.OCILayerZStd
	case f == OCI:
		return types.OCILayer
	default:
		return types.DockerLayer
	}
}

// FileLayer is a compressed layer kept in a file, with its hashes known.
type FileLayer struct {
	path        string
	digest      v1.Hash
	diffID      v1.Hash
	size        int64
	compression Compression
	mediaType   types.MediaType
}

var _ v1.Layer = (*FileLayer)(nil)

// WriteLayer streams the tar that write produces through the compressor
// into a file under dir, hashing both sides on the way: nothing is held in
// memory and nothing is read twice. A level of 0 or less is the fastest,
// Kaniko's default (it takes go-containerregistry's). On an error, from
// write or its own, no file is left in dir.
func WriteLayer(dir string, c Compression, level int, mt types.MediaType, write func(io.Writer) error) (_ *FileLayer, err error) {
	f, err := os.CreateTemp(dir, "layer-")
	if err != nil {
		return nil, fmt.Errorf("creating layer file: %w", err)
	}
	defer func() {
		f.Close()
		if err != nil {
			os.Remove(f.Name())
		}
	}()
	compressed := &countingHash{h: sha256.New()}
	out := io.MultiWriter(f, compressed)
	var zw io.WriteCloser
	switch c {
	case Zstd:
		lvl := zstd.SpeedFastest
		if level > 0 {
			lvl = zstd.EncoderLevelFromZstd(level)
		}
		zw, err = zstd.NewWriter(out, zstd.WithEncoderLevel(lvl))
	default:
		if level <= 0 {
			level = pgzip.BestSpeed
		}
		var gw *pgzip.Writer
		gw, err = pgzip.NewWriterLevel(out, level)
		if err == nil {
			err = gw.SetConcurrency(1<<20, 2*runtime.GOMAXPROCS(0))
		}
		zw = gw
	}
	if err != nil {
		return nil, fmt.Errorf("creating compressor: %w", err)
	}
	uncompressed := sha256.New()
	if err := write(io.MultiWriter(zw, uncompressed)); err != nil {
		zw.Close() // ends the compressor's goroutines
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("compressing layer: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("writing layer: %w", err)
	}
	return &FileLayer{
		path:        f.Name(),
		digest:      v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(compressed.h.Sum(nil))},
		diffID:      v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(uncompressed.Sum(nil))},
		size:        compressed.n,
		compression: c,
		mediaType:   mt,
	}, nil
}

type countingHash struct {
	h hash.Hash
	n int64
}

func (c *countingHash) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	return c.h.Write(p)
}

// Digest implements v1.Layer.
func (l *FileLayer) Digest() (v1.Hash, error) { return l.digest, nil }

// DiffID implements v1.Layer.
func (l *FileLayer) DiffID() (v1.Hash, error) { return l.diffID, nil }

// Size implements v1.Layer.
func (l *FileLayer) Size() (int64, error) { return l.size, nil }

// MediaType implements v1.Layer.
func (l *FileLayer) MediaType() (types.MediaType, error) { return l.mediaType, nil }

// Compressed implements v1.Layer.
func (l *FileLayer) Compressed() (io.ReadCloser, error) { return os.Open(l.path) }

// Uncompressed implements v1.Layer.
func (l *FileLayer) Uncompressed() (io.ReadCloser, error) {
	f, err := os.Open(l.path)
	if err != nil {
		return nil, err
	}
	if l.compression == Zstd {
		zr, err := zstd.NewReader(f)
		if err != nil {
			f.Close()
			return nil, err
		}
		return readCloser{zr.IOReadCloser(), f}, nil
	}
	gr, err := pgzip.NewReader(f)
	if err != nil {
		f.Close()
		return nil, err
	}
	return readCloser{gr, f}, nil
}

type readCloser struct {
	io.ReadCloser
	f *os.File
}

func (r readCloser) Close() error {
	r.ReadCloser.Close()
	return r.f.Close()
}
