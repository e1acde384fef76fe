// Package publish sends a built image where the options say: registries,
// a tarball, an OCI layout, and the files that name its digest.
package publish

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/kaniko-build/kaniko-build/engine/progress"
	"github.com/kaniko-build/kaniko-build/engine/remote"
)

// Write pushes img (after what up sent while it was built; nil for
// nothing) and writes the requested files, the digest files last. It
// returns name@digest per destination pushed to, and logs each push and
// each immutable tag kept to log.
func Write(ctx context.Context, img v1.Image, o Options, reg remote.Options, up *remote.Uploader, log *slog.Logger) ([]string, error) {
	if err := o.writeTar(img); err != nil {
		return nil, err
	}
	if err := o.writeLayout(func(p layout.Path) error { return p.AppendImage(img) }); err != nil {
		return nil, err
	}
	return o.publish(ctx, img, reg, log, func(refs []string) error { return reg.PushAfter(ctx, up, img, refs) })
}

// WriteIndex pushes idx, an image index whose images are in the
// registry, and writes the requested files as Write does.
func WriteIndex(ctx context.Context, idx v1.ImageIndex, o Options, reg remote.Options, log *slog.Logger) ([]string, error) {
	if o.TarPath != "" {
		return nil, fmt.Errorf("--tar-path holds one image, not an index: use --oci-layout-path")
	}
	if err := o.writeLayout(func(p layout.Path) error { return p.AppendIndex(idx) }); err != nil {
		return nil, err
	}
	return o.publish(ctx, idx, reg, log, func(refs []string) error { return reg.Push(ctx, idx, refs) })
}

// publish pushes m with push and writes the result files.
func (o Options) publish(ctx context.Context, m remote.Manifest, reg remote.Options, log *slog.Logger, push func(refs []string) error) ([]string, error) {
	digest, err := m.Digest()
	if err != nil {
		return nil, fmt.Errorf("computing digest: %w", err)
	}
	var pushed, names, withDigest, withTag []string
	var outputs bytes.Buffer // $BUILDER_OUTPUT/images
	for _, d := range o.Destinations {
		r, err := reg.Parse(d)
		if err != nil {
			return nil, err
		}
		withDigest = append(withDigest, r.Context().Name()+"@"+digest.String())
		if o.ByDigest {
			names = append(names, r.Context().Name())
			withTag = append(withTag, r.Context().Name()+"@"+digest.String())
			continue
		}
		names = append(names, r.Name())
		withTag = append(withTag, r.Name()+"@"+digest.String())
	}
	if !o.NoPush {
		// For a build, the uploader sent the layers while it went on:
		// the config and the manifest are all that is left, but for
		// destinations elsewhere or an early upload that failed.
		refs := o.Destinations
		if o.ByDigest {
			refs = withDigest
		}
		kept, err := o.push(push, refs, log)
		if err != nil {
			return nil, err
		}
		for i, d := range o.Destinations {
			if !kept[refs[i]] {
				pushed = append(pushed, withDigest[i])
				line, err := json.Marshal(map[string]string{"name": names[i], "digest": digest.String()})
				if err != nil {
					return nil, err
				}
				outputs.Write(append(line, '\n'))
				log.Info(fmt.Sprintf("pushed %s@%s", d, digest), progress.Event, "pushed", "destination", d, "digest", digest.String())
			}
		}
	}
	url := ""
	if len(o.Destinations) > 0 {
		url = o.Destinations[0]
	}
	files := []struct{ path, content string }{
		{o.DigestFile, digest.String()},
		{o.ImageURLFile, url},
		{o.ImagesFile, strings.Join(withTag, "\n")},
		{o.ImageNameDigestFile, strings.Join(withDigest, "\n")},
		{o.ImageNameTagDigestFile, strings.Join(withTag, "\n")},
	}
	if o.BuilderOutput != "" && !o.NoPush {
		files = append(files, struct{ path, content string }{filepath.Join(o.BuilderOutput, "images"), outputs.String()})
	}
	for _, f := range files {
		if f.path == "" {
			continue
		}
		if err := os.WriteFile(f.path, []byte(f.content), 0o644); err != nil {
			return nil, fmt.Errorf("writing %s: %w", f.path, err)
		}
	}
	return pushed, nil
}

// push pushes to refs; with KeepImmutableTags one by one, so
// that an immutable tag stops none of the others. It returns the
// immutable tags kept.
func (o Options) push(push func(refs []string) error, refs []string, log *slog.Logger) (map[string]bool, error) {
	if !o.KeepImmutableTags {
		return nil, push(refs)
	}
	kept := map[string]bool{}
	for _, d := range refs {
		err := push([]string{d})
		if remote.IsImmutableTag(err) {
			log.Warn(fmt.Sprintf("kept %s: the registry says the tag is immutable (--push-ignore-immutable-tag-errors)", d),
				"destination", d, "err", err)
			kept[d] = true
			continue
		}
		if err != nil {
			return nil, err
		}
	}
	return kept, nil
}

// writeTar writes --tar-path, tagged as the first destination.
func (o Options) writeTar(img v1.Image) error {
	if o.TarPath == "" {
		return nil
	}
	ref := "image:latest"
	if len(o.Destinations) > 0 {
		ref = o.Destinations[0]
	}
	tag, err := name.ParseReference(ref)
	if err != nil {
		return fmt.Errorf("--tar-path: %w", err)
	}
	if err := tarball.WriteToFile(o.TarPath, tag, img); err != nil {
		return fmt.Errorf("writing --tar-path %s: %w", o.TarPath, err)
	}
	return nil
}

// writeLayout adds to --oci-layout-path, made if missing, with add.
func (o Options) writeLayout(add func(layout.Path) error) error {
	if o.OCILayoutPath == "" {
		return nil
	}
	p, err := layout.FromPath(o.OCILayoutPath)
	if err != nil {
		if p, err = layout.Write(o.OCILayoutPath, empty.Index); err != nil {
			return fmt.Errorf("writing --oci-layout-path: %w", err)
		}
	}
	if err := add(p); err != nil {
		return fmt.Errorf("writing --oci-layout-path: %w", err)
	}
	return nil
}
