package solve

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"slices"
	"time"

	"github.com/kaniko-build/kaniko-build/engine/filetree"
	"github.com/kaniko-build/kaniko-build/engine/plan"
	"github.com/kaniko-build/kaniko-build/engine/snapshot"
)

// A COPY whose files nothing later in the build reads (among the last
// steps of the target stage, which only copy or set metadata, into a path
// that does not exist yet) needs only its layer: the layer is written
// straight from the sources and the files never land in the stage's root.
// For a large COPY that saves writing every file once more, and in a
// container, flushing those writes when it ends. A later COPY that would
// look at such files (into or over them, or --chown while /etc has some)
// first has them copied for real ("landed").

// virtualCopy is a layer-only COPY not landed yet.
type virtualCopy struct {
	src, srcRel, target string
	opt                 filetree.CopyOptions
}

// layerOnlyCopy reports whether c may be such a COPY: later steps of the
// stage only copy or set metadata, and no other stage reads this one.
func (b *Solver) layerOnlyCopy(s *stage, c *plan.Copy) bool {
	if c.Add || len(c.SourceContents) > 0 || !b.cfg.Plan.Final[s.index] || b.uses[s.index] > 0 {
		return false
	}
	for _, st := range s.rest {
		switch st := st.(type) {
		case *plan.Config:
		case *plan.Copy:
			if st.Add {
				return false
			}
		default:
			return false
		}
	}
	return true
}

// landIfTouched copies the pending layer-only COPYs for real when the COPY
// about to run into dest could see their files: dest is one of them or
// lies below a file of theirs, or it is below them and --chown reads /etc.
// A directory of theirs above dest is fine: copyLayerOnly knows it.
func (b *Solver) landIfTouched(s *stage, c *plan.Copy, dest string) error {
	if len(s.pending) == 0 {
		return nil
	}
	if !b.layerOnlyCopy(s, c) {
		return b.land(s) // it will copy for real, maybe under them
	}
	chown := c.Chown != ""
	v := s.virtual
	touched := dest == "/" || v.under(dest) || v.belowFile(dest) || chown && v.under("/etc")
	if !touched {
		return nil
	}
	return b.land(s)
}

// land copies the pending layer-only COPYs into the root, whose layers are
// already made, and rescans it.
func (b *Solver) land(s *stage) error {
	for _, v := range s.pending {
		if err := filetree.Copy(v.src, v.srcRel, s.root, v.target, v.opt); err != nil {
			return fmt.Errorf("copying %s: %w", v.target, err)
		}
	}
	s.pending, s.virtual = nil, nil
	return b.rescan(s)
}

// copyLayerOnly makes the layer of copying src to target in s, when target
// does not exist and no symlink leads to it; done is false when the copy
// must be made for real.
func (b *Solver) copyLayerOnly(ctx context.Context, s *stage, src, srcRel, target string, opt filetree.CopyOptions, createdBy string) (done bool, _ error) {
	start := time.Now()
	target = filetree.Clean(target)
	if !layerOnlyTarget(s, target) {
		return false, nil
	}
	made, anc, ok := layerOnlyParents(s, target)
	if !ok {
		return false, nil
	}
	if skip := b.stageSkip(s); skip != nil {
		for _, p := range append(made, target) {
			if skip(p) {
				return false, nil
			}
		}
	}
	now := time.Now().UnixNano()
	top, err := ancestorItems(s, anc, now)
	if err != nil {
		return false, err
	}
	var run virtualRun
	dirs := map[string]snapshot.Entry{}
	record := func(it snapshot.Item) {
		if len(it.Path) > len(anc) { // below the nearest ancestor that was there
			run.add(it.Path, it.Entry)
			if it.Entry.IsDir() {
				dirs[it.Path] = it.Entry
			}
		}
	}
	n := 0
	l, comp, err := b.writeLayer(s, func(w io.Writer) error {
		return snapshot.WriteItems(w, func(yield func(snapshot.Item) error) error {
			for _, it := range append(top, madeItems(made, opt, now)...) {
				record(it)
				n++
				if err := yield(it); err != nil {
					return err
				}
			}
			return filetree.PlanEach(src, srcRel, target, opt, func(p filetree.Planned) error {
				it := plannedItem(p, now)
				record(it)
				n++
				return yield(it)
			})
		}, snapshot.TarOptions{Epoch: s.epoch})
	})
	if errors.Is(err, filetree.ErrUnplanned) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	size, _ := l.Size()
	took := time.Since(start)
	b.event(ctx, fmt.Sprintf("  layer of %d paths written from the sources (nothing later reads the files): %.1f MB (%s) in %s",
		n, float64(size)/1e6, comp, took.Round(time.Millisecond)), "layer", s,
		slog.Int("paths", n), slog.Int64("bytes", size), slog.String("compression", string(comp)),
		slog.Int64("write_ms", took.Milliseconds()), slog.Bool("from_sources", true))
	b.addLayer(ctx, s, l, createdBy)
	s.lastLayer = l
	if s.virtual == nil {
		s.virtual = &virtualSet{}
	}
	s.virtual.commit(run, dirs)
	s.pending = append(s.pending, virtualCopy{src, srcRel, target, opt})
	return true, nil
}

// layerOnlyTarget reports whether target (clean) is free for a layer-only
// COPY: not on disk nor made by an earlier one, and no symlink leads to it.
func layerOnlyTarget(s *stage, target string) bool {
	host := filepath.Join(s.root, filepath.FromSlash(target))
	if resolved, err := filetree.Resolve(s.root, target, false); err != nil || resolved != host {
		return false
	}
	if _, err := os.Lstat(host); !errors.Is(err, os.ErrNotExist) {
		return false
	}
	found, _ := s.virtual.lookup(target)
	return !found
}

// layerOnlyParents returns the parents of target MkdirAll would make, and
// the nearest that exists (on disk, or made by an earlier layer-only
// COPY); ok is false when that is no directory or cannot be told.
func layerOnlyParents(s *stage, target string) (made []string, anc string, ok bool) {
	anc = path.Dir(target)
	for anc != "/" {
		if found, isDir := s.virtual.lookup(anc); found {
			if !isDir {
				return nil, "", false
			}
			break
		}
		fi, err := os.Lstat(filepath.Join(s.root, filepath.FromSlash(anc)))
		if err == nil {
			if !fi.IsDir() {
				return nil, "", false
			}
			break
		}
		if !errors.Is(err, os.ErrNotExist) {
			return nil, "", false
		}
		made = append(made, anc)
		anc = path.Dir(anc)
	}
	return made, anc, true
}

// ancestorItems are anc and the directories above it as they are, top
// first, anc gaining a child now.
func ancestorItems(s *stage, anc string, now int64) ([]snapshot.Item, error) {
	var items []snapshot.Item
	for a := anc; a != "/"; a = path.Dir(a) {
		h := filepath.Join(s.root, filepath.FromSlash(a))
		e, virtual := s.virtual.dir(a)
		if virtual {
			h = ""
		} else {
			var err error
			if e, err = snapshot.Stat(h); err != nil {
				return nil, err
			}
			e = snapshot.Owned(e, a, s.owners)
		}
		if a == anc {
			e.Mtime, e.Ctime = now, now // it gains a child
		}
		items = append(items, snapshot.Item{Path: a, Entry: e, Host: h})
	}
	slices.Reverse(items)
	return items, nil
}

// madeItems are the parents MkdirAll makes (made, deepest first), top
// first.
func madeItems(made []string, opt filetree.CopyOptions, now int64) []snapshot.Item {
	owner := filetree.Owner{}
	if opt.DirOwner != nil {
		owner = *opt.DirOwner
	}
	items := make([]snapshot.Item, 0, len(made))
	for i := len(made) - 1; i >= 0; i-- {
		items = append(items, snapshot.Item{Path: made[i], Entry: snapshot.Entry{
			Mode: snapshot.ModeOf(os.ModeDir | opt.MadeDirMode()), UID: uint32(owner.UID), GID: uint32(owner.GID), Mtime: now,
		}})
	}
	return items
}

// plannedItem is the entry of one path of the planned copy: a file
// without an mtime gets now; regular files linked to others keep their
// source's link count and identity, so those linked within the copy stay
// linked.
func plannedItem(p filetree.Planned, now int64) snapshot.Item {
	e := snapshot.Entry{
		Mode: snapshot.ModeOf(p.Mode), UID: uint32(p.UID), GID: uint32(p.GID),
		Size: p.Size, Mtime: p.Mtime, Link: p.Link, Nlink: 1,
	}
	if e.Mtime == 0 {
		e.Mtime = now
	}
	if p.Mode.IsRegular() && p.Nlink > 1 {
		e.Dev, e.Ino, e.Nlink = p.Dev, p.Ino, p.Nlink
	}
	return snapshot.Item{Path: p.Path, Entry: e, Host: p.Src}
}
