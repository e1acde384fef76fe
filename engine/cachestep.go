package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/patternmatcher"
	"golang.org/x/sys/unix"

	"github.com/kaniko-build/kaniko-build/engine/cache"
	"github.com/kaniko-build/kaniko-build/engine/fs"
	"github.com/kaniko-build/kaniko-build/engine/snapshot"
)

// cacheRun holds one build's use of the layer cache.
type cacheRun struct {
	ctx  context.Context // the whole build's
	puts sync.WaitGroup
}

// step runs a step that changes files, through the cache when there is
// one. text is the step as written, for the log; history is its history
// line. A hit takes the cached layer and runs nothing (the stage's files
// are not even made until a step misses); a miss runs the step and stores
// its layer.
func (b *builder) step(ctx context.Context, s *stage, text, history string, key func() (cache.Key, error), run func() error) error {
	if b.store == nil {
		return run()
	}
	k, err := key()
	if err != nil {
		return err
	}
	parts := s.keyParts
	s.keyParts = nil
	stepTag := b.stepTag(s)
	isRun := strings.HasPrefix(text, "RUN")
	if (isRun && !b.opt.Cache.RunLayers) || (!isRun && !b.opt.Cache.CopyLayers) {
		// Not cached, but still chained: later steps key off this one.
		if err := b.materialize(ctx, s); err != nil {
			return err
		}
		if err := run(); err != nil {
			return err
		}
		s.key = k
		return nil
	}
	if e, ok, err := b.store.Get(ctx, k.String()); err != nil {
		b.log.Warn("reading the cache failed; running the step", "step", oneLine(text), "err", err)
	} else if ok {
		if e.Layer != nil {
			if s.materialized {
				if err := b.applyLayer(ctx, e.Layer, s.root, b.stageSkip(s), b.rank(s)); err != nil {
					return err
				}
				if err := b.rescan(s); err != nil {
					return err
				}
			}
			b.addLayer(s, e.Layer, history)
		} else {
			s.record(history)
		}
		s.key = k
		b.printf("  %s HIT %s", s.tag, oneLine(text))
		return nil
	}
	b.printf("  %s MISS %s (%s)", s.tag, oneLine(text), b.missReason(ctx, stepTag, parts))
	if err := b.materialize(ctx, s); err != nil {
		return err
	}
	s.lastLayer = nil
	if err := run(); err != nil {
		return err
	}
	s.key = k
	if !b.opt.Cache.NoPush {
		e := cache.Entry{Layer: s.lastLayer, Labels: parts}
		b.cacheRun.puts.Add(1)
		go func() {
			defer b.cacheRun.puts.Done()
			// The build's context: a stage's ends with the stage.
			ctx := b.cacheRun.ctx
			if err := b.store.Put(ctx, k.String(), e); err != nil {
				b.log.Warn("writing the cache failed", "err", err)
			}
			if err := b.store.Put(ctx, stepTag, cache.Entry{Labels: parts}); err != nil {
				b.log.Warn("writing the cache failed", "err", err)
			}
		}()
	}
	return nil
}

func (b *builder) stageSkip(s *stage) func(string) bool {
	if s.aside {
		return nil
	}
	return b.skip
}

func (b *builder) rescan(s *stage) error {
	snap, err := snapshot.Scan(s.root, b.stageSkip(s))
	if err != nil {
		return err
	}
	s.snap = snap
	return nil
}

// stepTag names "this step of this Dockerfile" in the cache: it records
// the inputs of the last run, so that a miss can say what changed.
func (b *builder) stepTag(s *stage) string {
	return "step-" + cache.Of("step", b.file.Name, fmt.Sprint(s.index), fmt.Sprint(len(s.history))).String()
}

// missReason compares this step's inputs with those of its last run.
func (b *builder) missReason(ctx context.Context, stepTag string, parts map[string]string) string {
	e, ok, err := b.store.Get(ctx, stepTag)
	if err != nil || !ok {
		return "not in the cache"
	}
	var changed []string
	for _, name := range []string{"parent", "instruction", "env", "files", "mounts"} {
		if e.Labels[name] != parts[name] {
			changed = append(changed, name)
		}
	}
	if len(changed) == 0 {
		return "not in the cache"
	}
	return "changed: " + strings.Join(changed, ", ")
}

// keyOf chains the step's input parts onto the stage's key and keeps the
// parts for the cache entry's labels.
func (b *builder) keyOf(s *stage, parts map[string]string) cache.Key {
	parts["parent"] = s.key.String()
	names := make([]string, 0, len(parts))
	for k := range parts {
		names = append(names, k)
	}
	sort.Strings(names)
	h := cache.NewHasher(s.key)
	for _, n := range names {
		h.Add(n, parts[n])
	}
	s.keyParts = parts
	return h.Sum()
}

// envPart is what of the stage's state a step can see: the variables of
// RUN, the user, the working directory, the shell, the platform.
func (b *builder) envPart(s *stage) string {
	c := s.cfg.Config
	dt, _ := json.Marshal(struct {
		Env                 []string
		User, WorkDir, Plat string
		Shell               []string
	}{s.runEnv, c.User, c.WorkingDir, s.cfg.OS + "/" + s.cfg.Architecture + "/" + s.cfg.Variant, c.Shell})
	return cache.Of(string(dt)).String()
}

func (b *builder) workdirKey(s *stage, wd string) cache.Key {
	return b.keyOf(s, map[string]string{"instruction": "WORKDIR " + wd, "env": b.envPart(s)})
}

func (b *builder) runKey(ctx context.Context, s *stage, c *instructions.RunCommand) (cache.Key, error) {
	var instr strings.Builder
	fmt.Fprintf(&instr, "RUN shell=%v network=%s\x00%s", c.PrependShell, instructions.GetNetwork(c), strings.Join(c.CmdLine, "\x00"))
	for _, f := range c.Files {
		fmt.Fprintf(&instr, "\x00heredoc %s %v\x00%s", f.Name, f.Chomp, f.Data)
	}
	mounts := cache.NewHasher(cache.Key{})
	for _, m := range instructions.GetMounts(c) {
		dt, _ := json.Marshal(m)
		mounts.Add(string(dt))
		if m.Type != instructions.MountTypeBind {
			continue // cache, tmpfs and secret contents are not inputs of the layer
		}
		k, err := b.sourceKey(ctx, s, m.From, []string{m.Source}, nil, nil)
		if err != nil {
			return cache.Key{}, err
		}
		mounts.AddKey(k)
	}
	return b.keyOf(s, map[string]string{
		"instruction": instr.String(), "env": b.envPart(s), "mounts": mounts.Sum().String(),
	}), nil
}

func (b *builder) copyKey(ctx context.Context, s *stage, c copyCmd) (cache.Key, error) {
	var instr strings.Builder
	fmt.Fprintf(&instr, "add=%v from=%s chown=%s chmod=%s parents=%v unpack=%v checksum=%s\x00dest=%s\x00excludes=%s\x00src=%s",
		c.add, c.from, c.chown, c.chmod, c.parents, c.unpack, c.checksum, c.DestPath,
		strings.Join(c.excludes, "\x00"), strings.Join(c.SourcePaths, "\x00"))
	for _, sc := range c.SourceContents {
		fmt.Fprintf(&instr, "\x00inline %s %v\x00%s", sc.Path, sc.Expand, sc.Data)
	}
	var urls []string
	var paths []string
	for _, p := range c.SourcePaths {
		if c.add && isURL(p) {
			urls = append(urls, p)
		} else {
			paths = append(paths, p)
		}
	}
	var exclude *patternmatcher.PatternMatcher
	if len(c.excludes) > 0 {
		var err error
		if exclude, err = patternmatcher.New(c.excludes); err != nil {
			return cache.Key{}, fmt.Errorf("--exclude: %w", err)
		}
	}
	files, err := b.sourceKey(ctx, s, c.from, paths, urls, exclude)
	if err != nil {
		return cache.Key{}, err
	}
	// COPY sees no variables (they are expanded into the instruction):
	// only where relative destinations go.
	where := cache.Of(s.cfg.Config.WorkingDir, s.cfg.OS+"/"+s.cfg.Architecture+"/"+s.cfg.Variant).String()
	return b.keyOf(s, map[string]string{
		"instruction": instr.String(), "env": where, "files": files.String(),
	}), nil
}

// sourceKey keys what a COPY or bind mount reads: a stage by its own key,
// an image by its digest, the context by the names, modes, owners and
// contents of the files (after .dockerignore), URLs by their content.
func (b *builder) sourceKey(ctx context.Context, s *stage, from string, paths, urls []string, exclude *patternmatcher.PatternMatcher) (cache.Key, error) {
	h := cache.NewHasher(cache.Key{})
	for _, u := range urls {
		p, err := b.download(ctx, u, "")
		if err != nil {
			return cache.Key{}, err
		}
		k, err := hashFile(p, nil)
		if err != nil {
			return cache.Key{}, err
		}
		h.Add("url", u).AddKey(k)
	}
	if from != "" {
		if j, ok := b.file.StageIndex(from); ok {
			st, err := b.builtStage(ctx, s.index, j)
			if err != nil {
				return cache.Key{}, err
			}
			return h.Add("stage", strings.Join(paths, "\x00")).AddKey(st.key).Sum(), nil
		}
		pull := b.remote
		img, err := pull.Pull(b.buildCtx, from)
		if err != nil {
			return cache.Key{}, err
		}
		d, err := img.Digest()
		if err != nil {
			return cache.Key{}, err
		}
		return h.Add("image", d.String(), strings.Join(paths, "\x00")).Sum(), nil
	}
	root := b.ctx.Dir
	for _, p := range paths {
		rel := strings.TrimPrefix(fs.Clean(p), "/")
		var matches []string
		if hasWildcard(p) {
			found, err := glob(root, rel)
			if err != nil {
				return cache.Key{}, err
			}
			matches = found
		} else {
			matches = []string{rel}
		}
		h.Add("source", p)
		for _, m := range matches {
			if b.ctx.Excluded(m) && !b.ctx.HasExceptions() {
				continue
			}
			host, err := fs.Resolve(root, m, true)
			if err != nil {
				return cache.Key{}, err
			}
			dir := m
			excluded := func(r string) bool {
				if b.ctx.Excluded(r) {
					return true
				}
				if exclude == nil {
					return false
				}
				// --exclude matches inside the copied directory, as COPY does.
				ok, _ := exclude.MatchesOrParentMatches(strings.TrimPrefix(strings.TrimPrefix(r, dir), "/"))
				return ok
			}
			if err := hashTree(h, host, m, excluded, b.ctx.HasExceptions() || (exclude != nil && exclude.Exclusions()), b.sums); err != nil {
				return cache.Key{}, err
			}
		}
	}
	return h.Sum(), nil
}

// hashTree adds every file under host: name, type, mode, owner, xattrs,
// size and content (link target for symlinks). With exceptions ("!"
// lines in the ignore file) it enters excluded directories, as COPY does,
// since a file below one may be brought back. The walk only reads
// directories, in order; workers stat, read and hash each entry (sums,
// when not nil, spares reading the files it knows unchanged), and the
// entries are added in walk order.
func hashTree(h *cache.Hasher, host, rel string, excluded func(string) bool, exceptions bool, sums *cache.Sums) error {
	var items []*hashItem
	work := make(chan *hashItem, 256)
	errs := make(chan error, hashWorkers)
	var wg sync.WaitGroup
	for range hashWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var first error
			buf := make([]byte, 128<<10)
			for it := range work {
				if first == nil {
					first = it.fill(buf, sums)
				}
			}
			errs <- first
		}()
	}
	add := func(path, r string) {
		it := &hashItem{path: path, rel: r}
		items = append(items, it)
		work <- it
	}
	var walk func(dir, r string) error
	walk = func(dir, r string) error {
		ents, err := os.ReadDir(dir)
		if err != nil {
			return err
		}
		for _, e := range ents {
			p, cr := filepath.Join(dir, e.Name()), r+"/"+e.Name()
			if excluded(cr) {
				if !e.IsDir() || !exceptions {
					continue
				}
			} else {
				add(p, cr)
			}
			if e.IsDir() {
				if err := walk(p, cr); err != nil {
					return err
				}
			}
		}
		return nil
	}
	fi, err := os.Lstat(host)
	if err == nil {
		r := filepath.ToSlash(rel)
		add(host, r)
		if fi.IsDir() {
			err = walk(host, strings.TrimSuffix(r, "/"))
		}
	}
	close(work)
	wg.Wait()
	close(errs)
	if err != nil {
		return err
	}
	for err := range errs {
		if err != nil {
			return err
		}
	}
	links := map[[2]uint64]string{} // hard links: which earlier file each shares
	for _, it := range items {
		if it.nlink > 1 && it.file {
			id := [2]uint64{it.st.Dev, it.st.Ino}
			if first, ok := links[id]; ok {
				h.Add(it.rel, "hardlink", first)
				continue
			}
			links[id] = it.rel
		}
		// Each part on its own, as the hasher length-prefixes them.
		for _, part := range it.parts {
			h.Add(part)
		}
		if it.file {
			h.AddKey(it.key)
		}
	}
	return nil
}

// hashItem is one entry of a tree being keyed.
type hashItem struct {
	path, rel string
	parts     []string // added before the content
	file      bool     // a regular file: its content key follows
	st        cache.FileStat
	nlink     uint64
	key       cache.Key
}

// fill stats the entry and, for a regular file, finds its content key.
func (it *hashItem) fill(buf []byte, sums *cache.Sums) error {
	fi, err := os.Lstat(it.path)
	if err != nil {
		return err
	}
	uid, gid := uint32(0), uint32(0)
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		uid, gid, it.nlink = st.Uid, st.Gid, uint64(st.Nlink)
		it.st = cache.FileStat{Dev: st.Dev, Ino: st.Ino, Size: uint64(st.Size), Mtime: st.Mtim.Nano(), Ctime: st.Ctim.Nano()}
	}
	it.parts = []string{it.rel, fmt.Sprintf("%o %d:%d %d", fi.Mode(), uid, gid, fi.Size())}
	if fi.Mode().IsRegular() {
		it.file = true
		k, plain, ok := sums.Lookup(it.path, it.st)
		if ok && plain {
			it.key = k
			return nil
		}
		xattrs := fs.Xattrs(it.path)
		it.parts = append(it.parts, xattrs...)
		if ok {
			it.key = k
			return nil
		}
		if it.key, err = hashFile(it.path, buf); err != nil {
			return err
		}
		sums.Record(it.path, it.st, it.key, len(xattrs) == 0)
		return nil
	}
	it.parts = append(it.parts, fs.Xattrs(it.path)...)
	if fi.Mode()&os.ModeSymlink != 0 {
		t, err := os.Readlink(it.path)
		if err != nil {
			return err
		}
		it.parts = append(it.parts, t)
	}
	return nil
}

// hashWorkers is how many files hashTree reads at once: more than the
// cores, so that files not in the page cache keep the disk busy.
const hashWorkers = 8

// hashFile hashes a file's content. It reads with plain system calls: an
// os.File would also register with the poller and allocate a buffer per
// file, which costs more than the read for small files. buf, when not
// nil, is the read buffer.
func hashFile(p string, buf []byte) (cache.Key, error) {
	fd, err := unix.Open(p, unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0)
	if err != nil {
		return cache.Key{}, &os.PathError{Op: "open", Path: p, Err: err}
	}
	defer unix.Close(fd)
	if buf == nil {
		buf = make([]byte, 128<<10)
	}
	hw := cache.NewStream()
	for {
		n, err := unix.Read(fd, buf)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return cache.Key{}, &os.PathError{Op: "read", Path: p, Err: err}
		}
		if n == 0 {
			return hw.Sum(), nil
		}
		hw.Write(buf[:n])
	}
}
