package solve

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/kaniko-build/kaniko-build/engine/progress"
)

// layerEntry is what a layer says of one path; directory times are left
// out where they are "when copied".
type layerEntry struct {
	Name, Link, Sum, Xattrs string
	Type                    byte
	Mode                    int64
	UID, GID                int
	Size                    int64
	Mtime                   int64
}

func (e layerEntry) String() string {
	return fmt.Sprintf("%s type=%c mode=%o %d:%d size=%d link=%q mtime=%d sum=%.8s xattrs=%s", e.Name, e.Type, e.Mode, e.UID, e.GID, e.Size, e.Link, e.Mtime, e.Sum, e.Xattrs)
}

// buildLayers builds dir's Dockerfile on the host (no RUN: no chroot
// needed) and lists each layer; copyAlways turns layer-only COPYs off, as
// when another stage reads the target.
func buildLayers(t *testing.T, dir string, copyAlways bool) ([][]layerEntry, string) {
	t.Helper()
	out, log, err := tryBuildLayers(t, dir, copyAlways)
	if err != nil {
		t.Fatalf("build: %v\n%s", err, log)
	}
	return out, log
}

func tryBuildLayers(t *testing.T, dir string, copyAlways bool) ([][]layerEntry, string, error) {
	t.Helper()
	var log bytes.Buffer
	cfg := testConfig(t, dir)
	cfg.Log = slog.New(progress.NewHandler(&log, slog.LevelInfo, false))
	if copyAlways {
		cfg.Plan.Uses[cfg.Plan.Target]++
	}
	img, err := solve(t, cfg)
	if err != nil {
		return nil, log.String(), err
	}
	ls, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	var out [][]layerEntry
	for _, l := range ls {
		rc, err := l.Uncompressed()
		if err != nil {
			t.Fatal(err)
		}
		var entries []layerEntry
		tr := tar.NewReader(rc)
		for {
			h, err := tr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			data, _ := io.ReadAll(tr)
			var xs []string
			for k, v := range h.PAXRecords {
				if strings.HasPrefix(k, "SCHILY.xattr.") {
					xs = append(xs, k+"="+v)
				}
			}
			sort.Strings(xs)
			e := layerEntry{
				Name: h.Name, Link: h.Linkname, Type: h.Typeflag, Mode: h.Mode, UID: h.Uid, GID: h.Gid,
				Size: h.Size, Mtime: h.ModTime.Unix(), Sum: fmt.Sprintf("%x", sha256.Sum256(data)), Xattrs: strings.Join(xs, ","),
			}
			if h.Typeflag == tar.TypeDir {
				e.Mtime = 0
			}
			entries = append(entries, e)
		}
		rc.Close()
		out = append(out, entries)
	}
	return out, log.String(), nil
}

// TestCopyLayerOnlyMatchesCopy builds each case twice, with the last COPY
// writing its layer from the sources and with every COPY made for real,
// and wants the same layers, entry for entry.
func TestCopyLayerOnlyMatchesCopy(t *testing.T) {
	old := time.Date(2021, 5, 6, 7, 8, 9, 0, time.UTC)
	setup := func(t *testing.T, dir string) {
		t.Helper()
		files := map[string]string{
			"base/etc/passwd":      "root:x:0:0:root:/root:/bin/sh\napp:x:1001:1002::/home/app:/bin/sh\n",
			"base/etc/group":       "root:x:0:\napp:x:1002:\n",
			"base/usr/bin/tool":    "#!/bin/sh\n",
			"base/opt/existing/f":  "old",
			"app/main.go":          "package main\n",
			"app/sub/deep/a.txt":   strings.Repeat("a", 5000),
			"app/sub/b.txt":        "b",
			"app/skip/ignored.txt": "no",
			"app/keep.log":         "kept",
			"app/drop.log":         "dropped",
			"one.txt":              "one",
		}
		for p, data := range files {
			full := filepath.Join(dir, p)
			if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(full, []byte(data), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		must := func(err error) {
			t.Helper()
			if err != nil {
				t.Fatal(err)
			}
		}
		must(os.Chmod(filepath.Join(dir, "base/usr/bin/tool"), os.ModeSetuid|0o755))
		must(os.Symlink("usr/bin", filepath.Join(dir, "base/bin")))
		must(os.Symlink("deep/a.txt", filepath.Join(dir, "app/sub/link")))
		must(os.Link(filepath.Join(dir, "app/sub/b.txt"), filepath.Join(dir, "app/sub/b-hard.txt")))
		must(os.Chmod(filepath.Join(dir, "app/sub/deep"), os.ModeSetgid|0o750))
		must(os.Lchown(filepath.Join(dir, "app/sub/b.txt"), 7, 8))
		_ = os.WriteFile(filepath.Join(dir, ".dockerignore"), []byte("app/skip\n*.log\n!app/keep.log\n"), 0o644)
		filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
			if err == nil && fi.Mode()&os.ModeSymlink == 0 {
				os.Chtimes(p, old, old)
			}
			return nil
		})
	}
	cases := map[string]struct {
		last      string
		layerOnly bool // the last COPY should take the layer-only way
		// buildTime names a file stamped with its build's time (a
		// heredoc's): the two builds may fall in different seconds.
		buildTime string
	}{
		"new deep dir":        {last: "COPY app/ /srv/new/deep/app/", layerOnly: true},
		"file in a dir":       {last: "COPY one.txt /etc/one.txt", layerOnly: true},
		"file as dir/":        {last: "COPY one.txt /usr/share/", layerOnly: true},
		"chown chmod":         {last: "COPY --chown=app:app --chmod=0640 app /home/app/src", layerOnly: true},
		"numeric chown":       {last: "COPY --chown=1001 app/sub /data/", layerOnly: true},
		"exclude":             {last: "COPY --exclude=*.txt app/ /x/", layerOnly: true},
		"parents":             {last: "COPY --parents app/sub/./deep /p/", layerOnly: true},
		"through a symlink":   {last: "COPY one.txt /bin/one", layerOnly: true}, // resolved first
		"onto existing dir":   {last: "COPY app/ /opt/existing/", layerOnly: false},
		"from a stage":        {last: "COPY --from=src /app/sub /fromstage/", layerOnly: true},
		"then metadata steps": {last: "COPY app/ /meta/\nENV A=1\nCMD [\"x\"]\nUSER app", layerOnly: true},
		"then a WORKDIR":      {last: "COPY app/ /w/\nWORKDIR /w/sub", layerOnly: false},
		"two new trees":       {last: "COPY --chown=app app/sub /opt/a/\nCOPY one.txt /opt/b/one.txt", layerOnly: true},
		"into the first":      {last: "COPY app/ /srv/app/\nCOPY one.txt /srv/app/sub/one.txt", layerOnly: true},
		"over the first":      {last: "COPY app/ /srv/app/\nCOPY one.txt /srv/app/main.go", layerOnly: true},
		"onto the first":      {last: "COPY app/ /srv/app/\nCOPY one.txt /srv/app", layerOnly: true},
		"chown after /etc":    {last: "COPY one.txt /etc/extra/one\nCOPY --chown=app app/sub /w/", layerOnly: true},
		"many sources after":  {last: "COPY app/ /m/\nCOPY one.txt app/main.go /m/sub/", layerOnly: true},
		"heredoc after":       {last: "COPY app/ /h/\nCOPY <<EOF /h/sub/inline.txt\nhi\nEOF", layerOnly: true, buildTime: "h/sub/inline.txt"},
		"ADD after":           {last: "COPY app/ /a/\nADD one.txt /a/sub/", layerOnly: false},
		"three, then ENV":     {last: "COPY app/sub /t/1/\nCOPY app/sub /t/2/\nCOPY app/sub/deep /t/1/deeper/\nENV X=1", layerOnly: true},
	}
	t.Run("below a file", func(t *testing.T) {
		dir := t.TempDir()
		setup(t, dir)
		df := "FROM scratch\nCOPY base/ /\nCOPY one.txt /srv/f\nCOPY app/ /srv/f/x/\n"
		if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(df), 0o644); err != nil {
			t.Fatal(err)
		}
		_, _, errFast := tryBuildLayers(t, dir, false)
		_, _, errSlow := tryBuildLayers(t, dir, true)
		if errFast == nil || errSlow == nil || errFast.Error() != errSlow.Error() {
			t.Errorf("copying below a file: %v, want %v", errFast, errSlow)
		}
	})
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			setup(t, dir)
			df := "FROM scratch AS src\nCOPY . /\n\nFROM scratch\nCOPY base/ /\n" + tc.last + "\n"
			if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(df), 0o644); err != nil {
				t.Fatal(err)
			}
			fast, log := buildLayers(t, dir, false)
			if os.Getenv("SHOW") != "" {
				t.Log(log)
			}
			slow, _ := buildLayers(t, dir, true)
			if took := strings.Contains(log, "written from the sources"); took != tc.layerOnly {
				t.Errorf("layer-only COPY taken: %v, want %v\n%s", took, tc.layerOnly, log)
			}
			if len(fast) != len(slow) {
				t.Fatalf("%d layers, want %d", len(fast), len(slow))
			}
			for i := range fast {
				for j := range fast[i] {
					if tc.buildTime != "" && fast[i][j].Name == tc.buildTime && j < len(slow[i]) && slow[i][j].Name == tc.buildTime {
						if d := fast[i][j].Mtime - slow[i][j].Mtime; d < -60 || d > 60 {
							t.Errorf("%s: build times %d and %d, a minute or more apart", tc.buildTime, fast[i][j].Mtime, slow[i][j].Mtime)
						}
						fast[i][j].Mtime = slow[i][j].Mtime
					}
				}
				a, b := fmt.Sprint(fast[i]), fmt.Sprint(slow[i])
				if a != b {
					t.Errorf("layer %d differs:\nlayer-only:\n%s\ncopied:\n%s", i, lines(fast[i]), lines(slow[i]))
				}
			}
		})
	}
}

func lines(es []layerEntry) string {
	var b strings.Builder
	for _, e := range es {
		b.WriteString("  " + e.String() + "\n")
	}
	return b.String()
}
