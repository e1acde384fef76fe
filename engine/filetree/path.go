// Package filetree applies layers to a root directory and resolves paths inside
// it without ever leaving it.
package filetree

import (
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"
)

const maxSymlinks = 255

// Clean returns p as a clean absolute in-image path ("/a/b").
func Clean(p string) string {
	return path.Clean("/" + filepath.ToSlash(p))
}

// Resolve maps the in-image path p to a host path under root. Symlinks met
// on the way are followed as if root were "/", so the result never leaves
// root. The last element is followed only when followLast is set. Missing
// elements are allowed: the rest of the path is joined as is.
func Resolve(root, p string, followLast bool) (string, error) {
	r, err := ResolvePath(root, p, followLast)
	if err != nil {
		return "", err
	}
	return join(filepath.Clean(root), r), nil
}

// ResolvePath is Resolve's result as an in-image path: where p leads
// under root, symlinks followed.
func ResolvePath(root, p string, followLast bool) (string, error) {
	root = filepath.Clean(root)
	rest := strings.Split(strings.TrimPrefix(Clean(p), "/"), "/")
	cur := "/"
	links := 0
	for len(rest) > 0 {
		name := rest[0]
		rest = rest[1:]
		if name == "" || name == "." {
			continue
		}
		if name == ".." {
			cur = path.Dir(cur)
			continue
		}
		next := path.Join(cur, name)
		if len(rest) == 0 && !followLast {
			cur = next
			break
		}
		host := join(root, next)
		fi, err := os.Lstat(host)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
				cur = path.Join(append([]string{next}, rest...)...)
				rest = nil
				break
			}
			return "", fmt.Errorf("resolving %s: %w", p, err)
		}
		if fi.Mode()&os.ModeSymlink == 0 {
			cur = next
			continue
		}
		links++
		if links > maxSymlinks {
			return "", fmt.Errorf("resolving %s: too many symlinks", p)
		}
		target, err := os.Readlink(host)
		if err != nil {
			return "", fmt.Errorf("resolving %s: %w", p, err)
		}
		target = filepath.ToSlash(target)
		if path.IsAbs(target) {
			cur = "/"
		}
		rest = append(strings.Split(target, "/"), rest...)
	}
	return Clean(cur), nil
}

// join appends a clean absolute in-image path to root.
func join(root, p string) string {
	if p == "/" {
		return root
	}
	if root == "/" {
		return filepath.FromSlash(p)
	}
	return root + filepath.FromSlash(p)
}

// ResolveParent resolves the directory of p (following symlinks) and joins
// its last element unresolved: the host path where an entry named p goes.
func ResolveParent(root, p string) (string, error) {
	p = Clean(p)
	if p == "/" {
		return filepath.Clean(root), nil
	}
	dir, err := Resolve(root, path.Dir(p), true)
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, path.Base(p)), nil
}
