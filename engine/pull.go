package engine

import (
	"context"
	"fmt"
	"io"
	"os"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/kaniko-build/kaniko-build/engine/fs"
)

// pullJobs is how many layers download at once.
const pullJobs = 3

// extract applies img's layers to root in order. Layers download in
// parallel (each retried as a whole when the connection drops) while
// earlier ones are being extracted.
func (b *builder) extract(ctx context.Context, img v1.Image, root string, skip func(string) bool) error {
	layers, err := img.Layers()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type result struct {
		path string
		err  error
	}
	results := make([]chan result, len(layers))
	sem := make(chan struct{}, pullJobs)
	for i, l := range layers {
		results[i] = make(chan result, 1)
		go func() {
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				results[i] <- result{err: ctx.Err()}
				return
			}
			defer func() { <-sem }()
			p, err := b.downloadLayer(ctx, l)
			results[i] <- result{p, err}
		}()
	}
	var firstErr error
	for i := range layers {
		r := <-results[i]
		if firstErr == nil {
			firstErr = r.err
			if firstErr == nil {
				firstErr = extractFile(r.path, root, skip)
			}
			if firstErr != nil {
				cancel()
			}
		}
		if r.path != "" {
			os.Remove(r.path)
		}
	}
	return firstErr
}

// downloadLayer copies a layer's compressed blob into a file; the registry
// reader checks the digest at the end.
func (b *builder) downloadLayer(ctx context.Context, l v1.Layer) (string, error) {
	f, err := os.CreateTemp(b.tmp, "pull-")
	if err != nil {
		return "", err
	}
	defer f.Close()
	err = b.remote.Retry(ctx, func() error {
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
		_, err = io.Copy(f, rc)
		return err
	})
	if err != nil {
		os.Remove(f.Name())
		d, _ := l.Digest()
		return "", fmt.Errorf("downloading layer %s: %w", d, err)
	}
	return f.Name(), nil
}

// extractFile applies a layer file, compressed or plain tar.
func extractFile(p, root string, skip func(string) bool) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	r, err := fs.Decompress(f)
	if err != nil {
		return fmt.Errorf("reading layer: %w", err)
	}
	defer r.Close()
	return fs.Extract(root, r, fs.ExtractOptions{Ignore: skip})
}
