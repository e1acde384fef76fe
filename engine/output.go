package engine

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// output pushes img and writes the requested files. Nothing is pushed
// unless the build succeeded; the digest files come last.
func (b *builder) output(ctx context.Context, img v1.Image) (*Result, error) {
	digest, err := img.Digest()
	if err != nil {
		return nil, fmt.Errorf("computing digest: %w", err)
	}
	res := &Result{Image: img, Digest: digest}
	if b.opt.Output.TarPath != "" {
		ref := "image:latest"
		if len(b.opt.Output.Destinations) > 0 {
			ref = b.opt.Output.Destinations[0]
		}
		tag, err := name.ParseReference(ref)
		if err != nil {
			return nil, fmt.Errorf("--tar-path: %w", err)
		}
		if err := tarball.WriteToFile(b.opt.Output.TarPath, tag, img); err != nil {
			return nil, fmt.Errorf("writing --tar-path %s: %w", b.opt.Output.TarPath, err)
		}
	}
	if b.opt.Output.OCILayoutPath != "" {
		p, err := layout.FromPath(b.opt.Output.OCILayoutPath)
		if err != nil {
			if p, err = layout.Write(b.opt.Output.OCILayoutPath, empty.Index); err != nil {
				return nil, fmt.Errorf("writing --oci-layout-path: %w", err)
			}
		}
		if err := p.AppendImage(img); err != nil {
			return nil, fmt.Errorf("writing --oci-layout-path: %w", err)
		}
	}
	if !b.opt.Output.NoPush {
		// The uploader sent the layers while the build went on: the
		// config and the manifest are all that is left, but for
		// destinations elsewhere or an early upload that failed.
		if err := b.remote.PushAfter(ctx, b.upload, img, b.opt.Output.Destinations); err != nil {
			return nil, err
		}
		for _, d := range b.opt.Output.Destinations {
			r, err := b.remote.Parse(d)
			if err != nil {
				return nil, err
			}
			res.Pushed = append(res.Pushed, r.Context().Name()+"@"+digest.String())
			b.printf("pushed %s@%s", d, digest)
		}
	}
	var withDigest, withTag []string
	for _, d := range b.opt.Output.Destinations {
		r, err := b.remote.Parse(d)
		if err != nil {
			return nil, err
		}
		withDigest = append(withDigest, r.Context().Name()+"@"+digest.String())
		withTag = append(withTag, r.Name()+"@"+digest.String())
	}
	url := ""
	if len(b.opt.Output.Destinations) > 0 {
		url = b.opt.Output.Destinations[0]
	}
	files := []struct{ path, content string }{
		{b.opt.Output.DigestFile, digest.String()},
		{b.opt.Output.ImageURLFile, url},
		{b.opt.Output.ImagesFile, strings.Join(withTag, "\n")},
		{b.opt.Output.ImageNameDigestFile, strings.Join(withDigest, "\n")},
		{b.opt.Output.ImageNameTagDigestFile, strings.Join(withTag, "\n")},
	}
	for _, f := range files {
		if f.path == "" {
			continue
		}
		if err := os.WriteFile(f.path, []byte(f.content), 0o644); err != nil {
			return nil, fmt.Errorf("writing %s: %w", f.path, err)
		}
	}
	return res, nil
}
