package solve

import (
	"context"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/kaniko-build/kaniko-build/engine/filetree"
	"github.com/kaniko-build/kaniko-build/engine/owners"
)

// source is where COPY reads from: the context or another root.
type source struct {
	root      string
	isContext bool
	// owners keeps what root's disk cannot hold (a build without root).
	owners *owners.Table
}

// copyMatch is one source of a COPY: a host path plus its path in the
// source ("" for a download) and the prefix --parents drops.
type copyMatch struct{ host, rel, pivot string }

// copySource resolves --from: the context, a built stage's root (made
// first), or an image's files, pulled and extracted once under b.mu.
func (b *Solver) copySource(ctx context.Context, s *stage, from string) (source, error) {
	if from == "" {
		return source{root: b.cfg.Context.Dir, isContext: true}, nil
	}
	if j, ok := b.cfg.Plan.StageIndex(from); ok {
		st, err := b.stageFor(ctx, s, j)
		if err != nil {
			return source{}, err
		}
		if err := b.materialize(ctx, st); err != nil {
			return source{}, err
		}
		return source{root: st.root, owners: st.owners}, nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if src, ok := b.images[from]; ok {
		return src, nil
	}
	img, err := b.cfg.Registry.Pull(ctx, from, b.cfg.Plan.Platform)
	if err != nil {
		return source{}, err
	}
	root := filepath.Join(b.cfg.TempDir, fmt.Sprintf("image-%d", len(b.images)))
	if err := os.MkdirAll(root, 0o755); err != nil {
		return source{}, err
	}
	src := source{root: root, owners: owners.ForProcess()}
	if err := b.extract(ctx, from, img, root, nil, b.rank(s), src.owners); err != nil {
		return source{}, fmt.Errorf("extracting %s: %w", from, err)
	}
	b.images[from] = src
	return src, nil
}

func hasWildcard(p string) bool { return strings.ContainsAny(p, "*?[") }

func isURL(s string) bool {
	return strings.HasPrefix(s, "http://") || strings.HasPrefix(s, "https://")
}

// copyMatches expands the sources of cr: URLs downloaded (ADD), wildcards
// matched, plain paths checked.
func (b *Solver) copyMatches(ctx context.Context, cr *copyRun) ([]copyMatch, error) {
	var matches []copyMatch
	for _, p := range cr.c.SourcePaths {
		switch {
		case cr.c.Add && isURL(p):
			host, err := b.download(ctx, p, cr.c.Checksum)
			if err != nil {
				return nil, err
			}
			matches = append(matches, copyMatch{host, "", ""})
		case hasWildcard(p):
			found, err := b.globMatches(cr, p)
			if err != nil {
				return nil, err
			}
			matches = append(matches, found...)
		default:
			m, err := b.pathMatch(cr, p)
			if err != nil {
				return nil, err
			}
			matches = append(matches, m)
		}
	}
	return matches, nil
}

// globMatches are the paths wildcard p matches in the source, less what
// .dockerignore leaves out of the context; none is an error.
func (b *Solver) globMatches(cr *copyRun, p string) ([]copyMatch, error) {
	src := cr.src
	found, err := glob(src.root, strings.TrimPrefix(filetree.Clean(p), "/"))
	if err != nil {
		return nil, err
	}
	var out []copyMatch
	for _, r := range found {
		if src.isContext && b.cfg.Context.Excluded(r) {
			continue
		}
		host, err := filetree.Resolve(src.root, r, true)
		if err != nil {
			return nil, err
		}
		out = append(out, copyMatch{host, r, pivot(p)})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s failed: no source files were specified matching %q", cr.name, p)
	}
	return out, nil
}

// pathMatch is plain path p in the source, which must exist (and, in the
// context, not be left out by .dockerignore without exceptions).
func (b *Solver) pathMatch(cr *copyRun, p string) (copyMatch, error) {
	src := cr.src
	rel := strings.TrimPrefix(filetree.Clean(p), "/")
	host, err := filetree.Resolve(src.root, rel, true)
	if err != nil {
		return copyMatch{}, err
	}
	if _, err := os.Lstat(host); err != nil || (src.isContext && b.cfg.Context.Excluded(rel) && !b.cfg.Context.HasExceptions()) {
		where := "build context"
		if !src.isContext {
			where = "stage or image " + cr.c.From
		}
		return copyMatch{}, fmt.Errorf("%s failed: file not found in %s or excluded by .dockerignore: %s", cr.name, where, p)
	}
	return copyMatch{host, rel, pivot(p)}, nil
}

// pivot is the prefix of a source path that --parents drops: what comes
// before a "/./" marker ("a/./b/c" keeps "b/c"), else nothing.
func pivot(src string) string {
	i := strings.Index("/"+src, "/./")
	if i < 0 {
		return ""
	}
	p := strings.TrimPrefix(filetree.Clean(src[:max(i-1, 0)]), "/")
	if p == "" {
		return ""
	}
	return p + "/"
}

// glob matches a wildcard pattern inside root, element by element, without
// following symlinks out of it. Results are relative paths, sorted.
func glob(root, pattern string) ([]string, error) {
	parts := strings.Split(pattern, "/")
	cur := []string{""}
	for _, part := range parts {
		var next []string
		for _, dir := range cur {
			if !hasWildcard(part) {
				next = append(next, path.Join(dir, part))
				continue
			}
			host, err := filetree.Resolve(root, dir, true)
			if err != nil {
				return nil, err
			}
			ents, err := os.ReadDir(host)
			if err != nil {
				continue
			}
			for _, e := range ents {
				ok, err := path.Match(part, e.Name())
				if err != nil {
					return nil, fmt.Errorf("bad pattern %q: %w", pattern, err)
				}
				if ok {
					next = append(next, path.Join(dir, e.Name()))
				}
			}
		}
		cur = next
	}
	var out []string
	for _, p := range cur {
		host, err := filetree.Resolve(root, p, false)
		if err != nil {
			return nil, err
		}
		if _, err := os.Lstat(host); err == nil {
			out = append(out, p)
		}
	}
	sort.Strings(out)
	return out, nil
}
