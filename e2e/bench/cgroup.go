//go:build linux

package main

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// memRoot is the cgroup v1 memory hierarchy the bench makes its cgroups in.
const memRoot = "/sys/fs/cgroup/memory"

// benchGroup is the bench's own parent cgroup under memRoot.
const benchGroup = "kb-bench"

// memCgroup is a fresh cgroup v1 memory cgroup for one timed run. Every
// process of the run lives in it or below it (docker --cgroup-parent,
// buildah --cgroup-parent, buildkitd's defaultCgroupParent), so with
// use_hierarchy its memory.max_usage_in_bytes is the run's peak. That
// counter includes page cache (files written, read or cached by the run);
// total_rss, sampled, is the anonymous memory alone.
type memCgroup struct {
	rel string // /kb-bench/<name>, the form --cgroup-parent takes
	dir string

	stop    chan struct{}
	done    chan struct{}
	mu      sync.Mutex
	peakRSS uint64
}

func checkCgroups() error {
	b, err := os.ReadFile(filepath.Join(memRoot, "memory.use_hierarchy"))
	if err != nil {
		return fmt.Errorf("no cgroup v1 memory controller at %s: %w", memRoot, err)
	}
	if strings.TrimSpace(string(b)) != "1" {
		return fmt.Errorf("%s/memory.use_hierarchy is not 1: child cgroups would not count toward their parent", memRoot)
	}
	return os.MkdirAll(filepath.Join(memRoot, benchGroup), 0o755)
}

// newCgroup makes /kb-bench/<name>, removing a leftover of that name
// first, and starts sampling its total_rss every 100ms.
func newCgroup(name string) (*memCgroup, error) {
	rel := "/" + benchGroup + "/" + name
	dir := filepath.Join(memRoot, benchGroup, name)
	if _, err := os.Stat(dir); err == nil {
		if err := removeCgroupTree(dir); err != nil {
			return nil, err
		}
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		return nil, fmt.Errorf("making cgroup: %w", err)
	}
	c := &memCgroup{rel: rel, dir: dir, stop: make(chan struct{}), done: make(chan struct{})}
	go c.sample()
	return c, nil
}

func (c *memCgroup) sample() {
	defer close(c.done)
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		if rss, err := statValue(c.dir, "total_rss"); err == nil {
			c.mu.Lock()
			c.peakRSS = max(c.peakRSS, rss)
			c.mu.Unlock()
		}
		select {
		case <-c.stop:
			return
		case <-t.C:
		}
	}
}

// peaks stops the sampling and returns memory.max_usage_in_bytes and the
// largest total_rss seen.
func (c *memCgroup) peaks() (maxUsage, peakRSS uint64, err error) {
	select {
	case <-c.stop:
	default:
		close(c.stop)
	}
	<-c.done
	b, err := os.ReadFile(filepath.Join(c.dir, "memory.max_usage_in_bytes"))
	if err != nil {
		return 0, 0, err
	}
	maxUsage, err = strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	c.mu.Lock()
	defer c.mu.Unlock()
	return maxUsage, c.peakRSS, err
}

// resetPeaks starts the peaks over: what ran before (a cached builder's
// priming build) does not count toward the timed run.
func (c *memCgroup) resetPeaks() error {
	c.mu.Lock()
	c.peakRSS = 0
	c.mu.Unlock()
	return os.WriteFile(filepath.Join(c.dir, "memory.max_usage_in_bytes"), []byte("0"), 0o644)
}

// procsFile is where a process writes its PID to join the cgroup.
func (c *memCgroup) procsFile() string { return filepath.Join(c.dir, "cgroup.procs") }

// remove removes the cgroup and the ones the runtimes made below it. It
// fails while a process is still inside.
func (c *memCgroup) remove() error {
	select {
	case <-c.stop:
	default:
		close(c.stop)
	}
	<-c.done
	return removeCgroupTree(c.dir)
}

// removeCgroupTree removes dir and its child cgroups, deepest first; a
// cgroup is a directory of control files that only rmdir removes.
func removeCgroupTree(dir string) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return err
	}
	for _, e := range ents {
		if e.IsDir() {
			if err := removeCgroupTree(filepath.Join(dir, e.Name())); err != nil {
				return err
			}
		}
	}
	// A runtime may still be tearing a child down: retry briefly.
	for i := 0; ; i++ {
		err := os.Remove(dir)
		if err == nil || errors.Is(err, os.ErrNotExist) {
			return nil
		}
		if i == 50 {
			return fmt.Errorf("removing cgroup %s: %w", dir, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func statValue(dir, key string) (uint64, error) {
	f, err := os.Open(filepath.Join(dir, "memory.stat"))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		k, v, ok := strings.Cut(s.Text(), " ")
		if ok && k == key {
			return strconv.ParseUint(v, 10, 64)
		}
	}
	return 0, fmt.Errorf("%s not in memory.stat", key)
}
