package solve

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync/atomic"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/kaniko-build/kaniko-build/engine/filetree"
	"github.com/kaniko-build/kaniko-build/engine/owners"
	"github.com/kaniko-build/kaniko-build/engine/rootfs"
	"github.com/kaniko-build/kaniko-build/engine/snapshot"
)

// materialize gives the stage its files: the base's (a parent stage's
// root, or the base image's layers), then the layers its cached steps
// added so far. With a cache, a stage whose steps all hit never comes here.
func (b *Solver) materialize(ctx context.Context, s *stage) error {
	s.mat.Lock()
	defer s.mat.Unlock()
	if s.materialized {
		return nil
	}
	start := time.Now()
	root := s.root
	ignored := b.cfg.Root.Ignored
	if s.aside {
		ignored = nil // a directory of ours: nothing to leave alone
	}
	skip := ignored.Covers
	// Later extractions wait for this one (extractOrder); not before its
	// parent is made or b.mu taken: copySource holds b.mu while it
	// extracts, and both would wait on the other.
	rank := b.rank(s)
	began := false
	first := func() {
		b.order.begin(rank)
		began = true
	}
	defer func() {
		if began {
			b.order.end(rank)
		}
	}()
	var have int // layers of s.layers already in root
	if parent := s.parent; parent != nil {
		if err := b.fromParent(ctx, parent, s, ignored, first); err != nil {
			return err
		}
		have = len(parent.layers)
	} else if err := b.fromBase(ctx, s, root, ignored, rank, first); err != nil {
		return err
	}
	for _, a := range s.layers[have:] {
		if err := b.applyLayer(ctx, a.Layer, root, skip, rank, s.owners); err != nil {
			return err
		}
	}
	if !s.noLayers {
		scanSkip := b.skip
		if s.aside {
			scanSkip = nil
		}
		snap, err := snapshot.ScanOwned(root, scanSkip, s.owners)
		if err != nil {
			return err
		}
		s.snap = snap
	}
	s.materialized = true
	if !b.eager() {
		took := time.Since(start)
		b.event(ctx, fmt.Sprintf("  files of stage %d made from its base and %d cached layers (%s)", s.index, len(s.layers)-have, took.Round(time.Millisecond)),
			"files", s, slog.Int("cached_layers", len(s.layers)-have), slog.Int64("duration_ms", took.Milliseconds()))
	}
	return nil
}

// fromParent fills root from the parent stage, made first; first starts
// the turn in extractOrder, once the parent is made.
func (b *Solver) fromParent(ctx context.Context, parent, s *stage, ignored rootfs.IgnoreList, first func()) error {
	root := s.root
	if err := b.materialize(ctx, parent); err != nil {
		return err
	}
	b.mu.Lock()
	b.uses[parent.index]--
	last := b.uses[parent.index] == 0
	b.mu.Unlock()
	first()
	switch {
	case ignored != nil:
		if err := rootfs.Wipe(root, ignored); err != nil {
			return err
		}
		// A parent built beside the root may hold paths that are the
		// container's here (its base's /proc, say): they stay the container's.
		opt := filetree.CopyOptions{Exclude: func(rel string) bool { return ignored.Covers("/" + rel) },
			Owners: s.owners, SrcOwners: parent.owners, SrcRoot: parent.root}
		if err := filetree.Copy(parent.root, "", root, "/", opt); err != nil {
			return fmt.Errorf("restoring stage %d: %w", parent.index, err)
		}
	case last:
		// Its last reader: take the directory over once copies are done.
		parent.rw.Lock()
		err := os.Rename(parent.root, root)
		parent.root = root
		s.owners = parent.owners.Clone()
		parent.rw.Unlock()
		if err != nil {
			return fmt.Errorf("taking over stage %d: %w", parent.index, err)
		}
	default:
		parent.rw.RLock()
		err := filetree.Copy(parent.root, "", root, "/", filetree.CopyOptions{Owners: s.owners, SrcOwners: parent.owners, SrcRoot: parent.root})
		parent.rw.RUnlock()
		if err != nil {
			return fmt.Errorf("copying stage %d: %w", parent.index, err)
		}
	}
	return nil
}

// fromBase fills root with the base image's files: the prefetched ones
// if there are, else extracted now. first starts the turn in extractOrder.
func (b *Solver) fromBase(ctx context.Context, s *stage, root string, ignored rootfs.IgnoreList, rank int, first func()) error {
	first()
	if err := os.MkdirAll(root, 0o755); err != nil {
		return fmt.Errorf("creating root: %w", err)
	}
	if ignored != nil {
		if err := rootfs.Wipe(root, ignored); err != nil {
			return err
		}
	}
	if pf := s.prefetch; pf != nil {
		s.prefetch = nil
		pf.urgent.Store(true)
		close(pf.hurry)
		b.order.wake()
		if err := <-pf.done; err != nil {
			return fmt.Errorf("extracting base image: %w", err)
		}
		if err := rootfs.MoveIn(pf.dir, root, ignored); err != nil {
			return err
		}
		os.RemoveAll(pf.dir) // the directories moveIn went into
	} else if err := b.extractBase(ctx, s, root, ignored.Covers, rank, nil); err != nil {
		return fmt.Errorf("extracting base image: %w", err)
	}
	return nil
}

// applyLayer extracts one layer (a cached one) into root.
func (b *Solver) applyLayer(ctx context.Context, l v1.Layer, root string, skip func(string) bool, rank int, t *owners.Table) error {
	lf := b.fetchLayers(ctx, "a cached layer", []v1.Layer{l})
	b.inOrder(lf, rank, nil)
	return lf.extract(root, skip, t)
}

// rank is where stage s's extractions come in extractOrder: the stage in
// the root (in a container) first, then by build order.
func (b *Solver) rank(s *stage) int {
	if b.cfg.Root.Ignored != nil && !s.aside && s.root == b.cfg.Root.Dir {
		return -1
	}
	return slices.Index(b.cfg.Plan.Needed, s.index)
}

// inOrder has an extraction of the given rank pause while one ranked
// before it is under way, until urgent (nil for never) is set.
func (b *Solver) inOrder(lf *layerFetch, rank int, urgent *atomic.Bool) {
	if rank >= 0 {
		lf.pause = func() { b.order.wait(rank, urgent) }
	}
}

// extractBase applies the stage's base image to root, from the download
// initStage started, if it did.
func (b *Solver) extractBase(ctx context.Context, s *stage, root string, skip func(string) bool, rank int, urgent *atomic.Bool) error {
	lf := s.fetch
	s.fetch = nil
	if lf == nil {
		var err error
		if lf, err = b.fetchImage(ctx, b.baseName(s), s.baseLayers); err != nil {
			return err
		}
	}
	b.inOrder(lf, rank, urgent)
	return lf.extract(root, skip, s.owners)
}

// setAside moves a finished stage that later stages read out of "/" (in
// in-container mode "/" belongs to the stage being built next).
func (b *Solver) setAside(s *stage) error {
	dst := filepath.Join(b.cfg.TempDir, fmt.Sprintf("stage-%d", s.index))
	if s.materialized {
		if err := rootfs.MoveAside(s.root, dst, b.cfg.Root.Ignored, b.skip); err != nil {
			return fmt.Errorf("saving stage %d: %w", s.index, err)
		}
	}
	s.root, s.aside = dst, true
	return nil
}

// prefetched is a stage's base extracted beside the root (in-container
// mode) while the stage waits for its turn in it.
type prefetched struct {
	dir    string
	done   chan error
	urgent atomic.Bool   // the stage has its turn and waits for it
	hurry  chan struct{} // closed when urgent is set
}

func (b *Solver) prefetch(ctx context.Context, s *stage) *prefetched {
	pf := &prefetched{dir: filepath.Join(b.cfg.TempDir, fmt.Sprintf("base-%d", s.index)), done: make(chan error, 1), hurry: make(chan struct{})}
	go func() {
		// A few at a time: with a hundred stages waiting for the root,
		// a hundred extractions would hold their buffers at once.
		// The stage whose turn came waits for none: those extracting
		// may be waiting for it (extractOrder).
		select {
		case b.prefetching <- struct{}{}:
			defer func() { <-b.prefetching }()
		case <-pf.hurry:
		case <-ctx.Done():
			pf.done <- ctx.Err()
			return
		}
		if err := os.Mkdir(pf.dir, 0o755); err != nil {
			pf.done <- err
			return
		}
		pf.done <- b.extractBase(ctx, s, pf.dir, b.cfg.Root.Ignored.Covers, slices.Index(b.cfg.Plan.Needed, s.index), &pf.urgent)
	}()
	return pf
}

// baseName is the image stage s starts from, through its parents.
func (b *Solver) baseName(s *stage) string {
	for s.parent != nil {
		s = s.parent
	}
	return b.cfg.Plan.Stages[s.index].Base
}
