package solve

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sort"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/patternmatcher"

	"github.com/kaniko-build/kaniko-build/engine/buildctx"
	"github.com/kaniko-build/kaniko-build/engine/cache"
	"github.com/kaniko-build/kaniko-build/engine/filetree"
	"github.com/kaniko-build/kaniko-build/engine/plan"
	"github.com/kaniko-build/kaniko-build/engine/snapshot"
)

// step runs a step that changes files (Workdir, Run or Copy), through the
// cache when there is one: key, look up, and on a hit take the cached
// layer and run nothing (the stage's files are not even made until a
// step misses); on a miss make the files, run the step and store its
// layer.
func (b *Solver) step(ctx context.Context, s *stage, st plan.Step) error {
	if b.cfg.Cache.Store == nil {
		return b.apply(ctx, s, st)
	}
	k, parts, err := b.key(ctx, s, st)
	if err != nil {
		return err
	}
	text, history := st.At().Text, historyOf(st)
	run := func() error { return b.apply(ctx, s, st) }
	stepTag := b.stepTag(s)
	_, isRun := st.(*plan.Run)
	if (isRun && !b.cfg.Cache.RunLayers) || (!isRun && !b.cfg.Cache.CopyLayers) {
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
	if e, ok, err := b.cfg.Cache.Store.Get(ctx, k.String()); err != nil {
		b.log.Warn("reading the cache failed; running the step", "step", oneLine(text), "err", err)
	} else if ok {
		if e.Layer != nil {
			if s.materialized {
				if err := b.applyLayer(ctx, e.Layer, s.root, b.stageSkip(s), b.rank(s), s.owners); err != nil {
					return err
				}
				if err := b.rescan(s); err != nil {
					return err
				}
			}
			b.addLayer(ctx, s, e.Layer, history)
		} else {
			s.record(history)
		}
		s.key = k
		b.event(ctx, fmt.Sprintf("  %s HIT %s", s.tag, oneLine(text)), "cache", s,
			slog.String("result", "hit"), slog.String("instruction", text))
		return nil
	}
	reason := b.missReason(ctx, stepTag, parts)
	b.event(ctx, fmt.Sprintf("  %s MISS %s (%s)", s.tag, oneLine(text), reason), "cache", s,
		slog.String("result", "miss"), slog.String("instruction", text), slog.String("reason", reason))
	if err := b.materialize(ctx, s); err != nil {
		return err
	}
	s.lastLayer = nil
	if err := run(); err != nil {
		return err
	}
	s.key = k
	if !b.cfg.Cache.ReadOnly {
		e := cache.Entry{Layer: s.lastLayer, Labels: parts}
		b.puts.Add(1)
		go func() {
			defer b.puts.Done()
			if err := b.cfg.Cache.Store.Put(ctx, k.String(), e); err != nil {
				b.log.Warn("writing the cache failed", "err", err)
			}
			if err := b.cfg.Cache.Store.Put(ctx, stepTag, cache.Entry{Labels: parts}); err != nil {
				b.log.Warn("writing the cache failed", "err", err)
			}
		}()
	}
	return nil
}

func (b *Solver) stageSkip(s *stage) func(string) bool {
	if s.aside {
		return nil
	}
	return b.skip
}

func (b *Solver) rescan(s *stage) error {
	snap, err := snapshot.ScanOwned(s.root, b.stageSkip(s), s.owners)
	if err != nil {
		return err
	}
	s.snap = snap
	return nil
}

// stepTag names "this step of this Dockerfile" in the cache: it records
// the inputs of the last run, so that a miss can say what changed.
func (b *Solver) stepTag(s *stage) string {
	return "step-" + cache.Of("step", b.cfg.Plan.File.Name, fmt.Sprint(s.index), fmt.Sprint(len(s.history))).String()
}

// missReason compares this step's inputs with those of its last run.
func (b *Solver) missReason(ctx context.Context, stepTag string, parts map[string]string) string {
	e, ok, err := b.cfg.Cache.Store.Get(ctx, stepTag)
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

// apply runs a step that changes files.
func (b *Solver) apply(ctx context.Context, s *stage, st plan.Step) error {
	switch st := st.(type) {
	case *plan.Workdir:
		return b.makeWorkdir(ctx, s, st.Path)
	case *plan.Run:
		return b.dispatchRun(ctx, s, st)
	case *plan.Copy:
		return b.dispatchCopy(ctx, s, st)
	}
	return fmt.Errorf("no way to run a %T step", st)
}

// key is a step's cache key, and the parts it is made of, kept as the
// cache entry's labels.
func (b *Solver) key(ctx context.Context, s *stage, st plan.Step) (cache.Key, map[string]string, error) {
	var parts map[string]string
	var err error
	switch st := st.(type) {
	case *plan.Workdir:
		parts = map[string]string{"instruction": "WORKDIR " + st.Path, "env": envPart(s, st.Env)}
	case *plan.Run:
		parts, err = b.runKey(ctx, s, st)
	case *plan.Copy:
		parts, err = b.copyKey(ctx, s, st)
	default:
		err = fmt.Errorf("no cache key for a %T step", st)
	}
	if err != nil {
		return cache.Key{}, nil, err
	}
	return keyOf(s, parts), parts, nil
}

// historyOf is the history entry of a step that changes files.
func historyOf(st plan.Step) string {
	switch st := st.(type) {
	case *plan.Run:
		return st.History
	case *plan.Copy:
		return st.History
	}
	return st.At().Text
}

// keyOf chains the step's input parts onto the stage's key.
func keyOf(s *stage, parts map[string]string) cache.Key {
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
	return h.Sum()
}

// envPart is what of the stage's state a step can see: the variables of
// RUN, the user, the working directory, the shell, the platform.
func envPart(s *stage, env []string) string {
	c := s.cfg.Config
	dt, _ := json.Marshal(struct {
		Env                 []string
		User, WorkDir, Plat string
		Shell               []string
	}{env, c.User, c.WorkingDir, s.cfg.OS + "/" + s.cfg.Architecture + "/" + s.cfg.Variant, c.Shell})
	return cache.Of(string(dt)).String()
}

func (b *Solver) runKey(ctx context.Context, s *stage, r *plan.Run) (map[string]string, error) {
	c := r.Command
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
			return nil, err
		}
		mounts.AddKey(k)
	}
	return map[string]string{
		"instruction": instr.String(), "env": envPart(s, r.Env), "mounts": mounts.Sum().String(),
	}, nil
}

func (b *Solver) copyKey(ctx context.Context, s *stage, c *plan.Copy) (map[string]string, error) {
	var instr strings.Builder
	fmt.Fprintf(&instr, "add=%v from=%s chown=%s chmod=%s parents=%v unpack=%v checksum=%s\x00dest=%s\x00excludes=%s\x00src=%s",
		c.Add, c.From, c.Chown, c.Chmod, c.Parents, c.Unpack, c.Checksum, c.DestPath,
		strings.Join(c.Excludes, "\x00"), strings.Join(c.SourcePaths, "\x00"))
	for _, sc := range c.SourceContents {
		fmt.Fprintf(&instr, "\x00inline %s %v\x00%s", sc.Path, sc.Expand, sc.Data)
	}
	var urls []string
	var paths []string
	for _, p := range c.SourcePaths {
		if c.Add && isURL(p) {
			urls = append(urls, p)
		} else {
			paths = append(paths, p)
		}
	}
	var exclude *patternmatcher.PatternMatcher
	if len(c.Excludes) > 0 {
		var err error
		if exclude, err = patternmatcher.New(c.Excludes); err != nil {
			return nil, fmt.Errorf("--exclude: %w", err)
		}
	}
	files, err := b.sourceKey(ctx, s, c.From, paths, urls, exclude)
	if err != nil {
		return nil, err
	}
	// COPY sees no variables (they are expanded into the instruction):
	// only where relative destinations go.
	where := cache.Of(s.cfg.Config.WorkingDir, s.cfg.OS+"/"+s.cfg.Architecture+"/"+s.cfg.Variant).String()
	return map[string]string{
		"instruction": instr.String(), "env": where, "files": files.String(),
	}, nil
}

// sourceKey keys what a COPY or bind mount reads: a stage by its own key,
// an image by its digest, the context by the names, modes, owners and
// contents of the files (after .dockerignore), URLs by their content.
func (b *Solver) sourceKey(ctx context.Context, s *stage, from string, paths, urls []string, exclude *patternmatcher.PatternMatcher) (cache.Key, error) {
	h := cache.NewHasher(cache.Key{})
	for _, u := range urls {
		p, err := b.download(ctx, u, "")
		if err != nil {
			return cache.Key{}, err
		}
		k, err := buildctx.HashFile(p, nil)
		if err != nil {
			return cache.Key{}, err
		}
		h.Add("url", u).AddKey(k)
	}
	if from != "" {
		if j, ok := b.cfg.Plan.StageIndex(from); ok {
			st, err := b.stageFor(ctx, s, j)
			if err != nil {
				return cache.Key{}, err
			}
			return h.Add("stage", strings.Join(paths, "\x00")).AddKey(st.key).Sum(), nil
		}
		img, err := b.cfg.Registry.Pull(ctx, from, b.cfg.Plan.Platform)
		if err != nil {
			return cache.Key{}, err
		}
		d, err := img.Digest()
		if err != nil {
			return cache.Key{}, err
		}
		return h.Add("image", d.String(), strings.Join(paths, "\x00")).Sum(), nil
	}
	root := b.cfg.Context.Dir
	for _, p := range paths {
		rel := strings.TrimPrefix(filetree.Clean(p), "/")
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
			if b.cfg.Context.Excluded(m) && !b.cfg.Context.HasExceptions() {
				continue
			}
			host, err := filetree.Resolve(root, m, true)
			if err != nil {
				return cache.Key{}, err
			}
			dir := m
			excluded := func(r string) bool {
				if b.cfg.Context.Excluded(r) {
					return true
				}
				if exclude == nil {
					return false
				}
				// --exclude matches inside the copied directory, as COPY does.
				ok, _ := exclude.MatchesOrParentMatches(strings.TrimPrefix(strings.TrimPrefix(r, dir), "/"))
				return ok
			}
			if err := buildctx.HashTree(h, host, m, excluded, b.cfg.Context.HasExceptions() || (exclude != nil && exclude.Exclusions()), b.cfg.Cache.Sums); err != nil {
				return cache.Key{}, err
			}
		}
	}
	return h.Sum(), nil
}
