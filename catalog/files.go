package catalog

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Files maps slash-separated paths, relative to the repository root, to
// their generated content.
type Files map[string][]byte

// Add stores content at path; adding the same path twice is an error.
func (f Files) Add(path string, content []byte) error {
	if _, ok := f[path]; ok {
		return fmt.Errorf("adding file %s: already generated", path)
	}
	f[path] = content
	return nil
}

// Merge adds every file of other.
func (f Files) Merge(other Files) error {
	for _, p := range other.Paths() {
		if err := f.Add(p, other[p]); err != nil {
			return err
		}
	}
	return nil
}

// Paths returns the paths in sorted order.
func (f Files) Paths() []string {
	paths := make([]string, 0, len(f))
	for p := range f {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	return paths
}

// Write writes every file under root, creating directories as needed.
// Shell scripts (*.sh) are made executable.
func (f Files) Write(root string) error {
	for _, p := range f.Paths() {
		dst := filepath.Join(root, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return fmt.Errorf("creating directory for %s: %w", p, err)
		}
		mode := os.FileMode(0o644)
		if strings.HasSuffix(p, ".sh") {
			mode = 0o755
		}
		if err := os.WriteFile(dst, f[p], mode); err != nil {
			return fmt.Errorf("writing %s: %w", p, err)
		}
		if err := os.Chmod(dst, mode); err != nil {
			return fmt.Errorf("setting mode of %s: %w", p, err)
		}
	}
	return nil
}

// Stale compares the files with what is on disk under root and returns one
// line per path that is missing or differs. Files under the owned
// directories that are not generated are reported too, so removing an
// output from the generator removes it from the tree.
func (f Files) Stale(root string, owned ...string) ([]string, error) {
	var stale []string
	for _, p := range f.Paths() {
		got, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(p)))
		switch {
		case errors.Is(err, fs.ErrNotExist):
			stale = append(stale, p+": missing")
		case err != nil:
			return nil, fmt.Errorf("reading %s: %w", p, err)
		case !bytes.Equal(got, f[p]):
			stale = append(stale, p+": differs")
		}
	}
	extra, err := f.Extra(root, owned...)
	if err != nil {
		return nil, err
	}
	for _, p := range extra {
		stale = append(stale, p+": not generated")
	}
	return stale, nil
}

// Extra lists the files under the directories root/dirs that are not
// generated.
func (f Files) Extra(root string, dirs ...string) ([]string, error) {
	var extra []string
	for _, dir := range dirs {
		found, err := f.extraIn(root, dir)
		if err != nil {
			return nil, err
		}
		extra = append(extra, found...)
	}
	return extra, nil
}

func (f Files) extraIn(root, dir string) ([]string, error) {
	var extra []string
	base := filepath.Join(root, filepath.FromSlash(dir))
	err := filepath.WalkDir(base, func(path string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		rel, err := filepath.Rel(root, path)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if _, ok := f[rel]; !ok {
			extra = append(extra, rel)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("walking %s: %w", dir, err)
	}
	return extra, nil
}
