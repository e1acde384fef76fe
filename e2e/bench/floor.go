//go:build linux

package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// exportFilesystems writes the flattened filesystem of the image at ref
// to full/, and that of only the layers the build added on top of base to
// added/: the floors tar the first (the brief) and the second (the least a
// builder must compress: the base's layers are already compressed).
func exportFilesystems(ctx context.Context, ref, base, full, added string) error {
	img, err := pull(ctx, ref)
	if err != nil {
		return err
	}
	baseImg, err := pull(ctx, base)
	if err != nil {
		return err
	}
	layers, err := img.Layers()
	if err != nil {
		return err
	}
	baseLayers, err := baseImg.Layers()
	if err != nil {
		return err
	}
	if len(baseLayers) > len(layers) {
		return fmt.Errorf("%s has fewer layers than its base %s", ref, base)
	}
	top, err := mutate.AppendLayers(empty.Image, layers[len(baseLayers):]...)
	if err != nil {
		return err
	}
	if err := untar(mutate.Extract(img), full); err != nil {
		return err
	}
	return untar(mutate.Extract(top), added)
}

func pull(ctx context.Context, ref string) (v1.Image, error) {
	r, err := name.ParseReference(ref)
	if err != nil {
		return nil, err
	}
	img, err := remote.Image(r, remote.WithContext(ctx))
	if err != nil {
		return nil, fmt.Errorf("pulling %s: %w", ref, err)
	}
	return img, nil
}

// untar extracts a tar stream into dir with GNU tar, as root: owners,
// modes and device files as recorded.
func untar(rc io.ReadCloser, dir string) error {
	defer rc.Close()
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	cmd := exec.Command("tar", "-x", "-p", "--numeric-owner", "--xattrs", "-C", dir, "-f", "-")
	cmd.Stdin = rc
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("extracting into %s: %w\n%s", dir, err, out)
	}
	return nil
}

// floorScript is the floor of the directory $1: what a builder must at
// least do to make a layer of it. It tars it, compresses the tar at the
// bench's level on all cores (pigz -1), and computes the two digests a
// layer has, the sha256 of the compressed blob and that of the tar (its
// diff ID): tee hands the tar to a second sha256sum through fd 3. The
// shell waits for every process of both pipelines, so the time covers
// both digests; pipefail makes a failure anywhere fail the floor.
var floorScript = fmt.Sprintf(`set -o pipefail; { tar -C "$1" -cf - . | tee /dev/fd/3 | pigz -%d | sha256sum >/dev/null; } 3>&1 | sha256sum >/dev/null`, benchLevel)

// floorCommand is the floor of dir (floorScript).
func floorCommand(dir string) []string {
	return []string{"bash", "-c", floorScript, "floor", dir}
}

// floorShown is floorScript as the notes and the README show it, DIR for
// the directory.
func floorShown() string {
	return strings.ReplaceAll(floorScript, `"$1"`, "DIR")
}
