// Command catalog writes the generated Tekton and Argo catalog and the
// examples derived from it: `make catalog` runs it from the repository root.
//
// With -check it writes nothing and exits non-zero when the tree differs
// from what it would write.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/kaniko-build/kaniko-build/argo"
	"github.com/kaniko-build/kaniko-build/catalog"
	"github.com/kaniko-build/kaniko-build/tekton"
)

func main() {
	root := flag.String("root", ".", "repository root to write into")
	check := flag.Bool("check", false, "only report files that are stale")
	flag.Parse()
	if err := run(*root, *check); err != nil {
		fmt.Fprintln(os.Stderr, "catalog:", err)
		os.Exit(1)
	}
}

func run(root string, check bool) error {
	files, err := generate()
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

func generate() (catalog.Files, error) {
	files := catalog.Files{}
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
