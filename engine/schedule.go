package engine

import (
	"context"
	"io"
	"sync"
)

// runConcurrently runs the needed stages, each as soon as the stages it
// reads from are done: independent stages build at the same time, each in
// its own root directory. The first failure cancels the rest.
func (b *builder) runConcurrently(ctx context.Context, needed []int) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := map[int]chan struct{}{}
	for _, i := range needed {
		done[i] = make(chan struct{})
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
			defer close(done[i])
			for _, d := range b.file.Deps(i, b.baseNames) {
				select {
				case <-done[d]:
				case <-ctx.Done():
					return
				}
				if b.stages[d] == nil {
					return // it failed; its error is already kept
				}
			}
			st, err := b.runStage(ctx, i, n+1, len(needed))
			if err != nil {
				mu.Lock()
				if firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
				cancel()
				return
			}
			b.stages[i] = st
		}()
	}
	wg.Wait()
	return firstErr
}

// syncWriter serialises writes of concurrent stages to one writer.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}
