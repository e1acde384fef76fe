//go:build linux

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
)

// The multi-platform case: one context built for linux/amd64 and
// linux/arm64, arm64's RUN under QEMU, into one index. Our image builds
// the platforms one after the other, or two of it at once, each pushing
// by digest, then joins them with `executor index`; BuildKit builds both
// platforms in one build. Reported, not a pass or fail.
var allPlatformBuilders = []string{"ours-sequential", "ours-parallel", "buildkit"}

// benchPlatforms are the platforms the case builds for.
var benchPlatforms = []string{"linux/amd64", "linux/arm64"}

const platformsCase = "platforms-2"

// platformsDockerfile copies a tree and runs a program of the target
// over it.
const platformsDockerfile = "FROM {{multiarch}}\nCOPY files/ /app/\nRUN find /app -type f | wc -l > /count && uname -m > /arch\n"

func platformBuilders() map[string]*builder {
	bk := builders()["buildkit"]
	all := *bk
	all.name = "buildkit"
	all.build = func(ctx context.Context, e *env, r *run) error {
		return command(ctx, r, r.cg, filepath.Join(e.buildkitDir, "buildctl"), "--addr", r.bkAddr,
			"build", "--progress=plain", "--frontend=dockerfile.v0",
			"--local", "context="+r.dir, "--local", "dockerfile="+r.dir,
			"--opt", "platform="+strings.Join(benchPlatforms, ","),
			"--output", buildkitOutput(r.ref)).Run()
	}
	return map[string]*builder{
		"ours-sequential": oursPlatforms("ours-sequential", false),
		"ours-parallel":   oursPlatforms("ours-parallel", true),
		"buildkit":        &all,
	}
}

// oursPlatforms builds each platform with our image, at once or one
// after the other, pushing by digest, then joins them under the run's
// tag.
func oursPlatforms(name string, parallel bool) *builder {
	var mu sync.Mutex
	started := map[string][]*run{}
	return &builder{
		name:  name,
		check: func(e *env) error { return dockerImageExists(e.image, "make image") },
		build: func(ctx context.Context, e *env, r *run) error {
			out := filepath.Join(e.work, "platforms-out", r.id)
			if err := os.MkdirAll(out, 0o755); err != nil {
				return err
			}
			repo := strings.TrimSuffix(r.ref, ":latest")
			var subs []*run
			for _, p := range benchPlatforms {
				sub := *r
				sub.id = r.id + "-" + path.Base(p)
				sub.volumes = []string{out + ":/kaniko/out"}
				subs = append(subs, &sub)
			}
			join := *r
			join.id = r.id + "-index"
			join.volumes = []string{out + ":/kaniko/out"}
			mu.Lock()
			started[r.id] = append(subs, &join)
			mu.Unlock()
			errs := make([]error, len(subs))
			var wg sync.WaitGroup
			for i, sub := range subs {
				p := benchPlatforms[i]
				b := func() {
					args := append(executorArgs("/workspace", repo), "--custom-platform="+p,
						"--push-by-digest", "--digest-file=/kaniko/out/"+path.Base(p))
					errs[i] = dockerRun(ctx, e, sub, e.image, args...)
				}
				if !parallel {
					b()
					continue
				}
				wg.Add(1)
				go func() { defer wg.Done(); b() }()
			}
			wg.Wait()
			if err := errors.Join(errs...); err != nil {
				return err
			}
			args := []string{"index", "--destination=" + r.ref}
			for _, p := range benchPlatforms {
				d, err := os.ReadFile(filepath.Join(out, path.Base(p)))
				if err != nil {
					return err
				}
				args = append(args, "--image="+repo+"@"+string(d))
			}
			return dockerRun(ctx, e, &join, e.image, args...)
		},
		cleanup: func(ctx context.Context, e *env, r *run) {
			mu.Lock()
			subs := started[r.id]
			mu.Unlock()
			for _, sub := range subs {
				removeContainer(ctx, e, sub)
			}
		},
	}
}

// benchPlatformsCase times the multi-platform case with each builder,
// runs times each, QEMU registered for arm64 meanwhile (qemu-binfmt.sh).
func benchPlatformsCase(ctx context.Context, c config, e *env, b bases) (rows []scaleRow, err error) {
	dir := filepath.Join(e.work, "platforms", platformsCase)
	fmt.Fprintf(os.Stderr, "bench: %s: generating the context\n", platformsCase)
	if err := prepareScale(scaleCase{name: platformsCase, dockerfile: platformsDockerfile,
		files: func(dir string) error { return generateFiles(filepath.Join(dir, "files"), 2000, 20) },
	}, dir, b); err != nil {
		return nil, err
	}
	script := filepath.Join(filepath.Dir(c.dir), "qemu-binfmt.sh")
	state := filepath.Join(e.work, "binfmt.state")
	if out, err := exec.CommandContext(ctx, "bash", script, "add", state).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("registering QEMU for arm64: %v: %s", err, out)
	}
	defer func() {
		if out, rerr := exec.Command("bash", script, "remove", state).CombinedOutput(); rerr != nil && err == nil {
			err = fmt.Errorf("removing the QEMU handler: %v: %s", rerr, out)
		}
	}()
	all := platformBuilders()
	var cleanups []func()
	defer func() {
		for _, f := range cleanups {
			f()
		}
	}()
	for n := 1; n <= c.runs; n++ {
		// Rotated, as the contexts' builders are.
		k := (n - 1) % len(c.platformBuilders)
		order := append(slices.Clone(c.platformBuilders[k:]), c.platformBuilders[:k]...)
		for _, bn := range order {
			s, _ := timeRun(ctx, c, e, all[bn], platformsCase, dir, n, &cleanups)
			row := scaleRow{Case: platformsCase, Builder: bn, Unit: "platforms", Count: len(benchPlatforms), Seconds: s.Seconds,
				PeakRSSBytes: s.PeakRSSBytes, PeakBytes: s.PeakBytes, Error: s.Error}
			row.SecondsPerUnit = s.Seconds / float64(len(benchPlatforms))
			status := s.status()
			fmt.Fprintf(os.Stderr, "bench: %s %-15s run %d/%d: %s\n", platformsCase, bn, n, c.runs, status)
			rows = append(rows, row)
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
	}
	return rows, nil
}

// printPlatforms prints the multi-platform rows.
func printPlatforms(w io.Writer, rows []scaleRow) {
	if len(rows) == 0 {
		return
	}
	row := "%-16s %10s %10s %s\n"
	fmt.Fprintf(w, "\nMulti-platform: %s into one index\n\n", strings.Join(benchPlatforms, " and "))
	fmt.Fprintf(w, row, "builder", "time", "peak rss", "")
	for _, r := range rows {
		t, rss, note := "fail", "-", ""
		if r.Error == "" {
			t, rss = fmt.Sprintf("%.2fs", r.Seconds), mib(r.PeakRSSBytes)
		} else {
			note = r.Error
		}
		fmt.Fprintf(w, row, r.Builder, t, rss, note)
	}
}

// checkPlatformBuilders refuses a name that is no multi-platform builder.
func checkPlatformBuilders(names []string) error {
	for _, n := range names {
		if !slices.Contains(allPlatformBuilders, n) {
			return fmt.Errorf("unknown multi-platform builder %q (have %s)", n, strings.Join(allPlatformBuilders, ", "))
		}
	}
	return nil
}
