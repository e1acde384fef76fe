package solve

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// schedule is when the stages run.
type schedule struct {
	// done closes per needed stage when it is built or has failed.
	done map[int]chan struct{}
	// turns closes per needed stage when it is done with the Root.Dir or
	// will not use it: the stages that RUN take the root one after the
	// other, in build order.
	turns map[int]*turn
}

// turn is a stage's turn in Root.Dir; endTurn closes over once.
type turn struct {
	over chan struct{}
	once sync.Once
}

// runConcurrently runs the needed stages, each as soon as its base stage
// is built: independent stages build at the same time, each in its own
// directory. A step that reads another stage waits for that one only
// (builtStage). With a Root.Dir (in-container mode), the stages that RUN
// take turns in it, each after all it reads is built; the others build
// beside them in directories of ours. The first failure cancels the rest.
func (b *Solver) runConcurrently(ctx context.Context, stop context.CancelFunc, needed []int) error {
	b.sched = schedule{done: map[int]chan struct{}{}, turns: map[int]*turn{}}
	for _, i := range needed {
		b.sched.done[i], b.sched.turns[i] = make(chan struct{}), &turn{over: make(chan struct{})}
	}
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
	)
	for n, i := range needed {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer close(b.sched.done[i])
			defer b.endTurn(i)
			st, err := b.runStage(ctx, i, n+1, len(needed))
			if err == nil && b.cfg.Root.Dir != "" && !st.aside {
				b.mu.Lock()
				used := b.uses[i] > 0
				b.mu.Unlock()
				if used {
					// The root is about to be the next stage's: keep this one aside.
					err = b.setAside(st)
				}
				b.endTurn(i)
			}
			if err != nil {
				mu.Lock()
				if firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
				stop()
				return
			}
			b.stages[i] = st
		}()
	}
	wg.Wait()
	return firstErr
}

// builtStage waits until stage j, which stage i reads, is built.
func (b *Solver) builtStage(ctx context.Context, i, j int) (*stage, error) {
	name := b.stageName(j)
	done := b.sched.done[j]
	if j >= i || done == nil {
		return nil, fmt.Errorf("stage %q is not built before it is used", name)
	}
	select {
	case <-done:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if st := b.stages[j]; st != nil {
		return st, nil
	}
	return nil, fmt.Errorf("stage %q failed", name)
}

// stageFor is builtStage for a step of stage s, which counts the time it
// waited: the step's line says it, apart from the step's own work.
func (b *Solver) stageFor(ctx context.Context, s *stage, j int) (*stage, error) {
	start := time.Now()
	st, err := b.builtStage(ctx, s.index, j)
	if d := time.Since(start); d > time.Millisecond {
		s.stepWaited += d
		s.stepWaitedOn = b.stageName(j)
	}
	return st, err
}

// takeRoot waits for stage s's turn in Root.Dir: after every stage it
// reads is built (so it never holds the root while it waits on another)
// and every stage before it in build order is done with the root.
func (b *Solver) takeRoot(ctx context.Context, s *stage) error {
	start := time.Now()
	defer func() { s.waited = time.Since(start) }()
	for _, j := range b.cfg.Plan.Deps(s.index) {
		if _, err := b.builtStage(ctx, s.index, j); err != nil {
			return err
		}
	}
	for _, j := range b.cfg.Plan.Needed {
		if j == s.index {
			break
		}
		select {
		case <-b.sched.turns[j].over:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// endTurn says stage i is done with Root.Dir, or will not use it.
func (b *Solver) endTurn(i int) {
	if t := b.sched.turns[i]; t != nil {
		t.once.Do(func() { close(t.over) })
	}
}
