// Package buildctx gives access to a build context directory with its
// .dockerignore applied.
package buildctx

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
)

// Context is a build context directory.
type Context struct {
	Dir     string
	matcher *patternmatcher.PatternMatcher
	// mu serialises matching: a pattern compiles itself on first use.
	mu sync.Mutex
}

// Open opens dir (a path or dir://path) as a context. Its ignore file is
// <dockerfile>.dockerignore when that exists, else .dockerignore.
func Open(dir, dockerfile string) (*Context, error) {
	dir = strings.TrimPrefix(dir, "dir://")
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("opening context %s: %w", dir, err)
	}
	fi, err := os.Stat(abs)
	if err != nil {
		return nil, fmt.Errorf("opening context: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("opening context: %s is not a directory", dir)
	}
	c := &Context{Dir: abs}
	var patterns []string
	for _, name := range []string{dockerfile + ".dockerignore", filepath.Join(abs, ".dockerignore")} {
		if name == ".dockerignore" {
			continue
		}
		dt, err := os.ReadFile(name)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", name, err)
		}
		patterns, err = ignorefile.ReadAll(bytes.NewReader(dt))
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", name, err)
		}
		break
	}
	if len(patterns) > 0 {
		m, err := patternmatcher.New(patterns)
		if err != nil {
			return nil, fmt.Errorf("parsing .dockerignore: %w", err)
		}
		c.matcher = m
	}
	return c, nil
}

// Excluded reports whether rel (slash separated, relative to the context
// root) is excluded by the ignore file.
func (c *Context) Excluded(rel string) bool {
	if c.matcher == nil {
		return false
	}
	rel = strings.TrimPrefix(filepath.ToSlash(filepath.Clean("/"+rel)), "/")
	if rel == "" {
		return false
	}
	c.mu.Lock()
	ok, err := c.matcher.MatchesOrParentMatches(rel)
	c.mu.Unlock()
	return err == nil && ok
}

// HasExceptions reports whether the ignore file has "!" patterns.
func (c *Context) HasExceptions() bool {
	return c.matcher != nil && c.matcher.Exclusions()
}
