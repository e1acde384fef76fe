// Command catalog writes the generated Tekton and Argo catalog and the
// examples derived from it: `make catalog` runs it from the repository root.
// It also points the image references of the hand-written examples
// (catalog.HandWritten) and the release block of README.md at the release
// in catalog/release.json.
//
// With -check it writes nothing and exits non-zero when the tree differs
// from what it would write. With -release FILE it renders that release
// instead of catalog/release.json (make release with RELEASE_OUT: the
// rendered copy of the tree under -root).
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/kaniko-build/kaniko-build/argo"
	"github.com/kaniko-build/kaniko-build/catalog"
	"github.com/kaniko-build/kaniko-build/tekton"
)

func main() {
	root := flag.String("root", ".", "repository root to write into")
	check := flag.Bool("check", false, "only report files that are stale")
	release := flag.String("release", "", "render this release.json instead of catalog/release.json")
	flag.Parse()
	if err := run(*root, *release, *check); err != nil {
		fmt.Fprintln(os.Stderr, "catalog:", err)
		os.Exit(1)
	}
}

func run(root, release string, check bool) error {
	if release != "" {
		b, err := os.ReadFile(release)
		if err != nil {
			return err
		}
		r, err := catalog.ParseRelease(b)
		if err != nil {
			return fmt.Errorf("%s: %w", release, err)
		}
		catalog.Use(r)
	}
	files, err := generate(root)
	if err != nil {
		return err
	}
	owned := append(tekton.OwnedDirs(), argo.OwnedDirs()...)
	if !check {
		if err := removeStale(files, root, owned); err != nil {
			return err
		}
		return files.Write(root)
	}
	stale, err := files.Stale(root, owned...)
	if err != nil {
		return err
	}
	for _, s := range stale {
		fmt.Println(s)
	}
	if len(stale) > 0 {
		return fmt.Errorf("checking catalog: %d stale files; run `make catalog`", len(stale))
	}
	return nil
}

func generate(root string) (catalog.Files, error) {
	files, err := handWritten(root)
	if err != nil {
		return nil, err
	}
	t, err := tekton.Files()
	if err != nil {
		return nil, fmt.Errorf("generating Tekton catalog: %w", err)
	}
	a, err := argo.Files()
	if err != nil {
		return nil, fmt.Errorf("generating Argo catalog: %w", err)
	}
	if err := files.Merge(t); err != nil {
		return nil, err
	}
	return files, files.Merge(a)
}

// handWritten renders the image references of the hand-written examples and
// the release block of README.md, as they are under root.
func handWritten(root string) (catalog.Files, error) {
	files := catalog.Files{}
	r := catalog.Current()
	for _, p := range append([]string{"README.md"}, catalog.HandWritten...) {
		b, err := os.ReadFile(filepath.Join(root, p))
		if err != nil {
			return nil, err
		}
		if p == "README.md" {
			b, err = catalog.RenderREADME(b, r)
		} else {
			b, err = catalog.RenderImages(p, b, r)
		}
		if err != nil {
			return nil, err
		}
		if err := files.Add(p, b); err != nil {
			return nil, err
		}
	}
	return files, nil
}

// removeStale deletes files in the owned directories that the generator no
// longer writes.
func removeStale(files catalog.Files, root string, owned []string) error {
	paths, err := files.Extra(root, owned...)
	if err != nil {
		return err
	}
	for _, p := range paths {
		if err := os.Remove(root + "/" + p); err != nil {
			return fmt.Errorf("removing %s: %w", p, err)
		}
	}
	return nil
}
