package filetree

import (
	"bufio"
	"compress/bzip2"
	"fmt"
	"io"

	"github.com/klauspost/compress/zstd"
	"github.com/klauspost/pgzip"
	"github.com/ulikunitz/xz"
)

// Decompress reads r as gzip, bzip2, xz or zstd, told apart by their magic
// bytes; anything else is passed through as it is. Close releases the
// decompressor, not r.
func Decompress(r io.Reader) (io.ReadCloser, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	head, _ := br.Peek(6)
	switch {
	case len(head) >= 2 && head[0] == 0x1f && head[1] == 0x8b:
		gr, err := pgzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("reading gzip: %w", err)
		}
		return gr, nil
	case len(head) >= 3 && string(head[:3]) == "BZh":
		return io.NopCloser(bzip2.NewReader(br)), nil
	case len(head) >= 6 && string(head) == "\xfd7zXZ\x00":
		xr, err := xz.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("reading xz: %w", err)
		}
		return io.NopCloser(xr), nil
	case len(head) >= 4 && string(head[:4]) == "\x28\xb5\x2f\xfd":
		zr, err := zstd.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("reading zstd: %w", err)
		}
		return zr.IOReadCloser(), nil
	}
	return io.NopCloser(br), nil
}
