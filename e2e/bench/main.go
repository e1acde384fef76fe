//go:build linux

// Command bench times cold builds of the contexts under contexts/ with our
// executor and its peers (Kaniko, BuildKit, buildah, docker's legacy
// builder), each pushing to a local registry, and prints one table: median
// wall time and peak memory per context and builder, our time divided by
// each peer's, and a floor (tar | pigz of the same filesystem). It also
// writes results.json and results.png. `make bench` runs it after
// e2e/setup.sh, make image and peers.sh; see README.md here.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"golang.org/x/sys/unix"

	"github.com/kaniko-build/kaniko-build/e2e/registry"
)

type config struct {
	runs        int
	contexts    []string
	builders    []string
	cached      []string // contexts also rebuilt fully cached
	floor       bool
	dir         string // this directory, with contexts/
	out         string // where results.json and results.png go
	cache       string
	executor    string
	image       string
	kanikoImage string
	buildkitDir string
	keep        bool
	timeout     time.Duration
	settle      string
	// scale cases (scale.go), the builders that build them, runs each
	scale         []string
	scaleBuilders []string
	scaleRuns     int
	// builders of the multi-platform case (platforms.go)
	platformBuilders []string
}

func main() {
	home, _ := os.UserHomeDir()
	cache := envOr("BENCH_CACHE", filepath.Join(home, ".cache", "kaniko-build-bench"))
	runs, err := strconv.Atoi(envOr("BENCH_RUNS", "5"))
	if err != nil || runs < 1 {
		fmt.Fprintln(os.Stderr, "bench: BENCH_RUNS must be a positive number")
		os.Exit(2)
	}
	c := config{runs: runs}
	var contexts, builders, cached, scale, scaleBuilders, platforms string
	flag.IntVar(&c.runs, "runs", runs, "timed runs per context and builder; the fastest, median and slowest are reported (env BENCH_RUNS)")
	flag.StringVar(&contexts, "contexts", envOr("BENCH_CONTEXTS", strings.Join(allContexts, ",")), "contexts to build (env BENCH_CONTEXTS)")
	flag.StringVar(&builders, "builders", envOr("BENCH_BUILDERS", strings.Join(allBuilders, ",")), "builders to time (env BENCH_BUILDERS)")
	flag.StringVar(&cached, "cached", envOr("BENCH_CACHED", "apt,manyfiles"), "contexts also rebuilt fully cached by each builder's -cached variant; none for no rebuilds (env BENCH_CACHED)")
	flag.StringVar(&scale, "scale", envOr("BENCH_SCALE", strings.Join(allScale, ",")), "scale cases, how our cost grows (see scale.go); none for none (env BENCH_SCALE)")
	flag.StringVar(&scaleBuilders, "scale-builders", envOr("BENCH_SCALE_BUILDERS", "ours"), "builders of the scale cases (env BENCH_SCALE_BUILDERS)")
	flag.IntVar(&c.scaleRuns, "scale-runs", envInt("BENCH_SCALE_RUNS", 1), "runs of each scale case (env BENCH_SCALE_RUNS)")
	flag.StringVar(&platforms, "platforms", envOr("BENCH_PLATFORMS", strings.Join(allPlatformBuilders, ",")), "builders of the multi-platform case (see platforms.go); none for none (env BENCH_PLATFORMS)")
	flag.BoolVar(&c.floor, "floor", envOr("BENCH_FLOOR", "1") != "0", "time the floor, tar | pigz of our image's filesystem (env BENCH_FLOOR=0 to skip)")
	flag.StringVar(&c.dir, "dir", "e2e/bench", "the bench directory, with contexts/")
	flag.StringVar(&c.out, "out", envOr("BENCH_OUT", "e2e/bench"), "directory for results.json and results.png (env BENCH_OUT)")
	flag.StringVar(&c.cache, "cache", cache, "peers.sh's output: Kaniko, BuildKit, the Debian base (env BENCH_CACHE)")
	flag.StringVar(&c.executor, "executor", envOr("BENCH_EXECUTOR", "bin/executor"), "our executor on the host (env BENCH_EXECUTOR)")
	flag.StringVar(&c.image, "image", envOr("BENCH_IMAGE", "kaniko-build/executor:latest"), "our executor image (env BENCH_IMAGE)")
	flag.StringVar(&c.kanikoImage, "kaniko-image", envOr("BENCH_KANIKO_IMAGE", "kaniko-bench/executor:v1.24.0"), "Kaniko's image, made by peers.sh")
	flag.StringVar(&c.buildkitDir, "buildkit", envOr("BENCH_BUILDKIT", ""), "directory with buildkitd and buildctl (default: the newest buildkit-* in the cache)")
	flag.BoolVar(&c.keep, "keep", os.Getenv("BENCH_KEEP") != "", "keep the work directory: contexts, logs, registry (env BENCH_KEEP)")
	flag.DurationVar(&c.timeout, "timeout", 30*time.Minute, "limit for one build")
	flag.StringVar(&c.settle, "settle", envOr("BENCH_SETTLE", "auto"), "pause between a deletion and a timed run: a duration, or auto (61s on ext4 without a journal, else 0; see settle.go) (env BENCH_SETTLE)")
	redraw := flag.Bool("redraw", false, "draw results.png again from the results.json in -out, and time nothing")
	flag.Parse()
	if *redraw {
		if err := redrawChart(c.out); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		return
	}
	if contexts != "none" {
		c.contexts = splitList(contexts)
	}
	c.builders = splitList(builders)
	if scale != "none" {
		c.scale = splitList(scale)
	}
	c.scaleBuilders = splitList(scaleBuilders)
	if platforms != "none" {
		c.platformBuilders = splitList(platforms)
	}
	if cached != "none" {
		c.cached = splitList(cached)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err = bench(ctx, c)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// redrawChart draws dir's results.png from its results.json.
func redrawChart(dir string) error {
	js, err := os.ReadFile(filepath.Join(dir, "results.json"))
	if err != nil {
		return err
	}
	var rep report
	if err := json.Unmarshal(js, &rep); err != nil {
		return fmt.Errorf("reading results.json: %w", err)
	}
	return writeChart(filepath.Join(dir, "results.png"), &rep)
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// envInt is $k as a number, def when unset; anything else ends the run.
func envInt(k string, def int) int {
	v := os.Getenv(k)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench: %s=%s: want a number\n", k, v)
		os.Exit(2)
	}
	return n
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// sample is one timed run.
type sample struct {
	Seconds      float64 `json:"seconds"`
	PeakBytes    uint64  `json:"peak_bytes,omitempty"`
	PeakRSSBytes uint64  `json:"peak_rss_bytes,omitempty"`
	Error        string  `json:"error,omitempty"`
	log          string
}

// status is how one run went, for the progress lines.
func (s sample) status() string {
	if s.Error != "" {
		return "FAILED: " + s.Error + " (log " + s.log + ")"
	}
	return fmt.Sprintf("%.2fs, peak rss %s", s.Seconds, mib(s.PeakRSSBytes))
}

// result is one builder on one context.
type result struct {
	Context            string   `json:"context"`
	Builder            string   `json:"builder"`
	Runs               []sample `json:"runs"`
	MinSeconds         float64  `json:"min_seconds,omitempty"`
	MedianSeconds      float64  `json:"median_seconds,omitempty"`
	MaxSeconds         float64  `json:"max_seconds,omitempty"`
	MedianPeakBytes    uint64   `json:"median_peak_bytes,omitempty"`
	MedianPeakRSSBytes uint64   `json:"median_peak_rss_bytes,omitempty"`
	MemoryNA           string   `json:"memory_na,omitempty"`
	// OursOverThis is our median time divided by this one's: above 1, we
	// are slower.
	OursOverThis float64 `json:"ours_over_this,omitempty"`
	// Verdict, for a peer's row: win, loss or within noise (see verdict).
	Verdict string `json:"verdict,omitempty"`
	Failed  int    `json:"failed,omitempty"`
	// How the row's layers were compressed (compression.go).
	compression
	// Scratch is where the builder writes its files during a build (its
	// storage, its root filesystem, its temporary directory), and
	// ScratchFS that directory's filesystem: device and type.
	Scratch    string `json:"scratch,omitempty"`
	ScratchFS  string `json:"scratch_fs,omitempty"`
	scratchDev string // major:minor, to compare
}

type report struct {
	Date      time.Time           `json:"date"`
	Machine   map[string]string   `json:"machine"`
	Versions  map[string]string   `json:"versions"`
	RunsEach  int                 `json:"runs_each"`
	Notes     []string            `json:"notes"`
	Results   []*result           `json:"results"`
	OursSteps map[string][]string `json:"ours_steps"` // per context: our log's timing lines, median run
	Floors    map[string]string   `json:"floors"`
	Scale     []scaleRow          `json:"scale,omitempty"`
	// Platforms are the multi-platform case's runs (platforms.go).
	Platforms []scaleRow `json:"platforms,omitempty"`
}

var notes = []string{
	"cold builds: no build cache, base images already in the local registry, never on the builder's machine-local storage; every builder pushes to the same local Distribution registry on 127.0.0.1",
	"time: wall clock of the build and push (ours, kaniko: docker run of the executor image; docker: docker build + docker push; buildah: bud + push; buildkit: buildctl build with push=true, daemon already started; -exec rows, when asked for: docker exec of /kaniko/executor in a container started beforehand, as a Tekton step or a Jenkins agent runs it)",
	"peak mem: cgroup v1 memory.max_usage_in_bytes of a fresh cgroup holding every process of the run; cgroup v1 counts page cache in it (files written or read), so it tracks I/O volume as much as memory",
	"peak rss: the largest total_rss (anonymous memory) of that cgroup, sampled every 100 ms",
	"time is the median of the runs, the builders' order rotated from one round of runs to the next; range: the fastest and the slowest run",
	"compression: gzip level 1 wherever a builder lets it be set (ours and kaniko --compression=gzip --compression-level=1, their default too; buildkit compression=gzip,compression-level=1,force-compression=true; buildah push --compression-format=gzip --compression-level=1; the floors pigz -1); docker's legacy builder cannot be set and compresses at Go's default level, 6; each row records its own",
	"floor: " + floorShown() + " of our image's flattened filesystem (floor) and of the layers it adds to its base (floor-added): the tar, its compression at level 1 on all cores, and both sha256 digests a builder computes for a layer, with nothing else",
	"ours/this: our median time divided by this row's; above 1 we are slower",
	"verdict: a peer's row is a win only when our slowest run is faster than its median, a loss only when its slowest run is faster than our median, else within noise",
	"container-start-cached: docker run of our image as ours-cached runs it (mounts, host network, cgroup), the executor printing its version and no build: the container's start and stop, which ours and Kaniko pay and the other builders do not",
}

func bench(ctx context.Context, c config) error {
	if os.Geteuid() != 0 {
		return errors.New("must run as root (cgroups, docker, buildah, buildkitd)")
	}
	for _, ctxName := range c.contexts {
		if !slices.Contains(allContexts, ctxName) {
			return fmt.Errorf("unknown context %q (have %s)", ctxName, strings.Join(allContexts, ", "))
		}
	}
	if err := checkScale(c.scale); err != nil {
		return err
	}
	if err := checkPlatformBuilders(c.platformBuilders); err != nil {
		return err
	}
	if c.scaleRuns < 1 {
		return errors.New("BENCH_SCALE_RUNS must be a positive number")
	}
	all := builders()
	for _, b := range c.scaleBuilders {
		if all[b] == nil || strings.HasSuffix(b, cachedSuffix) {
			return fmt.Errorf("unknown scale builder %q", b)
		}
	}
	for _, b := range c.builders {
		if all[b] == nil || strings.HasSuffix(b, cachedSuffix) {
			return fmt.Errorf("unknown builder %q (have %s; -cached variants run on the -cached contexts)", b, strings.Join(append(slices.Clone(allBuilders), execBuilders...), ", "))
		}
	}
	for _, ctxName := range c.cached {
		if !slices.Contains(c.contexts, ctxName) {
			return fmt.Errorf("-cached context %q is not among the contexts built", ctxName)
		}
	}
	if c.buildkitDir == "" {
		m, _ := filepath.Glob(filepath.Join(c.cache, "buildkit-v*"))
		sort.Strings(m)
		if len(m) > 0 {
			c.buildkitDir = m[len(m)-1]
		}
	}
	exe, err := filepath.Abs(c.executor)
	if err != nil {
		return err
	}
	if err := checkCgroups(); err != nil {
		return err
	}
	// Beside dockerd's storage, which holds the containers' root
	// filesystems: every builder writes on one filesystem.
	dockerRoot := dockerRoot()
	work, err := os.MkdirTemp(filepath.Dir(dockerRoot), "kb-bench-")
	if err != nil {
		return err
	}
	if c.keep {
		fmt.Fprintf(os.Stderr, "bench: work directory %s (kept)\n", work)
	} else {
		defer os.RemoveAll(work)
	}
	e := &env{work: work, executor: exe, image: c.image, kanikoImage: c.kanikoImage, buildkitDir: c.buildkitDir,
		dockerRoot: dockerRoot}
	if err := os.MkdirAll(hostScratch(e), 0o1777); err != nil {
		return err
	}
	settleWhy := ""
	if c.settle == "auto" {
		e.settle, settleWhy = autoSettle(work, dockerRoot)
	} else if e.settle, err = time.ParseDuration(c.settle); err != nil {
		return fmt.Errorf("-settle %q: want a duration or auto", c.settle)
	}
	if e.settle > 0 {
		if settleWhy == "" {
			settleWhy = "set by -settle"
		}
		fmt.Fprintf(os.Stderr, "bench: each timed run starts %s after the last large deletion: %s\n", e.settle, settleWhy)
		// What ran before the bench (make image, the test suites) may
		// have just deleted many files: the first run waits too.
		e.deleted()
	}
	toCheck := append(slices.Clone(c.builders), c.scaleBuilders...)
	if len(c.cached) > 0 {
		for _, b := range c.builders {
			if all[b+cachedSuffix] != nil {
				toCheck = append(toCheck, b+cachedSuffix)
			}
		}
	}
	for _, b := range toCheck {
		if err := all[b].check(e); err != nil {
			return fmt.Errorf("%s is not ready: %w", b, err)
		}
	}
	for _, b := range c.platformBuilders {
		if err := platformBuilders()[b].check(e); err != nil {
			return fmt.Errorf("%s is not ready: %w", b, err)
		}
	}
	if c.floor {
		if _, err := exec.LookPath("pigz"); err != nil {
			return fmt.Errorf("the floor needs pigz (e2e/bench/peers.sh): %w", err)
		}
	}

	// Every run pushes an image of its own, so a context's images (25 of
	// 512 MiB for bigfile) stay until the registry goes: each context gets
	// a new, empty one, its bases pushed untimed.
	var reg *registry.Registry
	var b bases
	freshRegistry := func() error {
		if reg != nil {
			reg.Close()
			if err := os.RemoveAll(filepath.Join(work, "registry")); err != nil {
				return err
			}
		}
		var err error
		if reg, err = registry.Start(ctx, registry.Options{Dir: filepath.Join(work, "registry")}); err != nil {
			return err
		}
		e.registry = reg.Host
		fmt.Fprintf(os.Stderr, "bench: registry %s; pushing base images\n", reg.Host)
		b, err = pushBases(ctx, reg.Host, c.cache, slices.Contains(c.contexts, "apt"), len(c.platformBuilders) > 0)
		return err
	}
	if err := freshRegistry(); err != nil {
		return err
	}
	defer func() { reg.Close() }()

	runNotes := slices.Clone(notes)
	if e.settle > 0 {
		runNotes = append(runNotes, fmt.Sprintf("settle: each timed run started %s after the bench's start and after the last run or cleanup that freed %d inodes or more, and after a sync, because %s", e.settle, manyInodes, settleWhy))
	}
	rep := &report{
		Date: time.Now().UTC(), RunsEach: c.runs, Notes: runNotes,
		Machine: machine(), Versions: versions(c, e),
		OursSteps: map[string][]string{}, Floors: map[string]string{},
	}
	// Cleanups of the runs, done at the end of each context (deleting
	// many files then makes the next run wait: settle.go), sooner when
	// the disk runs low (freeEarly), or on the way out.
	var cleanups []func()
	runCleanups := func() {
		for _, f := range cleanups {
			f()
		}
		cleanups = nil
	}
	defer runCleanups()
	for i, ctxName := range c.contexts {
		if i > 0 {
			if err := freshRegistry(); err != nil {
				return err
			}
		}
		dir := filepath.Join(work, "ctx", ctxName)
		if err := prepareContext(filepath.Join(c.dir, "contexts", ctxName), dir, b); err != nil {
			return err
		}
		names := slices.Clone(c.builders)
		if slices.Contains(c.cached, ctxName) {
			for _, b := range c.builders {
				if all[b+cachedSuffix] != nil {
					names = append(names, b+cachedSuffix)
				}
			}
			if slices.Contains(c.builders, "ours") {
				names = append(names, containerStart+cachedSuffix)
			}
		}
		byBuilder := map[string]*result{}
		for _, name := range names {
			byBuilder[name] = newResult(e, all[name], ctxName)
		}
		lastOurs := ""
		for n := 1; n <= c.runs; n++ {
			// Rotate the order, so that no builder always runs right
			// after the same one.
			order := slices.Clone(names)
			k := (n - 1) % len(order)
			order = append(order[k:], order[:k]...)
			for _, name := range order {
				if err := ctx.Err(); err != nil {
					return err
				}
				s, ref := timeRun(ctx, c, e, all[name], ctxName, dir, n, &cleanups)
				res := byBuilder[name]
				res.Runs = append(res.Runs, s)
				status := fmt.Sprintf("%.2fs", s.Seconds)
				if s.PeakBytes > 0 {
					status += fmt.Sprintf(", peak %s, rss %s", mib(s.PeakBytes), mib(s.PeakRSSBytes))
				}
				if s.Error != "" {
					status = "FAILED: " + s.Error + " (log " + s.log + ")"
				}
				fmt.Fprintf(os.Stderr, "bench: %-10s %-9s run %d/%d: %s\n", ctxName, name, n, c.runs, status)
				if name == "ours" && s.Error == "" {
					lastOurs = ref
				}
				freeEarly(e, runCleanups)
			}
		}
		runCleanups()
		e.deleted()
		for _, name := range names {
			res := byBuilder[name]
			summarize(res)
			rep.Results = append(rep.Results, res)
			if name == "ours" || name == "ours"+cachedSuffix || name == "ours-exec" || name == "ours-exec"+cachedSuffix {
				if s, ok := medianRun(res); ok {
					log, _ := os.ReadFile(s.log)
					rep.OursSteps[ctxName+strings.TrimPrefix(name, "ours")] = stepLines(string(log))
				}
			}
		}
		if c.floor && lastOurs != "" {
			froms, err := fromRefs(filepath.Join(dir, "Dockerfile"))
			if err != nil {
				return err
			}
			full, added := filepath.Join(work, "floor", ctxName, "full"), filepath.Join(work, "floor", ctxName, "added")
			if err := exportFilesystems(ctx, lastOurs, froms[len(froms)-1], full, added); err != nil {
				return fmt.Errorf("floor of %s: %w", ctxName, err)
			}
			rep.Floors[ctxName] = lastOurs
			for _, f := range []struct{ name, dir string }{{"floor", full}, {"floor-added", added}} {
				res := newResult(e, &builder{name: f.name, scratch: func(*env) string { return filepath.Join(work, "floor") }}, ctxName)
				for n := 1; n <= c.runs; n++ {
					s := timeFloor(ctx, work, ctxName, f.name, f.dir, n)
					res.Runs = append(res.Runs, s)
					fmt.Fprintf(os.Stderr, "bench: %-10s %-9s run %d/%d: %.2fs\n", ctxName, f.name, n, c.runs, s.Seconds)
				}
				summarize(res)
				rep.Results = append(rep.Results, res)
			}
			if !c.keep {
				os.RemoveAll(filepath.Join(work, "floor", ctxName))
				e.deleted()
			}
		}
		ratios(rep.Results, ctxName)
		if !c.keep {
			os.RemoveAll(dir)
			e.deleted()
		}
	}

	if len(c.scale) > 0 {
		if rep.Scale, err = benchScale(ctx, c, e, b); err != nil {
			return err
		}
	}
	if len(c.platformBuilders) > 0 {
		if rep.Platforms, err = benchPlatformsCase(ctx, c, e, b); err != nil {
			return err
		}
	}
	if n := scratchNote(rep.Results); n != "" {
		rep.Notes = append(rep.Notes, n)
	}
	rep.Machine["loadavg_end"] = loadavg()
	if len(c.contexts) > 0 {
		printTable(os.Stdout, rep)
	}
	printScale(os.Stdout, rep.Scale)
	printPlatforms(os.Stdout, rep.Platforms)
	keepEarlier(rep, filepath.Join(c.out, "results.json"), len(c.contexts) > 0)
	js, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(c.out, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(c.out, "results.json"), append(js, '\n'), 0o644); err != nil {
		return err
	}
	if err := writeChart(filepath.Join(c.out, "results.png"), rep); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "bench: wrote %s and %s\n", filepath.Join(c.out, "results.json"), filepath.Join(c.out, "results.png"))
	return nil
}

// newResult is the row of builder b on a context, its compression and
// scratch recorded.
func newResult(e *env, b *builder, ctxName string) *result {
	r := &result{Context: ctxName, Builder: b.name, MemoryNA: b.memoryNA, compression: compressionOf(b.name)}
	if b.scratch != nil {
		r.Scratch = b.scratch(e)
		r.ScratchFS, r.scratchDev = filesystemOf(r.Scratch)
	}
	return r
}

// filesystemOf is the device and type of the mount holding dir, with
// the st_dev of dir (or of its nearest existing parent: a builder may
// make it only when it runs), which tells two bind mounts of one
// filesystem from two filesystems.
func filesystemOf(dir string) (string, string) {
	mounts, _ := os.ReadFile("/proc/self/mounts")
	dev, fstype := mountOf(string(mounts), dir)
	var st syscall.Stat_t
	for d := dir; ; d = filepath.Dir(d) {
		if err := syscall.Stat(d, &st); err == nil {
			stDev := fmt.Sprintf("%d:%d", unix.Major(st.Dev), unix.Minor(st.Dev))
			return fmt.Sprintf("%s %s, st_dev %s", dev, fstype, stDev), stDev
		}
		if d == filepath.Dir(d) {
			return strings.TrimSpace(dev + " " + fstype), ""
		}
	}
}

// scratchNote says whether every row's scratch was on one filesystem,
// and lists them when not.
func scratchNote(results []*result) string {
	where := map[string][]string{}
	label := map[string]string{}
	var devs []string
	for _, r := range results {
		if r.scratchDev == "" {
			continue
		}
		if where[r.scratchDev] == nil {
			devs = append(devs, r.scratchDev)
			label[r.scratchDev] = r.ScratchFS
		}
		if !slices.Contains(where[r.scratchDev], r.Scratch) {
			where[r.scratchDev] = append(where[r.scratchDev], r.Scratch)
		}
	}
	switch len(devs) {
	case 0:
		return ""
	case 1:
		return fmt.Sprintf("scratch: every builder wrote on one filesystem, %s: under %s (each row records its scratch)", label[devs[0]], strings.Join(where[devs[0]], ", "))
	}
	var parts []string
	for _, d := range devs {
		parts = append(parts, label[d]+": "+strings.Join(where[d], ", "))
	}
	return "scratch: NOT one filesystem for every builder; " + strings.Join(parts, "; ")
}

// dockerRoot is dockerd's storage directory, where the containers' root
// filesystems are.
func dockerRoot() string {
	out, err := exec.Command("docker", "info", "-f", "{{.DockerRootDir}}").Output()
	if err != nil || strings.TrimSpace(string(out)) == "" {
		return "/var/lib/docker"
	}
	return strings.TrimSpace(string(out))
}

// timeRun makes one cold, timed build and checks that the image arrived.
// The builder's cleanup is appended to cleanups, for the end of the
// context.
func timeRun(ctx context.Context, c config, e *env, b *builder, ctxName, dir string, n int, cleanups *[]func()) (sample, string) {
	id := fmt.Sprintf("%s-%s-%d", ctxName, b.name, n)
	logPath := filepath.Join(e.work, "logs", id+".log")
	s := sample{log: logPath}
	fail := func(err error) (sample, string) {
		s.Error = strings.TrimSpace(err.Error())
		if i := strings.IndexByte(s.Error, '\n'); i >= 0 {
			s.Error = s.Error[:i]
		}
		return s, ""
	}
	if err := os.MkdirAll(filepath.Dir(logPath), 0o755); err != nil {
		return fail(err)
	}
	logf, err := os.Create(logPath)
	if err != nil {
		return fail(err)
	}
	defer logf.Close()
	stamped := &stampWriter{w: logf, start: time.Now()}
	r := &run{
		context: ctxName, dir: dir, n: n, id: id, log: stamped,
		ref: fmt.Sprintf("%s/%s/%s-%d:latest", e.registry, b.name, ctxName, n),
	}
	if b.memoryNA == "" {
		if r.cg, err = newCgroup(id); err != nil {
			return fail(err)
		}
	}
	inodes := watchInodes(e.work)
	defer func() {
		if b.finish != nil {
			b.finish(context.Background(), e, r)
		}
		if b.cleanup != nil {
			*cleanups = append(*cleanups, func() { b.cleanup(context.Background(), e, r) })
		}
		// Did the builder, or what finished it, delete many files?
		if inodes.freed() >= manyInodes {
			e.deleted()
		}
		if r.cg != nil {
			if err := r.cg.remove(); err != nil {
				fmt.Fprintf(os.Stderr, "bench: %v\n", err)
			}
		}
	}()
	if b.prepare != nil {
		if err := b.prepare(ctx, e, r); err != nil {
			return fail(fmt.Errorf("preparing: %w", err))
		}
	}
	if b.prepareDeletes {
		e.deleted()
	}
	if r.cg != nil {
		if err := r.cg.resetPeaks(); err != nil {
			return fail(err)
		}
	}
	// Dirty pages of the run before are written back now, not during
	// this one.
	syscall.Sync()
	e.settleDown()
	bctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	start := time.Now()
	stamped.start = start
	err = b.build(bctx, e, r)
	s.Seconds = time.Since(start).Seconds()
	fmt.Fprintf(stamped, "bench: exited after %.3fs\n", s.Seconds)
	if r.cg != nil {
		s.PeakBytes, s.PeakRSSBytes, _ = r.cg.peaks()
	}
	if err != nil {
		fmt.Fprintf(stamped, "bench: %v\n", err)
		return fail(err)
	}
	if b.pushesNothing {
		return s, ""
	}
	ref, err := name.ParseReference(r.ref)
	if err == nil {
		_, err = remote.Head(ref, remote.WithContext(ctx))
	}
	if err != nil {
		return fail(fmt.Errorf("the image is not in the registry: %w", err))
	}
	return s, r.ref
}

func timeFloor(ctx context.Context, work, ctxName, floor, dir string, n int) sample {
	id := fmt.Sprintf("%s-%s-%d", ctxName, floor, n)
	s := sample{}
	cg, err := newCgroup(id)
	if err != nil {
		s.Error = err.Error()
		return s
	}
	defer cg.remove()
	r := &run{log: io.Discard}
	args := floorCommand(dir)
	syscall.Sync()
	start := time.Now()
	err = command(ctx, r, cg, args[0], args[1:]...).Run()
	s.Seconds = time.Since(start).Seconds()
	s.PeakBytes, s.PeakRSSBytes, _ = cg.peaks()
	if err != nil {
		s.Error = err.Error()
	}
	return s
}

// summarize sets the fastest, median and slowest time and the median
// memory over the successful runs.
func summarize(res *result) {
	var secs []float64
	var peaks, rss []uint64
	for _, s := range res.Runs {
		if s.Error != "" {
			res.Failed++
			continue
		}
		secs = append(secs, s.Seconds)
		peaks = append(peaks, s.PeakBytes)
		rss = append(rss, s.PeakRSSBytes)
	}
	if len(secs) == 0 {
		return
	}
	res.MinSeconds, res.MedianSeconds, res.MaxSeconds = spread(secs)
	res.MedianPeakBytes = median(peaks)
	res.MedianPeakRSSBytes = median(rss)
}

// medianRun is the successful run whose time is the median.
func medianRun(res *result) (sample, bool) {
	var ok []sample
	for _, s := range res.Runs {
		if s.Error == "" {
			ok = append(ok, s)
		}
	}
	if len(ok) == 0 {
		return sample{}, false
	}
	sort.Slice(ok, func(i, j int) bool { return ok[i].Seconds < ok[j].Seconds })
	return ok[(len(ok)-1)/2], true
}

// ratios divides our time by each row's, and gives each peer's row its
// verdict: cold rows against ours, cached rebuilds against ours-cached.
func ratios(results []*result, ctxName string) {
	ours := map[bool]*result{}
	for _, r := range results {
		if r.Context == ctxName && (r.Builder == "ours" || r.Builder == "ours"+cachedSuffix) {
			ours[isCached(r)] = r
		}
	}
	for _, r := range results {
		o := ours[isCached(r)]
		if r.Context != ctxName || o == nil {
			continue
		}
		if r.MedianSeconds > 0 && o.MedianSeconds > 0 {
			r.OursOverThis = o.MedianSeconds / r.MedianSeconds
		}
		if isPeer(r.Builder) {
			r.Verdict = verdict(o, r)
		}
	}
}

func isCached(r *result) bool { return strings.HasSuffix(r.Builder, cachedSuffix) }

// group is the chart's and table's section of a result.
func group(r *result) string {
	if isCached(r) {
		return r.Context + " (cached rebuild)"
	}
	return r.Context
}

// grouped orders the results for the table and the chart: per context,
// the cold builds (and floors), then the cached rebuilds.
func grouped(results []*result) []*result {
	var order []string
	rows := map[string][]*result{}
	for _, r := range results {
		g := group(r)
		if rows[g] == nil {
			order = append(order, g)
		}
		rows[g] = append(rows[g], r)
	}
	var out []*result
	for _, c := range allContexts {
		for _, g := range order {
			if rows[g][0].Context == c {
				out = append(out, rows[g]...)
			}
		}
	}
	return out
}

func printTable(w io.Writer, rep *report) {
	fmt.Fprintf(w, "\nMedian (fastest-slowest) of %d runs; %s, %s CPUs, %s RAM, kernel %s; load average %s at start, %s at end\n\n",
		rep.RunsEach, rep.Machine["cpu"], rep.Machine["cpus"], rep.Machine["memory"], rep.Machine["kernel"],
		rep.Machine["loadavg_start"], rep.Machine["loadavg_end"])
	row := "%-28s %-22s %8s %13s %9s %9s %10s %-13s %8s\n"
	fmt.Fprintf(w, row, "context", "builder", "time", "range", "peak mem", "peak rss", "ours/this", "verdict", "runs ok")
	prev := ""
	for _, r := range grouped(rep.Results) {
		c := group(r)
		if c == prev {
			c = ""
		} else if prev != "" {
			fmt.Fprintln(w)
		}
		prev = group(r)
		t, spread, peak, rss, ratio, v := "fail", "-", "-", "-", "-", r.Verdict
		if r.MedianSeconds > 0 {
			t = fmt.Sprintf("%.2fs", r.MedianSeconds)
			spread = fmt.Sprintf("%.2f-%.2f", r.MinSeconds, r.MaxSeconds)
			peak, rss = mib(r.MedianPeakBytes), mib(r.MedianPeakRSSBytes)
		}
		if r.MemoryNA != "" {
			peak, rss = "n/a*", "n/a*"
		}
		if r.OursOverThis > 0 {
			ratio = fmt.Sprintf("%.2f", r.OursOverThis)
		}
		if v == "" {
			v = "-"
		}
		fmt.Fprintf(w, row, c, r.Builder, t, spread, peak, rss, ratio, v, fmt.Sprintf("%d/%d", len(r.Runs)-r.Failed, len(r.Runs)))
	}
	fmt.Fprintln(w)
	for _, r := range rep.Results {
		if r.MemoryNA != "" {
			fmt.Fprintf(w, "* %s: %s.\n", r.Builder, r.MemoryNA)
			break
		}
	}
	for _, n := range rep.Notes {
		fmt.Fprintf(w, "- %s\n", n)
	}
	// Where we are slowest against the fastest peer.
	fmt.Fprintln(w)
	for _, line := range summaryLines(rep) {
		fmt.Fprintln(w, line)
	}
	for _, c := range allContexts {
		for _, key := range []string{c, c + cachedSuffix, c + "-exec", c + "-exec" + cachedSuffix} {
			if lines := rep.OursSteps[key]; len(lines) > 0 {
				what := map[string]string{c: "cold", c + cachedSuffix: "cached rebuild",
					c + "-exec": "exec, cold", c + "-exec" + cachedSuffix: "exec, cached rebuild"}[key]
				fmt.Fprintf(w, "\nours, %s, %s (median run):\n", c, what)
				for _, l := range lines {
					fmt.Fprintf(w, "  %s\n", l)
				}
			}
		}
	}
}

// summaryLines compare ours with the fastest peer (by median) per
// context, cold and cached, with the verdict, and a cached rebuild with
// our cold build.
func summaryLines(rep *report) []string {
	var out []string
	for _, c := range allContexts {
		for _, cached := range []bool{false, true} {
			var ours, oursHost, oursExec, oursCold, start, best *result
			for _, r := range rep.Results {
				if r.Context != c || r.MedianSeconds == 0 {
					continue
				}
				if r.Builder == "ours" {
					oursCold = r
				}
				if isCached(r) != cached {
					continue
				}
				base := strings.TrimSuffix(r.Builder, cachedSuffix)
				switch {
				case base == "ours":
					ours = r
				case base == "ours-host":
					oursHost = r
				case base == "ours-exec":
					oursExec = r
				case base == containerStart:
					start = r
				case strings.HasPrefix(base, "floor"):
				case best == nil || r.MedianSeconds < best.MedianSeconds:
					best = r
				}
			}
			if ours == nil || best == nil {
				continue
			}
			line := fmt.Sprintf("%-10s ours %s, fastest peer %s %s: ours / fastest = %.2f, %s", c, secondsRange(ours), best.Builder, secondsRange(best), ours.MedianSeconds/best.MedianSeconds, verdictPhrase(ours, best))
			if cached {
				line = fmt.Sprintf("%-10s rebuild: ours-cached %s, fastest cached peer %s %s: ours / fastest = %.2f, %s", c, secondsRange(ours), best.Builder, secondsRange(best), ours.MedianSeconds/best.MedianSeconds, verdictPhrase(ours, best))
				if oursCold != nil {
					line += fmt.Sprintf("; ours-cached / ours cold = %.3f", ours.MedianSeconds/oursCold.MedianSeconds)
				}
			}
			out = append(out, line)
			if start != nil {
				own := ours.MedianSeconds - start.MedianSeconds
				out = append(out, fmt.Sprintf("%-10s %s %.2fs (docker run of our image, no build): ours-cached less it %.2fs, / fastest = %.2f",
					"", start.Builder, start.MedianSeconds, own, own/best.MedianSeconds))
			}
			// The peers but Kaniko start no container per build: the
			// executor as a host process is the like-for-like row.
			if oursHost != nil {
				out = append(out, fmt.Sprintf("%-10s %s %s (no container start, as buildah, BuildKit's daemon, docker): / fastest = %.2f, %s",
					"", oursHost.Builder, secondsRange(oursHost), oursHost.MedianSeconds/best.MedianSeconds, verdict(oursHost, best)))
			}
			if oursExec != nil {
				line := fmt.Sprintf("%-10s %s %s (exec in a started container, as a Tekton step or Jenkins agent): / fastest = %.2f, %s",
					"", oursExec.Builder, secondsRange(oursExec), oursExec.MedianSeconds/best.MedianSeconds, verdict(oursExec, best))
				if cached {
					for _, r := range rep.Results {
						if r.Context == c && r.Builder == "ours-exec" && r.MedianSeconds > 0 {
							line += fmt.Sprintf("; / ours-exec cold = %.3f", oursExec.MedianSeconds/r.MedianSeconds)
						}
					}
				}
				out = append(out, line)
			}
		}
	}
	return out
}

func mib(b uint64) string {
	if b == 0 {
		return "-"
	}
	return fmt.Sprintf("%.0f MiB", float64(b)/(1<<20))
}

func machine() map[string]string {
	m := map[string]string{"cpus": strconv.Itoa(runtime.NumCPU())}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				m["cpu"] = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb uint64
		fmt.Sscanf(string(b), "MemTotal: %d kB", &kb)
		m["memory"] = fmt.Sprintf("%.0f GiB", float64(kb)/(1<<20))
	}
	var u syscall.Utsname
	if syscall.Uname(&u) == nil {
		m["kernel"] = utsString(u.Release[:])
	}
	m["go"] = runtime.Version()
	m["loadavg_start"] = loadavg()
	return m
}

// loadavg is /proc/loadavg's 1, 5 and 15 minute averages: the bench
// cannot keep other jobs off the machine, it can say they were there.
func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

func utsString(b []int8) string {
	var s []byte
	for _, c := range b {
		if c == 0 {
			break
		}
		s = append(s, byte(c))
	}
	return string(s)
}

func versions(c config, e *env) map[string]string {
	v := map[string]string{}
	out := func(name string, args ...string) string {
		b, err := exec.Command(name, args...).CombinedOutput()
		if err != nil {
			return ""
		}
		return strings.TrimSpace(strings.SplitN(string(b), "\n", 2)[0])
	}
	if s := out("git", "describe", "--always", "--dirty"); s != "" {
		v["ours"] = s
	}
	for _, b := range c.builders {
		switch b {
		case "kaniko":
			v["kaniko"] = out("docker", "run", "--rm", e.kanikoImage, "version")
		case "buildkit":
			v["buildkit"] = out(filepath.Join(e.buildkitDir, "buildctl"), "--version")
		case "buildah":
			v["buildah"] = out("buildah", "--version")
		case "docker":
			v["docker"] = "engine " + out("docker", "version", "--format", "{{.Server.Version}}")
		}
	}
	if c.floor {
		v["pigz"] = out("pigz", "--version")
		v["tar"] = out("tar", "--version")
	}
	v["runc"] = out("runc", "--version")
	return v
}
