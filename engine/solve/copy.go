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
	"strconv"
	"strings"
	"time"

	"github.com/moby/patternmatcher"

	"github.com/kaniko-build/kaniko-build/engine/filetree"
	"github.com/kaniko-build/kaniko-build/engine/plan"
	"github.com/kaniko-build/kaniko-build/engine/user"
)

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

// copyRun is one COPY or ADD under way: where it reads from, its options
// and where it copies to.
type copyRun struct {
	s         *stage
	c         *plan.Copy
	name      string // COPY or ADD, for errors
	src       source
	opt       filetree.CopyOptions
	exclude   *patternmatcher.PatternMatcher // --exclude, nil for none
	dest      string
	destIsDir bool
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
	cr := &copyRun{s: s, c: c, name: name, src: src}
	if cr.opt, cr.exclude, err = b.copyOptions(s, c, src); err != nil {
		return err
	}
	cr.dest, cr.destIsDir = copyDest(s, c)

	matches, err := b.copyMatches(ctx, cr)
	if err != nil {
		return err
	}
	if len(matches)+len(c.SourceContents) > 1 && !cr.destIsDir {
		return fmt.Errorf("when using %s with more than one source file, the destination must be a directory and end with a /", name)
	}
	if len(matches) != 1 && len(s.pending) > 0 {
		if err := b.land(s); err != nil { // it copies for real
			return fmt.Errorf("%s failed: %w", name, err)
		}
	}
	for _, m := range matches {
		done, err := b.copyOne(ctx, cr, m, len(matches) == 1)
		if err != nil {
			return err
		}
		if done {
			return nil
		}
	}
	for _, sc := range c.SourceContents {
		target := path.Join(cr.dest, sc.Path)
		if !cr.destIsDir && len(c.SourceContents) == 1 && len(matches) == 0 {
			target = cr.dest
		}
		if err := b.writeInline(s, target, sc.Data, cr.opt); err != nil {
			return fmt.Errorf("%s failed: %w", name, err)
		}
	}
	return b.commit(ctx, s, c.History)
}

// copyOptions are c's --chown, --chmod and --exclude, and what the copy
// must leave alone.
func (b *Solver) copyOptions(s *stage, c *plan.Copy, src source) (filetree.CopyOptions, *patternmatcher.PatternMatcher, error) {
	opt := filetree.CopyOptions{Owners: s.owners, SrcOwners: src.owners, SrcRoot: src.root}
	if b.cfg.Root.Ignored != nil && !s.aside {
		opt.Refuse = b.cfg.Root.Ignored.Covers
	}
	if src.isContext {
		opt.Owner = &filetree.Owner{}
	}
	if c.Chown != "" {
		uid, gid, err := user.ResolveChown(s.root, c.Chown)
		if err != nil {
			return opt, nil, fmt.Errorf("--chown=%s: %w", c.Chown, err)
		}
		opt.Owner = &filetree.Owner{UID: int(uid), GID: int(gid)}
		opt.DirOwner = opt.Owner
	}
	if c.Chmod != "" {
		var err error
		if opt.Chmod, err = filetree.ParseChmod(c.Chmod); err != nil {
			return opt, nil, fmt.Errorf("--chmod=%s: %w", c.Chmod, err)
		}
		// A numeric mode is also the directories' the copy makes (not a
		// symbolic one), as in BuildKit.
		if n, err := strconv.ParseUint(c.Chmod, 8, 32); err == nil {
			opt.DirMode = os.FileMode(n).Perm()
		}
	}
	var exclude *patternmatcher.PatternMatcher
	if len(c.Excludes) > 0 {
		var err error
		if exclude, err = patternmatcher.New(c.Excludes); err != nil {
			return opt, nil, fmt.Errorf("--exclude: %w", err)
		}
	}
	opt.HasExceptions = (src.isContext && b.cfg.Context.HasExceptions()) || (exclude != nil && exclude.Exclusions())
	return opt, exclude, nil
}

// copyOne copies one source match; done means a layer-only copy (only
// when m is the sole match) made the step's layer: the step is over.
func (b *Solver) copyOne(ctx context.Context, cr *copyRun, m copyMatch, sole bool) (done bool, _ error) {
	s, c := cr.s, cr.c
	fi, err := os.Stat(m.host)
	if err != nil {
		return false, fmt.Errorf("%s failed: %w", cr.name, err)
	}
	target, err := b.copyTarget(cr, m, fi)
	if err != nil {
		return false, fmt.Errorf("%s failed: %w", cr.name, err)
	}
	if cr.exclude != nil && m.rel != "" && !fi.IsDir() {
		if ok, _ := cr.exclude.MatchesOrParentMatches(m.rel); ok {
			return false, nil
		}
	}
	if c.Add && !fi.IsDir() && c.Unpack && m.rel != "" {
		ok, err := b.unpack(m.host, s.root, cr.dest, cr.opt)
		if err != nil {
			return false, fmt.Errorf("%s failed: %w", cr.name, err)
		}
		if ok {
			return false, nil
		}
	}
	o := b.matchOptions(cr, m, fi)
	if sole && b.layerOnlyCopy(s, c) {
		done, err := b.copyLayerOnly(ctx, s, m.host, m.rel, target, o, c.History)
		if err != nil {
			return false, fmt.Errorf("%s failed: %w", cr.name, err)
		}
		if done {
			return true, nil
		}
		if len(s.pending) > 0 {
			if err := b.land(s); err != nil {
				return false, fmt.Errorf("%s failed: %w", cr.name, err)
			}
		}
	}
	if err := filetree.Copy(m.host, m.rel, s.root, target, o); err != nil {
		return false, fmt.Errorf("%s failed: %w", cr.name, err)
	}
	return false, nil
}

// copyTarget is where match m (fi its file) lands in the stage.
func (b *Solver) copyTarget(cr *copyRun, m copyMatch, fi os.FileInfo) (string, error) {
	dest := cr.dest
	if cr.c.Parents && m.rel != "" {
		return path.Join(dest, strings.TrimPrefix(m.rel, m.pivot)), nil
	}
	if fi.IsDir() {
		return dest, nil
	}
	base := path.Base(m.rel)
	if m.rel == "" {
		base = filepath.Base(m.host)
	}
	target := dest
	if cr.destIsDir || b.isDir(cr.s.root, dest) {
		target = path.Join(dest, base)
	}
	// A symlink in the last element is followed, as docker and
	// BuildKit do: the file lands where it leads, dangling or not.
	return filetree.ResolvePath(cr.s.root, target, true)
}

// matchOptions are the copy's options for match m: a directory's walk
// leaves out what is excluded; a download is 0600 and root's by default.
func (b *Solver) matchOptions(cr *copyRun, m copyMatch, fi os.FileInfo) filetree.CopyOptions {
	o := cr.opt
	if fi.IsDir() {
		dir := m.rel
		o.Exclude = func(r string) bool { return b.copyExcluded(cr, dir, r) }
	}
	if m.rel == "" && cr.c.Add { // downloaded: 0600 unless --chmod
		if o.Chmod == nil {
			o.Chmod = func(os.FileMode, bool) os.FileMode { return 0o600 }
		}
		if o.Owner == nil {
			o.Owner = &filetree.Owner{}
		}
	}
	return o
}

// copyExcluded reports whether rel, below dir, is left out: .dockerignore
// matches paths in the context; --exclude matches paths in the directory
// being copied.
func (b *Solver) copyExcluded(cr *copyRun, dir, rel string) bool {
	if cr.src.isContext && b.cfg.Context.Excluded(rel) {
		return true
	}
	if cr.exclude != nil {
		ok, _ := cr.exclude.MatchesOrParentMatches(strings.TrimPrefix(strings.TrimPrefix(rel, dir), "/"))
		return ok
	}
	return false
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
	if err := filetree.MkdirAllIn(opt.Owners, root, dest, opt.DirOwner); err != nil {
		return false, err
	}
	destHost, err := filetree.Resolve(root, dest, true)
	if err != nil {
		return false, err
	}
	// --chown owns what the archive holds (as BuildKit; the legacy
	// builder kept the archive's owners); --chmod does not apply to it.
	// (DirOwner is --chown's owner, nil without it.)
	if err := filetree.Extract(destHost, br2, filetree.ExtractOptions{Owner: opt.DirOwner, Owners: opt.Owners, OwnersRoot: root}); err != nil {
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
