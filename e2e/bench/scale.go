//go:build linux

package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// The scale cases show how our cost grows with the size of a build: the
// number of files, the size of one file, the number of steps and stages,
// and builds at once. Their contexts are generated; only our executor
// image builds them (BENCH_SCALE_BUILDERS may add peers), once each
// (BENCH_SCALE_RUNS).
var allScale = []string{
	"files-100k", "files-300k", "files-1m",
	"bigfile-10g",
	"steps-100", "steps-500",
	"stages-20", "stages-100",
	"concurrent-32",
}

// scaleCase is one generated context and what it is made of.
type scaleCase struct {
	name  string
	unit  string // what grows: files, bytes, steps, builds
	count int    // how many of them
	// dockerfile is the Dockerfile, bases as {{busybox}} (any base's name).
	dockerfile string
	// files writes what the context holds besides the Dockerfile.
	files func(dir string) error
	// parallel builds run at once (concurrent-N).
	parallel int
}

func scaleCases() map[string]scaleCase {
	m := map[string]scaleCase{}
	for _, n := range []struct {
		name  string
		files int
	}{{"files-100k", 100_000}, {"files-300k", 300_000}, {"files-1m", 1_000_000}} {
		m[n.name] = scaleCase{
			name: n.name, unit: "files", count: n.files,
			// The RUN makes the COPY land (a later step reads its files)
			// and diffs two snapshots of the whole tree.
			dockerfile: "FROM {{busybox}}\nCOPY files/ /data/\nRUN find /data -type f | wc -l > /count\n",
			files: func(dir string) error {
				return generateTiny(filepath.Join(dir, "files"), n.files, n.files/1000)
			},
		}
	}
	const tenGiB = 10 << 30
	m["bigfile-10g"] = scaleCase{
		name: "bigfile-10g", unit: "bytes", count: tenGiB,
		dockerfile: fmt.Sprintf("FROM {{busybox}}\nRUN head -c %d /dev/urandom > /big\n", tenGiB),
	}
	for _, n := range []int{100, 500} {
		var df strings.Builder
		df.WriteString("FROM {{busybox}}\nRUN mkdir /steps\n")
		for i := 2; i <= n; i++ {
			if i%2 == 0 {
				fmt.Fprintf(&df, "RUN echo %d > /steps/%d\n", i, i)
			} else {
				fmt.Fprintf(&df, "ENV STEP_%d=%d\n", i, i)
			}
		}
		name := fmt.Sprintf("steps-%d", n)
		m[name] = scaleCase{name: name, unit: "steps", count: n, dockerfile: df.String()}
	}
	for _, n := range []int{20, 100} {
		// n-1 stages of two steps, and a final one copying from each.
		var df strings.Builder
		for i := 1; i < n; i++ {
			fmt.Fprintf(&df, "FROM {{busybox}} AS s%d\nRUN echo %d > /n\n", i, i)
		}
		df.WriteString("FROM {{busybox}}\n")
		for i := 1; i < n; i++ {
			fmt.Fprintf(&df, "COPY --from=s%d /n /out/%d\n", i, i)
		}
		name := fmt.Sprintf("stages-%d", n)
		m[name] = scaleCase{name: name, unit: "steps", count: 3*(n-1) + 1, dockerfile: df.String()}
	}
	m["concurrent-32"] = scaleCase{
		name: "concurrent-32", unit: "builds", count: 32, parallel: 32,
		dockerfile: "FROM {{busybox}}\nRUN echo built > /built\nCOPY files/ /files/\n",
		files:      func(dir string) error { return generateFiles(filepath.Join(dir, "files"), 200, 10) },
	}
	return m
}

// generateTiny writes n small files (one line, 10 to 40 bytes) spread
// over dirs directories under root.
func generateTiny(root string, n, dirs int) error {
	for d := 0; d < dirs; d++ {
		if err := os.MkdirAll(filepath.Join(root, fmt.Sprintf("d%04d", d)), 0o755); err != nil {
			return err
		}
	}
	for i := 0; i < n; i++ {
		body := fmt.Sprintf("file %d %s\n", i, strings.Repeat("x", i%31))
		if err := os.WriteFile(filepath.Join(root, fmt.Sprintf("d%04d", i%dirs), fmt.Sprintf("f%07d", i)), []byte(body), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// prepareScale writes the context of a scale case.
func prepareScale(sc scaleCase, dst string, b bases) error {
	if err := os.RemoveAll(dst); err != nil {
		return err
	}
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return err
	}
	df := sc.dockerfile
	for k, ref := range b {
		df = strings.ReplaceAll(df, "{{"+k+"}}", ref)
	}
	if err := os.WriteFile(filepath.Join(dst, "Dockerfile"), []byte(df), 0o644); err != nil {
		return err
	}
	if sc.files != nil {
		if err := sc.files(dst); err != nil {
			return fmt.Errorf("preparing %s: %w", sc.name, err)
		}
	}
	return nil
}

// scaleRow is one scale case's result, the cost per unit beside it.
type scaleRow struct {
	Case            string  `json:"case"`
	Builder         string  `json:"builder"`
	Unit            string  `json:"unit"`
	Count           int     `json:"count"`
	Seconds         float64 `json:"seconds"`
	PeakRSSBytes    uint64  `json:"peak_rss_bytes,omitempty"`
	PeakBytes       uint64  `json:"peak_bytes,omitempty"`
	SecondsPerUnit  float64 `json:"seconds_per_unit"`
	RSSBytesPerUnit float64 `json:"rss_bytes_per_unit,omitempty"`
	Landed          int     `json:"landed,omitempty"` // concurrent builds whose image is in the registry
	Error           string  `json:"error,omitempty"`
}

// benchScale times each scale case with each scale builder.
func benchScale(ctx context.Context, c config, e *env, b bases) ([]scaleRow, error) {
	cases := scaleCases()
	all := builders()
	var rows []scaleRow
	for _, caseName := range c.scale {
		sc := cases[caseName]
		dir := filepath.Join(e.work, "scale", caseName)
		fmt.Fprintf(os.Stderr, "bench: scale %s: generating the context\n", caseName)
		if err := prepareScale(sc, dir, b); err != nil {
			return nil, err
		}
		var cleanups []func()
		for _, bn := range c.scaleBuilders {
			bd := all[bn]
			if sc.parallel > 0 {
				bd = parallelBuilder(bd, sc.parallel)
			}
			for n := 1; n <= c.scaleRuns; n++ {
				s, _ := timeRun(ctx, c, e, bd, caseName, dir, n, &cleanups)
				row := scaleRow{Case: caseName, Builder: bn, Unit: sc.unit, Count: sc.count, Seconds: s.Seconds,
					PeakRSSBytes: s.PeakRSSBytes, PeakBytes: s.PeakBytes, Error: s.Error}
				row.SecondsPerUnit = s.Seconds / float64(sc.count)
				if sc.unit == "files" {
					row.RSSBytesPerUnit = float64(s.PeakRSSBytes) / float64(sc.count)
				}
				if sc.parallel > 0 && s.Error == "" {
					row.Landed = sc.parallel
				}
				status := s.status()
				fmt.Fprintf(os.Stderr, "bench: scale %-13s %-9s run %d/%d: %s\n", caseName, bn, n, c.scaleRuns, status)
				rows = append(rows, row)
				if err := ctx.Err(); err != nil {
					return nil, err
				}
			}
		}
		for _, f := range cleanups {
			f()
		}
		if !c.keep {
			os.RemoveAll(dir)
		}
		e.deleted()
	}
	return rows, nil
}

// parallelBuilder runs n builds of b at once, in one cgroup, each to its
// own tag; the run fails unless every image is in the registry.
func parallelBuilder(b *builder, n int) *builder {
	p := *b
	p.name = fmt.Sprintf("%s-x%d", b.name, n)
	var mu sync.Mutex
	started := map[string][]*run{}
	p.build = func(ctx context.Context, e *env, r *run) error {
		var wg sync.WaitGroup
		var logMu sync.Mutex
		errs := make([]error, n)
		subs := make([]*run, n)
		for i := range n {
			sub := *r
			sub.id = fmt.Sprintf("%s-%d", r.id, i)
			sub.ref = fmt.Sprintf("%s-%d:latest", strings.TrimSuffix(r.ref, ":latest"), i)
			sub.log = &prefixWriter{mu: &logMu, w: r.log, prefix: fmt.Sprintf("[%d] ", i)}
			subs[i] = &sub
		}
		mu.Lock()
		started[r.id] = subs
		mu.Unlock()
		for i, sub := range subs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = b.build(ctx, e, sub)
			}()
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			return err
		}
		for _, sub := range subs {
			ref, err := name.ParseReference(sub.ref)
			if err == nil {
				_, err = remote.Head(ref, remote.WithContext(ctx))
			}
			if err != nil {
				return fmt.Errorf("build %s did not land: %w", sub.id, err)
			}
		}
		return nil
	}
	// timeRun looks for no tag of the run's own: each build checked its.
	p.pushesNothing = true
	p.cleanup = func(ctx context.Context, e *env, r *run) {
		mu.Lock()
		subs := started[r.id]
		mu.Unlock()
		if b.cleanup != nil {
			for _, sub := range subs {
				b.cleanup(ctx, e, sub)
			}
		}
	}
	return &p
}

// prefixWriter prefixes each write, one build's lines among many.
type prefixWriter struct {
	mu     *sync.Mutex
	w      io.Writer
	prefix string
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	_, err := p.w.Write(append([]byte(p.prefix), b...))
	return len(b), err
}

func checkScale(names []string) error {
	for _, n := range names {
		if !slices.Contains(allScale, n) {
			return fmt.Errorf("unknown scale case %q (have %s)", n, strings.Join(allScale, ", "))
		}
	}
	return nil
}

// keepEarlier carries over, from the results.json at path, the part this
// run did not measure: the peers' table when only scale cases ran, the
// rows of the scale cases that did not run, the multi-platform rows when
// that case did not run.
func keepEarlier(rep *report, path string, peers bool) {
	js, err := os.ReadFile(path)
	if err != nil {
		return
	}
	var old report
	if json.Unmarshal(js, &old) != nil {
		return
	}
	ran := map[string]bool{}
	for _, r := range rep.Scale {
		ran[r.Case] = true
	}
	var scale []scaleRow
	for _, name := range allScale {
		from := old.Scale
		if ran[name] {
			from = rep.Scale
		}
		for _, r := range from {
			if r.Case == name {
				scale = append(scale, r)
			}
		}
	}
	rep.Scale = scale
	if len(rep.Platforms) == 0 {
		rep.Platforms = old.Platforms
	}
	if !peers {
		rep.Results, rep.OursSteps, rep.Floors, rep.RunsEach = old.Results, old.OursSteps, old.Floors, old.RunsEach
	}
}

// printScale prints the scale rows with the cost per unit, and how it
// grows from the smaller case of a kind to the larger.
func printScale(w io.Writer, rows []scaleRow) {
	if len(rows) == 0 {
		return
	}
	row := "%-14s %-12s %10s %10s %14s %16s %s\n"
	fmt.Fprintf(w, "\nScale: how our cost grows\n\n")
	fmt.Fprintf(w, row, "case", "builder", "time", "peak rss", "time/unit", "rss/unit", "")
	for _, r := range rows {
		t, rss, per, rssPer, note := "fail", "-", "-", "-", ""
		if r.Error == "" {
			t, rss = fmt.Sprintf("%.2fs", r.Seconds), mib(r.PeakRSSBytes)
			per = perUnit(r.SecondsPerUnit, r.Unit)
			if r.RSSBytesPerUnit > 0 {
				rssPer = fmt.Sprintf("%.0f B/%s", r.RSSBytesPerUnit, strings.TrimSuffix(r.Unit, "s"))
			}
			if r.Landed > 0 {
				note = fmt.Sprintf("%d of %d landed", r.Landed, r.Count)
			}
		} else {
			note = r.Error
		}
		fmt.Fprintf(w, row, r.Case, r.Builder, t, rss, per, rssPer, note)
	}
}

func perUnit(s float64, unit string) string {
	switch unit {
	case "bytes":
		return fmt.Sprintf("%.0f MB/s", 1/s/1e6)
	case "files":
		return fmt.Sprintf("%.1f µs/file", s*1e6)
	case "steps":
		return fmt.Sprintf("%.1f ms/step", s*1e3)
	default:
		return fmt.Sprintf("%.2f s/%s", s, strings.TrimSuffix(unit, "s"))
	}
}
