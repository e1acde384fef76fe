//go:build linux

package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestFloorCommand(t *testing.T) {
	args := floorCommand("/some dir")
	if len(args) != 5 || args[0] != "bash" || args[1] != "-c" || args[4] != "/some dir" {
		t.Fatalf("floorCommand = %q", args)
	}
	script := args[2]
	for _, want := range []string{"set -o pipefail", `tar -C "$1" -cf - .`, "tee /dev/fd/3", "| pigz -1 |", "3>&1 | sha256sum"} {
		if !strings.Contains(script, want) {
			t.Errorf("floor script %q lacks %q", script, want)
		}
	}
	// Two digests: of the compressed stream and of the tar.
	if n := strings.Count(script, "sha256sum"); n != 2 {
		t.Errorf("floor script has %d sha256sum, want 2", n)
	}
	if strings.Contains(floorShown(), "$1") || !strings.Contains(floorShown(), "tar -C DIR") {
		t.Errorf("floorShown = %q", floorShown())
	}
}

// TestFloorRuns runs the floor on a small directory: it must succeed, and
// fail when the directory is missing (pipefail).
func TestFloorRuns(t *testing.T) {
	for _, tool := range []string{"bash", "tar", "pigz", "sha256sum", "tee"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("no %s: e2e/setup.sh installs it", tool)
			}
			t.Skipf("no %s", tool)
		}
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "f"), []byte(strings.Repeat("floor ", 1000)), 0o644); err != nil {
		t.Fatal(err)
	}
	args := floorCommand(dir)
	if out, err := exec.CommandContext(context.Background(), args[0], args[1:]...).CombinedOutput(); err != nil || len(out) > 0 {
		t.Errorf("floor of %s: %v, output %q", dir, err, out)
	}
	args = floorCommand(filepath.Join(dir, "missing"))
	if err := exec.Command(args[0], args[1:]...).Run(); err == nil {
		t.Errorf("the floor of a missing directory succeeded")
	}
}

func TestExecutorCompressionArgs(t *testing.T) {
	want := []string{"--compression=gzip", "--compression-level=1"}
	if got := executorCompressionArgs(); !slices.Equal(got, want) {
		t.Errorf("executorCompressionArgs = %q; want %q", got, want)
	}
	for name, args := range map[string][]string{
		"executorArgs":       executorArgs("/workspace", "reg/x:latest"),
		"hostExecutorArgs":   hostExecutorArgs("/ctx", "reg/x:latest"),
		"kanikoCachedArgs":   kanikoCachedArgs(&env{registry: "reg"}, &run{id: "c-kaniko-cached-1"}, "reg/x:latest"),
		"cachedExecutorArgs": cachedExecutorArgs(&env{registry: "reg"}, &run{id: "c-ours-cached-1"}, "reg/x:latest"),
	} {
		for _, w := range want {
			if !slices.Contains(args, w) {
				t.Errorf("%s = %q lacks %s", name, args, w)
			}
		}
	}
	if a := hostExecutorArgs("/ctx", "d"); !slices.Contains(a, "--dockerfile=/ctx/Dockerfile") || !slices.Contains(a, "--context=/ctx") {
		t.Errorf("hostExecutorArgs = %q", a)
	}
}

func TestKanikoCachedArgs(t *testing.T) {
	args := kanikoCachedArgs(&env{registry: "127.0.0.1:5000"}, &run{id: "apt-kaniko-cached-1"}, "dest")
	for _, w := range []string{"--cache=true", "--cache-repo=127.0.0.1:5000/cache/apt-kaniko-cached-1", "--cache-dir=/cache", "--cache-copy-layers=true"} {
		if !slices.Contains(args, w) {
			t.Errorf("kanikoCachedArgs = %q lacks %s", args, w)
		}
	}
	if w := kanikoWarmerArgs(); !slices.Equal(w, []string{"--cache-dir=/cache", "--dockerfile=/workspace/Dockerfile"}) {
		t.Errorf("kanikoWarmerArgs = %q", w)
	}
}

func TestBuildkitOutput(t *testing.T) {
	got := buildkitOutput("127.0.0.1:5000/buildkit/tiny-1:latest")
	want := "type=image,name=127.0.0.1:5000/buildkit/tiny-1:latest,push=true,registry.insecure=true,compression=gzip,compression-level=1,force-compression=true"
	if got != want {
		t.Errorf("buildkitOutput = %q\nwant %q", got, want)
	}
}

func TestBuildahPushCompressionArgs(t *testing.T) {
	want := []string{"--compression-format=gzip", "--compression-level=1"}
	if got := buildahPushCompressionArgs(); !slices.Equal(got, want) {
		t.Errorf("buildahPushCompressionArgs = %q; want %q", got, want)
	}
}

// TestCompressionOf: every builder's row says its compression; all at
// level 1 but docker's, which cannot be set and says so.
func TestCompressionOf(t *testing.T) {
	names := []string{"floor", "floor-added"}
	for name := range builders() {
		names = append(names, name)
	}
	for _, name := range names {
		c := compressionOf(name)
		switch {
		case strings.HasPrefix(name, containerStart):
			if c.Format != "" || c.Note == "" {
				t.Errorf("%s: %+v; want no compression, with a note", name, c)
			}
		case strings.HasPrefix(name, "docker"):
			if c.Format != "gzip" || c.Level != 6 || !strings.Contains(c.Note, "cannot be set") {
				t.Errorf("%s: %+v; want gzip 6, cannot be set", name, c)
			}
		default:
			if c.Format != "gzip" || c.Level != 1 || c.Note == "" {
				t.Errorf("%s: %+v; want gzip level 1 with a note", name, c)
			}
		}
	}
}

func TestScratchNote(t *testing.T) {
	rs := []*result{
		{Builder: "ours", Scratch: "/var/lib/docker", ScratchFS: "/dev/vda ext4, st_dev 254:0", scratchDev: "254:0"},
		{Builder: "buildah", Scratch: "/var/tmp/w/buildah", ScratchFS: "/dev/vda ext4, st_dev 254:0", scratchDev: "254:0"},
		{Builder: "kaniko", Scratch: "/var/lib/docker", ScratchFS: "/dev/vda ext4, st_dev 254:0", scratchDev: "254:0"},
		{Builder: containerStart + cachedSuffix},
	}
	if n := scratchNote(rs); !strings.Contains(n, "one filesystem") || strings.Count(n, "/var/lib/docker") != 1 || !strings.Contains(n, "/var/tmp/w/buildah") {
		t.Errorf("scratchNote = %q", n)
	}
	rs = append(rs, &result{Builder: "ours-host", Scratch: "/tmp", ScratchFS: "tmpfs tmpfs, st_dev 0:30", scratchDev: "0:30"})
	if n := scratchNote(rs); !strings.Contains(n, "NOT one filesystem") || !strings.Contains(n, "tmpfs tmpfs, st_dev 0:30: /tmp") {
		t.Errorf("scratchNote = %q", n)
	}
}

// TestNewResultScratch: ours-host writes under the bench's work
// directory, as buildah and BuildKit do.
func TestNewResultScratch(t *testing.T) {
	e := &env{work: t.TempDir(), dockerRoot: "/var/lib/docker"}
	all := builders()
	for _, name := range []string{"ours-host", "ours-host-cached", "buildah", "buildkit", "buildah-cached", "buildkit-cached"} {
		r := newResult(e, all[name], "tiny")
		if !strings.HasPrefix(r.Scratch, e.work+"/") || r.ScratchFS == "" {
			t.Errorf("%s: scratch %q (%s), want under %s", name, r.Scratch, r.ScratchFS, e.work)
		}
		if r.Format != "gzip" || r.Level != 1 {
			t.Errorf("%s: compression %+v", name, r.compression)
		}
	}
	for _, name := range []string{"ours", "kaniko", "docker", "ours-cached", "kaniko-cached", "ours-exec", "kaniko-exec-cached"} {
		if r := newResult(e, all[name], "tiny"); r.Scratch != "/var/lib/docker" {
			t.Errorf("%s: scratch %q, want docker's root", name, r.Scratch)
		}
	}
	if hostScratch(e) != filepath.Join(e.work, "tmp") {
		t.Errorf("hostScratch = %s", hostScratch(e))
	}
}
