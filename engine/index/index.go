// Package index joins images built one platform each into an image index
// (a Docker manifest list with the docker format): the join step of a
// multi-platform build that a pipeline fans out per platform.
package index

import (
	"context"
	"fmt"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	ggcrremote "github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/spf13/pflag"

	"github.com/kaniko-build/kaniko-build/engine/plan"
	"github.com/kaniko-build/kaniko-build/engine/remote"
)

// Options name the images to join.
type Options struct {
	// Images are REF@DIGEST, one image per platform.
	Images []string
	// Format is oci (an OCI image index, the default) or docker (a
	// Docker manifest list).
	Format string
}

// AddFlags declares --image on fs; the format is publish's
// --image-format.
func (o *Options) AddFlags(fs *pflag.FlagSet) {
	fs.StringArrayVar(&o.Images, "image", nil, "an image to join, REF@DIGEST, one per platform (repeatable)")
}

// Join fetches each image and returns the index of them all, each under
// the platform its config names. An image given twice, two images of one
// platform, a reference without a digest, an index among them or a
// config without a platform is an error, before anything is pushed.
func Join(ctx context.Context, o Options, reg remote.Options) (v1.ImageIndex, error) {
	if len(o.Images) == 0 {
		return nil, fmt.Errorf("--image: no image to join")
	}
	mt, err := mediaType(o.Format)
	if err != nil {
		return nil, err
	}
	opts, err := reg.RemoteOptions(ctx, true)
	if err != nil {
		return nil, err
	}
	idx := mutate.IndexMediaType(empty.Index, mt)
	seen := map[string]string{} // platform or digest -> the --image that has it
	for _, ref := range o.Images {
		img, p, err := fetch(ctx, ref, reg, opts)
		if err != nil {
			return nil, err
		}
		d, err := img.Digest()
		if err != nil {
			return nil, fmt.Errorf("--image %s: %w", ref, err)
		}
		for _, key := range []string{d.String(), platformKey(p)} {
			if first, ok := seen[key]; ok {
				return nil, fmt.Errorf("--image %s: %s is already in the index, from --image %s", ref, key, first)
			}
			seen[key] = ref
		}
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{
			Add:        img,
			Descriptor: v1.Descriptor{Platform: p},
		})
	}
	return idx, nil
}

func mediaType(format string) (types.MediaType, error) {
	switch format {
	case "", "oci":
		return types.OCIImageIndex, nil
	case "docker":
		return types.DockerManifestList, nil
	}
	return "", fmt.Errorf("--image-format %q: want oci or docker", format)
}

// fetch gets the image ref names, which must be by digest and an image,
// and its platform.
func fetch(ctx context.Context, ref string, reg remote.Options, opts []ggcrremote.Option) (v1.Image, *v1.Platform, error) {
	r, err := reg.Parse(ref)
	if err != nil {
		return nil, nil, fmt.Errorf("--image %q: %w", ref, err)
	}
	if _, ok := r.(name.Digest); !ok {
		return nil, nil, fmt.Errorf("--image %s: name the image by digest (REF@sha256:...), as a build's --digest-file gives it", ref)
	}
	var img v1.Image
	var cfg *v1.ConfigFile
	err = reg.Retry(ctx, func() error {
		desc, err := ggcrremote.Get(r, opts...)
		if err != nil {
			return err
		}
		if desc.MediaType.IsIndex() {
			return fmt.Errorf("it is an index (%s), not one platform's image", desc.MediaType)
		}
		if img, err = desc.Image(); err != nil {
			return err
		}
		cfg, err = img.ConfigFile()
		return err
	})
	if err != nil {
		return nil, nil, fmt.Errorf("--image %s: %w", ref, err)
	}
	if cfg.OS == "" || cfg.Architecture == "" {
		return nil, nil, fmt.Errorf("--image %s: its config names no platform (os %q, architecture %q)", ref, cfg.OS, cfg.Architecture)
	}
	p := cfg.Platform()
	return img, p, nil
}

// platformKey is os/arch[/variant][:os.version], one per platform.
func platformKey(p *v1.Platform) string {
	s := plan.FormatPlatform(*p)
	if p.OSVersion != "" {
		s += ":" + p.OSVersion
	}
	return s
}
