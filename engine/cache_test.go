package engine_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/kaniko-build/kaniko-build/engine"
)

// cachedBuild builds ctx with the cache on and returns the image and the
// executor's progress log.
func cachedBuild(t *testing.T, e env, dir, dest string) (v1.Image, string) {
	t.Helper()
	var log bytes.Buffer
	img, err := e.buildDir(t, dir, dest, func(o *engine.Options) {
		o.Cache.Enabled, o.Cache.RunLayers, o.Cache.CopyLayers = true, true, true
		o.Cache.Repo = e.host + "/cache/layers"
		o.Progress = &log
	})
	if err != nil {
		t.Fatalf("build: %v\n%s", err, log.String())
	}
	return img, log.String()
}

func layerDigests(t *testing.T, img v1.Image) []string {
	t.Helper()
	ls, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range ls {
		d, err := l.Digest()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, d.String())
	}
	return out
}

func TestCacheHitsUnchangedStepsAndMissesChangedOnes(t *testing.T) {
	e := newEnv(t)
	dir := t.TempDir()
	write := func(p, s string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, p), []byte(strings.ReplaceAll(s, "BASE", e.base)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("Dockerfile", `FROM BASE
ARG V=1
RUN echo "run $V" > /run.txt
COPY a.txt /a.txt
RUN cat /a.txt /run.txt > /both.txt
`)
	write("a.txt", "one")
	first, log1 := cachedBuild(t, e, dir, "cached:1")
	if strings.Contains(log1, "HIT") {
		t.Fatalf("first build hit an empty cache:\n%s", log1)
	}
	second, log2 := cachedBuild(t, e, dir, "cached:2")
	if strings.Count(log2, "HIT") != 3 || strings.Contains(log2, "MISS") || strings.Contains(log2, "files of stage") {
		t.Fatalf("unchanged rebuild should hit all 3 steps:\n%s\nfirst:\n%s", log2, log1)
	}
	if a, b := layerDigests(t, first), layerDigests(t, second); strings.Join(a, ",") != strings.Join(b, ",") {
		t.Errorf("cached rebuild has other layers:\n%v\n%v", a, b)
	}
	fs := flatten(t, second)
	wantContent(t, fs, "/both.txt", "onerun 1\n")

	write("a.txt", "two")
	third, log3 := cachedBuild(t, e, dir, "cached:3")
	if !strings.Contains(log3, "HIT RUN echo") || !strings.Contains(log3, "MISS COPY a.txt /a.txt (changed: files)") || !strings.Contains(log3, "MISS RUN cat") {
		t.Fatalf("a changed file should miss at its COPY and after:\n%s", log3)
	}
	wantContent(t, flatten(t, third), "/both.txt", "tworun 1\n")

	os.Rename(filepath.Join(dir, "a.txt"), filepath.Join(dir, "b.txt"))
	write("Dockerfile", strings.Replace(`FROM BASE
ARG V=1
RUN echo "run $V" > /run.txt
COPY b.txt /a.txt
RUN cat /a.txt /run.txt > /both.txt
`, "BASE", e.base, 1))
	_, log4 := cachedBuild(t, e, dir, "cached:4")
	if !strings.Contains(log4, "MISS COPY b.txt") {
		t.Fatalf("a renamed source should miss:\n%s", log4)
	}
}

// With --cache-dir, the context's file keys are kept between builds, so an
// unchanged rebuild reads no file; a write that keeps size and mtime must
// still miss.
func TestCacheDirKeptSumsSeeSameSizeWrites(t *testing.T) {
	e := newEnv(t)
	dir, cacheDir := t.TempDir(), t.TempDir()
	write := func(p, s string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, p), []byte(strings.ReplaceAll(s, "BASE", e.base)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("Dockerfile", "FROM BASE\nCOPY a.txt /a.txt\n")
	write("a.txt", "one")
	// Files changed less than a second before a build are not kept.
	time.Sleep(1100 * time.Millisecond)
	build := func(dest string) (v1.Image, string) {
		t.Helper()
		var log bytes.Buffer
		img, err := e.buildDir(t, dir, dest, func(o *engine.Options) {
			o.Cache.Enabled, o.Cache.RunLayers, o.Cache.CopyLayers = true, true, true
			o.Cache.Repo = e.host + "/cache/sums"
			o.Cache.Dir = cacheDir
			o.Progress = &log
		})
		if err != nil {
			t.Fatalf("build: %v\n%s", err, log.String())
		}
		return img, log.String()
	}
	build("sums:1")
	kept, _ := filepath.Glob(filepath.Join(cacheDir, "context-sums", "*"))
	if len(kept) != 1 {
		t.Fatalf("context sums kept: %v", kept)
	}
	if _, log := build("sums:2"); !strings.Contains(log, "HIT COPY a.txt") {
		t.Fatalf("unchanged rebuild:\n%s", log)
	}
	fi, err := os.Stat(filepath.Join(dir, "a.txt"))
	if err != nil {
		t.Fatal(err)
	}
	write("a.txt", "two")
	if err := os.Chtimes(filepath.Join(dir, "a.txt"), fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
	img, log := build("sums:3")
	if !strings.Contains(log, "MISS COPY a.txt /a.txt (changed: files)") {
		t.Fatalf("a same-size write with its mtime put back should miss:\n%s", log)
	}
	wantContent(t, flatten(t, img), "/a.txt", "two")
}
