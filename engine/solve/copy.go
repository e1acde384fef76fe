package solve

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/moby/patternmatcher"

	"github.com/kaniko-build/kaniko-build/engine/filetree"
	"github.com/kaniko-build/kaniko-build/engine/plan"
	"github.com/kaniko-build/kaniko-build/engine/user"
)

// source is where COPY reads from: the context or another root.
type source struct {
	root      string
	isContext bool
}

func (b *Solver) copySource(ctx context.Context, s *stage, from string) (source, error) {
	if from == "" {
		return source{root: b.cfg.Context.Dir, isContext: true}, nil
	}
	if j, ok := b.cfg.Plan.StageIndex(from); ok {
		st, err := b.builtStage(ctx, s.index, j)
		if err != nil {
			return source{}, err
		}
		if err := b.materialize(ctx, st); err != nil {
			return source{}, err
		}
		return source{root: st.root}, nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if root, ok := b.images[from]; ok {
		return source{root: root}, nil
	}
	img, err := b.cfg.Registry.Pull(ctx, from, b.cfg.Plan.Platform)
	if err != nil {
		return source{}, err
	}
	root := filepath.Join(b.cfg.TempDir, fmt.Sprintf("image-%d", len(b.images)))
	if err := os.MkdirAll(root, 0o755); err != nil {
		return source{}, err
	}
	if err := b.extract(ctx, img, root, nil, b.rank(s)); err != nil {
		return source{}, fmt.Errorf("extracting %s: %w", from, err)
	}
	b.images[from] = root
	return source{root: root}, nil
}

func hasWildcard(p string) bool { return strings.ContainsAny(p, "*?[") }

func isURL(s string) bool {
	return strings.HasPrefix(s, "http://") || strings.HasPrefix(s, "https://")
}

// copyDest is where c copies to, and whether that names a directory.
func copyDest(s *stage, c *plan.Copy) (string, bool) {
	dest := c.DestPath
	wd := s.cfg.Config.WorkingDir
	if wd == "" {
		wd = "/"
	}
	destIsDir := strings.HasSuffix(dest, "/") || dest == "." || strings.HasSuffix(dest, "/.")
	if !path.IsAbs(dest) {
		dest = path.Join(wd, dest)
	}
	return path.Clean(dest), destIsDir
}

func (b *Solver) dispatchCopy(ctx context.Context, s *stage, c *plan.Copy) error {
	name := "COPY"
	if c.Add {
		name = "ADD"
	}
	if dest, _ := copyDest(s, c); len(s.pending) > 0 {
		if err := b.landIfTouched(s, c, dest); err != nil {
			return fmt.Errorf("%s failed: %w", name, err)
		}
	}
	src, err := b.copySource(ctx, s, c.From)
	if err != nil {
		return err
	}
	opt := filetree.CopyOptions{}
	if b.cfg.Root.Ignored != nil && !s.aside {
		opt.Refuse = b.cfg.Root.Ignored.Covers
	}
	if src.isContext {
		opt.Owner = &filetree.Owner{}
	}
	if c.Chown != "" {
		uid, gid, err := user.ResolveChown(s.root, c.Chown)
		if err != nil {
			return fmt.Errorf("--chown=%s: %w", c.Chown, err)
		}
		opt.Owner = &filetree.Owner{UID: int(uid), GID: int(gid)}
		opt.DirOwner = opt.Owner
	}
	if c.Chmod != "" {
		if opt.Chmod, err = filetree.ParseChmod(c.Chmod); err != nil {
			return fmt.Errorf("--chmod=%s: %w", c.Chmod, err)
		}
		// A numeric mode is also the directories' the copy makes (not a
		// symbolic one), as in BuildKit.
		if n, err := strconv.ParseUint(c.Chmod, 8, 32); err == nil {
			opt.DirMode = os.FileMode(n).Perm()
		}
	}
	var exclude *patternmatcher.PatternMatcher
	if len(c.Excludes) > 0 {
		if exclude, err = patternmatcher.New(c.Excludes); err != nil {
			return fmt.Errorf("--exclude: %w", err)
		}
	}

	dest, destIsDir := copyDest(s, c)

	// Expand sources: each is a host path plus its path in the source.
	type match struct{ host, rel, pivot string }
	var matches []match
	for _, p := range c.SourcePaths {
		if c.Add && isURL(p) {
			host, err := b.download(ctx, p, c.Checksum)
			if err != nil {
				return err
			}
			matches = append(matches, match{host, "", ""})
			continue
		}
		rel := strings.TrimPrefix(filetree.Clean(p), "/")
		if hasWildcard(p) {
			found, err := glob(src.root, rel)
			if err != nil {
				return err
			}
			n := 0
			for _, r := range found {
				if src.isContext && b.cfg.Context.Excluded(r) {
					continue
				}
				host, err := filetree.Resolve(src.root, r, true)
				if err != nil {
					return err
				}
				matches = append(matches, match{host, r, pivot(p)})
				n++
			}
			if n == 0 {
				return fmt.Errorf("%s failed: no source files were specified matching %q", name, p)
			}
			continue
		}
		host, err := filetree.Resolve(src.root, rel, true)
		if err != nil {
			return err
		}
		if _, err := os.Lstat(host); err != nil || (src.isContext && b.cfg.Context.Excluded(rel) && !b.cfg.Context.HasExceptions()) {
			where := "build context"
			if !src.isContext {
				where = "stage or image " + c.From
			}
			return fmt.Errorf("%s failed: file not found in %s or excluded by .dockerignore: %s", name, where, p)
		}
		matches = append(matches, match{host, rel, pivot(p)})
	}
	if len(matches)+len(c.SourceContents) > 1 && !destIsDir {
		return fmt.Errorf("when using %s with more than one source file, the destination must be a directory and end with a /", name)
	}
	if len(matches) != 1 && len(s.pending) > 0 {
		if err := b.land(s); err != nil { // it copies for real
			return fmt.Errorf("%s failed: %w", name, err)
		}
	}

	// .dockerignore matches paths in the context; --exclude matches paths
	// in the directory being copied.
	excluded := func(dir, rel string) bool {
		if src.isContext && b.cfg.Context.Excluded(rel) {
			return true
		}
		if exclude != nil {
			ok, _ := exclude.MatchesOrParentMatches(strings.TrimPrefix(strings.TrimPrefix(rel, dir), "/"))
			return ok
		}
		return false
	}
	opt.HasExceptions = (src.isContext && b.cfg.Context.HasExceptions()) || (exclude != nil && exclude.Exclusions())
	for _, m := range matches {
		fi, err := os.Stat(m.host)
		if err != nil {
			return fmt.Errorf("%s failed: %w", name, err)
		}
		target := dest
		if c.Parents && m.rel != "" {
			target = path.Join(dest, strings.TrimPrefix(m.rel, m.pivot))
		} else if !fi.IsDir() {
			base := path.Base(m.rel)
			if m.rel == "" {
				base = filepath.Base(m.host)
			}
			if destIsDir || b.isDir(s.root, dest) {
				target = path.Join(dest, base)
			}
			// A symlink in the last element is followed, as docker and
			// BuildKit do: the file lands where it leads, dangling or not.
			if target, err = filetree.ResolvePath(s.root, target, true); err != nil {
				return fmt.Errorf("%s failed: %w", name, err)
			}
		}
		if exclude != nil && m.rel != "" && !fi.IsDir() {
			if ok, _ := exclude.MatchesOrParentMatches(m.rel); ok {
				continue
			}
		}
		if c.Add && !fi.IsDir() && c.Unpack && m.rel != "" {
			ok, err := b.unpack(m.host, s.root, dest, opt)
			if err != nil {
				return fmt.Errorf("%s failed: %w", name, err)
			}
			if ok {
				continue
			}
		}
		o := opt
		if fi.IsDir() {
			dir := m.rel
			o.Exclude = func(r string) bool { return excluded(dir, r) }
		}
		if m.rel == "" && c.Add { // downloaded: 0600 unless --chmod
			if o.Chmod == nil {
				o.Chmod = func(os.FileMode, bool) os.FileMode { return 0o600 }
			}
			if o.Owner == nil {
				o.Owner = &filetree.Owner{}
			}
		}
		if len(matches) == 1 && b.layerOnlyCopy(s, c) {
			done, err := b.copyLayerOnly(s, m.host, m.rel, target, o, c.History)
			if err != nil {
				return fmt.Errorf("%s failed: %w", name, err)
			}
			if done {
				return nil
			}
			if len(s.pending) > 0 {
				if err := b.land(s); err != nil {
					return fmt.Errorf("%s failed: %w", name, err)
				}
			}
		}
		if err := filetree.Copy(m.host, m.rel, s.root, target, o); err != nil {
			return fmt.Errorf("%s failed: %w", name, err)
		}
	}
	for _, sc := range c.SourceContents {
		target := path.Join(dest, sc.Path)
		if !destIsDir && len(c.SourceContents) == 1 && len(matches) == 0 {
			target = dest
		}
		if err := b.writeInline(s, target, sc.Data, opt); err != nil {
			return fmt.Errorf("%s failed: %w", name, err)
		}
	}
	return b.commit(s, c.History)
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

func (b *Solver) isDir(root, p string) bool {
	host, err := filetree.Resolve(root, p, true)
	if err != nil {
		return false
	}
	fi, err := os.Stat(host)
	return err == nil && fi.IsDir()
}

func (b *Solver) writeInline(s *stage, target, data string, opt filetree.CopyOptions) error {
	tmp, err := os.CreateTemp(b.cfg.TempDir, "inline-")
	if err != nil {
		return err
	}
	if _, err := tmp.WriteString(data); err != nil {
		tmp.Close()
		return err
	}
	tmp.Close()
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return err
	}
	now := time.Now()
	if s.epoch != nil {
		now = *s.epoch
	}
	_ = os.Chtimes(tmp.Name(), now, now)
	if opt.Owner == nil {
		opt.Owner = &filetree.Owner{}
	}
	return filetree.Copy(tmp.Name(), "", s.root, target, opt)
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

// unpack extracts a local tar archive (plain, gzip, bzip2, xz or zstd)
// into dest; it reports false when the file is no archive.
func (b *Solver) unpack(host, root, dest string, opt filetree.CopyOptions) (bool, error) {
	f, err := os.Open(host)
	if err != nil {
		return false, err
	}
	defer f.Close()
	r, err := filetree.Decompress(f)
	if err != nil {
		return false, nil // not an archive after all: copied as a file
	}
	defer r.Close()
	br2 := bufio.NewReaderSize(r, 1024)
	blk, err := br2.Peek(512)
	if err != nil || len(blk) < 512 || !isTarHeader(blk) {
		return false, nil
	}
	if opt.Refuse != nil && opt.Refuse(filetree.Clean(dest)) {
		return false, &filetree.RefusedError{Path: filetree.Clean(dest)}
	}
	if err := filetree.MkdirAll(root, dest, opt.DirOwner); err != nil {
		return false, err
	}
	destHost, err := filetree.Resolve(root, dest, true)
	if err != nil {
		return false, err
	}
	// --chown owns what the archive holds (as BuildKit; the legacy
	// builder kept the archive's owners); --chmod does not apply to it.
	// (DirOwner is --chown's owner, nil without it.)
	if err := filetree.Extract(destHost, br2, filetree.ExtractOptions{Owner: opt.DirOwner}); err != nil {
		return false, err
	}
	return true, nil
}

// isTarHeader checks the ustar magic or a valid old-style checksum.
func isTarHeader(b []byte) bool {
	if string(b[257:262]) == "ustar" {
		return true
	}
	var sum int64
	for i, c := range b {
		if i >= 148 && i < 156 {
			c = ' '
		}
		sum += int64(c)
	}
	s := strings.TrimRight(strings.TrimSpace(string(b[148:156])), "\x00 ")
	want, err := strconv.ParseInt(s, 8, 64)
	return err == nil && want == sum && sum != 256
}

// download fetches an ADD URL into a file named as the URL's last element.
func (b *Solver) download(ctx context.Context, raw, checksum string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("ADD %s: %w", raw, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, raw, nil)
	if err != nil {
		return "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", fmt.Errorf("ADD %s: %w", raw, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("ADD %s: %s", raw, resp.Status)
	}
	dir, err := os.MkdirTemp(b.cfg.TempDir, "download-")
	if err != nil {
		return "", err
	}
	base := path.Base(u.Path)
	if base == "/" || base == "." || base == "" {
		base = "index.html"
	}
	p := filepath.Join(dir, base)
	f, err := os.Create(p)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(f, h), resp.Body); err != nil {
		f.Close()
		return "", fmt.Errorf("ADD %s: %w", raw, err)
	}
	f.Close()
	if checksum != "" {
		got := "sha256:" + hex.EncodeToString(h.Sum(nil))
		if got != checksum {
			return "", fmt.Errorf("ADD %s: checksum mismatch: got %s, want %s", raw, got, checksum)
		}
	}
	if lm, err := http.ParseTime(resp.Header.Get("Last-Modified")); err == nil {
		_ = os.Chtimes(p, lm, lm)
	}
	return p, nil
}
