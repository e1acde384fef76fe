package baseimage

import (
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// BusyboxArm64 is where e2e/setup.sh leaves busybox-static's arm64
// binary: $E2E_BUSYBOX_ARM64, else ~/.cache/kaniko-build-e2e/busybox-arm64.
func BusyboxArm64() string {
	if p := os.Getenv("E2E_BUSYBOX_ARM64"); p != "" {
		return p
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".cache", "kaniko-build-e2e", "busybox-arm64")
}

// MultiBusybox returns a Docker manifest list of the busybox base for
// linux/amd64 (the host's binary) and linux/arm64 (arm64Bin, the same
// Debian version: its applets are the host's).
func MultiBusybox(arm64Bin string) (v1.ImageIndex, error) {
	if _, err := os.Stat(arm64Bin); err != nil {
		return nil, fmt.Errorf("no arm64 busybox (run e2e/setup.sh as root, which downloads it): %w", err)
	}
	applets, err := Applets(DefaultBusybox)
	if err != nil {
		return nil, err
	}
	idx := mutate.IndexMediaType(empty.Index, types.DockerManifestList)
	for _, p := range []struct{ arch, bin string }{{"amd64", DefaultBusybox}, {"arm64", arm64Bin}} {
		entries, err := busyboxEntriesWith(p.bin, applets)
		if err != nil {
			return nil, err
		}
		layer, err := newLayer(entries)
		if err != nil {
			return nil, err
		}
		cfg := baseConfig()
		cfg.Architecture = p.arch
		img, err := build(cfg, []v1.Layer{layer}, []string{"busybox root filesystem, " + p.arch})
		if err != nil {
			return nil, err
		}
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{
			Add:        img,
			Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: p.arch}},
		})
	}
	return idx, nil
}

// goRoot is where the Go image has its toolchain.
const goRoot = "usr/local/go"

// Go returns the busybox base (linux/amd64) with the Go toolchain of the
// Go installation at goroot, cut down to what building a program that
// imports imports for linux/amd64 and linux/arm64 with CGO_ENABLED=0
// needs: the go command, compile, asm and link, and those packages'
// sources. Its environment is the official image's, with the build cache
// in /tmp.
func Go(goroot string, imports ...string) (v1.Image, error) {
	files := []string{
		"bin/go", "VERSION", "go.env",
		"pkg/tool/linux_amd64/compile", "pkg/tool/linux_amd64/asm", "pkg/tool/linux_amd64/link",
		"src/go.mod", "src/go.sum", "src/vendor/modules.txt",
	}
	for _, glob := range []string{"pkg/include/*", "src/runtime/cgo/*.h"} {
		m, err := filepath.Glob(filepath.Join(goroot, glob))
		if err != nil {
			return nil, err
		}
		for _, f := range m {
			rel, _ := filepath.Rel(goroot, f)
			files = append(files, filepath.ToSlash(rel))
		}
	}
	pkgs, err := stdSources(goroot, imports)
	if err != nil {
		return nil, err
	}
	files = append(files, pkgs...)
	entries, err := treeEntries(goroot, goRoot, files)
	if err != nil {
		return nil, err
	}
	toolchain, err := newLayer(entries)
	if err != nil {
		return nil, err
	}
	bb, err := busyboxLayer(DefaultBusybox)
	if err != nil {
		return nil, err
	}
	cfg := baseConfig()
	cfg.Config.Env = []string{
		"PATH=/" + goRoot + "/bin:" + DefaultPath,
		"GOTOOLCHAIN=local", "GOPATH=/go", "GOCACHE=/tmp/go-cache",
	}
	return build(cfg, []v1.Layer{bb, toolchain}, []string{"busybox root filesystem", "go toolchain"})
}

// stdSources lists, relative to goroot, the source files (tests left
// out) of the standard packages imports need on linux/amd64 and
// linux/arm64.
func stdSources(goroot string, imports []string) ([]string, error) {
	dirs := map[string]bool{}
	for _, arch := range []string{"amd64", "arm64"} {
		cmd := exec.Command(filepath.Join(goroot, "bin", "go"), append([]string{"list", "-deps", "-f", "{{if .Standard}}{{.Dir}}{{end}}"}, imports...)...)
		cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH="+arch, "CGO_ENABLED=0", "GOROOT="+goroot, "GOFLAGS=")
		out, err := cmd.Output()
		if err != nil {
			return nil, fmt.Errorf("listing the packages %s needs on linux/%s: %w", strings.Join(imports, " "), arch, err)
		}
		for _, d := range strings.Fields(string(out)) {
			dirs[d] = true
		}
	}
	var files []string
	for d := range dirs {
		des, err := os.ReadDir(d)
		if err != nil {
			return nil, err
		}
		for _, de := range des {
			if !de.Type().IsRegular() || strings.HasSuffix(de.Name(), "_test.go") {
				continue
			}
			rel, err := filepath.Rel(goroot, filepath.Join(d, de.Name()))
			if err != nil {
				return nil, err
			}
			files = append(files, filepath.ToSlash(rel))
		}
	}
	return files, nil
}

// treeEntries makes layer entries for files (relative to from) under
// into, with every parent directory, sorted, owned by root.
func treeEntries(from, into string, files []string) ([]entry, error) {
	sort.Strings(files)
	seen := map[string]bool{}
	var entries []entry
	var addDir func(d string)
	addDir = func(d string) {
		if d == "." || seen[d] {
			return
		}
		addDir(path.Dir(d))
		seen[d] = true
		entries = append(entries, dir(d, 0o755, 0, 0))
	}
	for _, f := range files {
		fi, err := os.Stat(filepath.Join(from, filepath.FromSlash(f)))
		if err != nil {
			return nil, err
		}
		data, err := os.ReadFile(filepath.Join(from, filepath.FromSlash(f)))
		if err != nil {
			return nil, err
		}
		p := path.Join(into, f)
		addDir(path.Dir(p))
		entries = append(entries, file(p, int64(fi.Mode().Perm()), 0, 0, string(data)))
	}
	return entries, nil
}
