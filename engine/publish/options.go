package publish

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/spf13/pflag"
)

// Options say where the image goes and in what form.
type Options struct {
	// Destinations are image references to push to.
	Destinations []string
	// NoPush builds without pushing.
	NoPush bool
	// ByDigest pushes the manifest by digest alone, tagging nothing; each
	// destination then names a repository (a fan-out's per-platform
	// builds, joined later by an index).
	ByDigest bool
	// SkipPushPermissionCheck skips the push check alongside the build.
	SkipPushPermissionCheck bool
	// TarPath writes the image as a docker-save tarball.
	TarPath string
	// OCILayoutPath writes the image into an OCI image layout directory.
	OCILayoutPath string
	// DigestFile receives the image digest (sha256:...), no newline.
	DigestFile string
	// ImageURLFile receives the first destination as given, no newline.
	ImageURLFile string
	// ImagesFile receives name:tag@digest per destination, one per line.
	ImagesFile string
	// ImageNameDigestFile receives repo@digest per destination.
	ImageNameDigestFile string
	// ImageNameTagDigestFile receives repo:tag@digest per destination.
	ImageNameTagDigestFile string
	// Compression is gzip (default) or zstd; a CompressionLevel of 0 or
	// less is the fastest level (Kaniko's default).
	Compression      string
	CompressionLevel int
	// ImageFormat is docker or oci; empty keeps the base image's format.
	ImageFormat string
	// BuilderOutput ($BUILDER_OUTPUT, as Kaniko reads it for Cloud Build)
	// is a directory whose file images receives one JSON object
	// {"name","digest"} per destination pushed.
	BuilderOutput string
	// KeepImmutableTags makes a registry's refusal to move an immutable
	// tag no error: the tag keeps its image (Kaniko's
	// --push-ignore-immutable-tag-errors).
	KeepImmutableTags bool
}

// AddFlags declares the output flags on fs.
func (o *Options) AddFlags(fs *pflag.FlagSet) {
	fs.StringArrayVarP(&o.Destinations, "destination", "d", nil, "image reference to push to (repeatable)")
	fs.BoolVar(&o.NoPush, "no-push", false, "build without pushing (also $KANIKO_NO_PUSH=true)")
	fs.BoolVar(&o.ByDigest, "push-by-digest", false, "push by digest alone, tagging nothing: each --destination names a repository (for per-platform builds an index joins)")
	fs.BoolVar(&o.SkipPushPermissionCheck, "skip-push-permission-check", false, "do not check push access at the start (the check runs alongside the first steps and stops the build when it fails)")
	fs.StringVar(&o.TarPath, "tar-path", "", "write the image as a tarball (docker load format) to this path")
	fs.StringVar(&o.OCILayoutPath, "oci-layout-path", "", "write the image into an OCI image layout directory")
	fs.StringVar(&o.DigestFile, "digest-file", "", "write the image digest (sha256:...) to this file")
	fs.StringVar(&o.ImageURLFile, "image-url-file", "", "write the first destination, as given, to this file (Tekton's IMAGE_URL)")
	fs.StringVar(&o.ImagesFile, "images-file", "", "write name:tag@digest of each destination, one per line, to this file (Tekton's IMAGES)")
	fs.StringVar(&o.ImageNameDigestFile, "image-name-with-digest-file", "", "write repo@digest of each destination to this file")
	fs.StringVar(&o.ImageNameTagDigestFile, "image-name-tag-with-digest-file", "", "write repo:tag@digest of each destination to this file")
	fs.StringVar(&o.Compression, "compression", "gzip", "layer compression: gzip or zstd")
	fs.IntVar(&o.CompressionLevel, "compression-level", -1, "compression level; 0 or less is the fastest (gzip 1, zstd's fastest), as Kaniko's default")
	fs.BoolVar(&o.KeepImmutableTags, "push-ignore-immutable-tag-errors", false, "when a registry refuses to move an immutable tag (ECR, Artifact Registry, Harbor), keep it and succeed")
	fs.StringVar(&o.ImageFormat, "image-format", "", "manifest format: docker or oci (default: the base image's)")
}

// Finish applies Kaniko's $KANIKO_NO_PUSH on top of --no-push, reads
// $BUILDER_OUTPUT, and checks
// what pflag cannot: the compression and format names, and that an image
// to push has a destination.
func (o *Options) Finish() error {
	if o.BuilderOutput == "" {
		o.BuilderOutput = os.Getenv("BUILDER_OUTPUT")
	}
	if v, ok := os.LookupEnv("KANIKO_NO_PUSH"); ok {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("KANIKO_NO_PUSH=%s: want true or false", v)
		}
		o.NoPush = b
	}
	switch o.Compression {
	case "", "gzip", "zstd":
	default:
		return fmt.Errorf("--compression=%s: want gzip or zstd", o.Compression)
	}
	switch o.ImageFormat {
	case "", "docker", "oci":
	default:
		return fmt.Errorf("--image-format=%s: want docker or oci", o.ImageFormat)
	}
	var dests []string
	for _, d := range o.Destinations {
		if d == "" {
			continue
		}
		if err := checkReference(d); err != nil {
			return fmt.Errorf("--destination=%s: %w", d, err)
		}
		if o.ByDigest {
			if _, err := name.NewRepository(d); err != nil {
				return fmt.Errorf("--destination=%s: --push-by-digest takes a repository, with no tag or digest", d)
			}
		}
		dests = append(dests, d)
	}
	o.Destinations = dests
	if !o.NoPush && len(o.Destinations) == 0 {
		return errors.New("--destination is required unless --no-push is given")
	}
	return nil
}

// checkReference says what is wrong with ref as an image reference, with
// the cause ggcr's ParseReference leaves out.
func checkReference(ref string) error {
	var err error
	if strings.Contains(ref, "@") {
		_, err = name.NewDigest(ref)
	} else {
		_, err = name.NewTag(ref)
	}
	return err
}
