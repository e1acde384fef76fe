package filetree

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/klauspost/pgzip"
	"github.com/ulikunitz/xz"
)

type ent struct {
	name, link, body string
	typ              byte
	mode             int64
}

func layer(t *testing.T, ents ...ent) *bytes.Buffer {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range ents {
		mode := e.mode
		if mode == 0 {
			mode = 0o644
		}
		h := &tar.Header{Name: e.name, Typeflag: e.typ, Linkname: e.link, Mode: mode, Size: int64(len(e.body)), ModTime: time.Unix(1, 0)}
		if e.typ != tar.TypeReg {
			h.Size = 0
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if e.typ == tar.TypeReg {
			tw.Write([]byte(e.body))
		}
	}
	tw.Close()
	return &buf
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestResolveStaysInRoot(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "etc"), 0o755)
	os.Symlink("/", filepath.Join(root, "abs"))
	os.Symlink("../../../..", filepath.Join(root, "up"))
	os.Symlink("/etc", filepath.Join(root, "etclink"))
	cases := map[string]string{
		"/../../etc/passwd":   "/etc/passwd",
		"/abs/etc/passwd":     "/etc/passwd",
		"/up/etc/passwd":      "/etc/passwd",
		"/etclink/passwd":     "/etc/passwd",
		"/a/../../../b":       "/b",
		"etclink/../x":        "/x",
		"/missing/dir/../end": "/missing/end",
	}
	for in, want := range cases {
		got, err := Resolve(root, in, true)
		if err != nil {
			t.Fatalf("Resolve(%q): %v", in, err)
		}
		if got != root+want {
			t.Errorf("Resolve(%q) = %q, want %q", in, got, root+want)
		}
	}
}

func TestExtractCannotEscape(t *testing.T) {
	parent := t.TempDir()
	root := filepath.Join(parent, "root")
	os.Mkdir(root, 0o755)
	must(t, Extract(root, layer(t,
		ent{name: "link", typ: tar.TypeSymlink, link: "/"},
		ent{name: "link/escaped", typ: tar.TypeReg, body: "y"},
		ent{name: "rel", typ: tar.TypeSymlink, link: "../../.."},
		ent{name: "rel/escaped2", typ: tar.TypeReg, body: "z"},
	), ExtractOptions{}))
	for _, p := range []string{"escaped", "escaped2"} {
		if _, err := os.Lstat(filepath.Join(parent, p)); err == nil {
			t.Errorf("%s was written outside the root", p)
		}
		if _, err := os.Lstat(filepath.Join(root, p)); err != nil {
			t.Errorf("%s should have landed inside the root: %v", p, err)
		}
	}
}

// Entries that climb with "..", in their name, a whiteout or a hard link's
// target, and whiteouts of "." or "..", are refused naming the entry; the
// root and what is beside it stay as they were.
func TestExtractRefusesHostileEntries(t *testing.T) {
	for _, tc := range []struct {
		e    ent
		want string
	}{
		{ent{name: "../outside", typ: tar.TypeReg, body: "x"}, `entry "../outside": ".." in its path`},
		{ent{name: "a/../../outside", typ: tar.TypeReg, body: "x"}, `".." in its path`},
		{ent{name: "a/../b", typ: tar.TypeDir}, `".." in its path`},
		{ent{name: ".wh..", typ: tar.TypeReg}, `entry ".wh..": a whiteout of "."`},
		{ent{name: "kept/.wh..", typ: tar.TypeReg}, `a whiteout of "."`},
		{ent{name: ".wh...", typ: tar.TypeReg}, `a whiteout of ".."`},
		{ent{name: "kept/.wh.", typ: tar.TypeReg}, `a whiteout of ""`},
		{ent{name: "../.wh.beside", typ: tar.TypeReg}, `".." in its path`},
		{ent{name: "hard", typ: tar.TypeLink, link: "../../etc/hostname"}, `entry "hard": a hard link to "../../etc/hostname"`},
	} {
		parent := t.TempDir()
		root := filepath.Join(parent, "root")
		must(t, os.MkdirAll(filepath.Join(root, "kept"), 0o755))
		must(t, os.WriteFile(filepath.Join(root, "kept", "file"), []byte("k"), 0o644))
		must(t, os.WriteFile(filepath.Join(parent, "beside"), []byte("b"), 0o644))
		err := Extract(root, layer(t, tc.e), ExtractOptions{})
		var ee *EntryError
		if !errors.As(err, &ee) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: got %v, want an EntryError with %q", tc.e.name, err, tc.want)
		}
		for _, p := range []string{filepath.Join(root, "kept", "file"), filepath.Join(parent, "beside")} {
			if _, err := os.Stat(p); err != nil {
				t.Errorf("%q: %s is gone: %v", tc.e.name, p, err)
			}
		}
		if _, err := os.Lstat(filepath.Join(parent, "outside")); err == nil {
			t.Errorf("%q: wrote outside the root", tc.e.name)
		}
	}
}

func TestExtractWhiteouts(t *testing.T) {
	root := t.TempDir()
	must(t, Extract(root, layer(t,
		ent{name: "a/", typ: tar.TypeDir, mode: 0o755},
		ent{name: "a/old", typ: tar.TypeReg, body: "old"},
		ent{name: "b/", typ: tar.TypeDir, mode: 0o755},
		ent{name: "b/gone", typ: tar.TypeReg, body: "g"},
		ent{name: "b/kept", typ: tar.TypeReg, body: "k"},
		ent{name: "suid", typ: tar.TypeReg, body: "s", mode: 0o4755},
	), ExtractOptions{}))
	must(t, Extract(root, layer(t,
		ent{name: "a/", typ: tar.TypeDir, mode: 0o755},
		ent{name: "a/.wh..wh..opq", typ: tar.TypeReg},
		ent{name: "a/new", typ: tar.TypeReg, body: "new"},
		ent{name: "b/.wh.gone", typ: tar.TypeReg},
	), ExtractOptions{}))
	if _, err := os.Lstat(filepath.Join(root, "a/old")); err == nil {
		t.Error("opaque directory kept a/old")
	}
	if _, err := os.Lstat(filepath.Join(root, "a/new")); err != nil {
		t.Error("opaque directory lost its own a/new")
	}
	if _, err := os.Lstat(filepath.Join(root, "b/gone")); err == nil {
		t.Error("whiteout did not remove b/gone")
	}
	if _, err := os.Lstat(filepath.Join(root, "b/kept")); err != nil {
		t.Error("whiteout removed b/kept too")
	}
	fi, err := os.Stat(filepath.Join(root, "suid"))
	must(t, err)
	if fi.Mode()&os.ModeSetuid == 0 {
		t.Errorf("setuid bit lost: %v", fi.Mode())
	}
}

func TestParseChmod(t *testing.T) {
	for _, tc := range []struct {
		spec  string
		in    os.FileMode
		isDir bool
		want  os.FileMode
	}{
		{"0640", 0o777, false, 0o640},
		{"4755", 0o644, false, 0o755 | os.ModeSetuid},
		{"u=rwx,g=rx,o=", 0o666, false, 0o750},
		{"a+X", 0o644, true, 0o755},
		{"a+X", 0o644, false, 0o644},
		{"go-w", 0o777, false, 0o755},
		{"+x", 0o600, false, 0o711},
		{"u+s", 0o755, false, 0o755 | os.ModeSetuid},
	} {
		f, err := ParseChmod(tc.spec)
		if err != nil {
			t.Fatalf("%s: %v", tc.spec, err)
		}
		if got := f(tc.in, tc.isDir); got != tc.want {
			t.Errorf("%s on %v: %v, want %v", tc.spec, tc.in, got, tc.want)
		}
	}
	for _, bad := range []string{"99999", "u=q", "z+x", "rwx"} {
		if _, err := ParseChmod(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestDecompressTellsFormatsApart(t *testing.T) {
	data := []byte("plain tar bytes, or anything else")
	var gz, zs, xzb bytes.Buffer
	gw := pgzip.NewWriter(&gz)
	gw.Write(data)
	gw.Close()
	zw, _ := zstd.NewWriter(&zs)
	zw.Write(data)
	zw.Close()
	xw, _ := xz.NewWriter(&xzb)
	xw.Write(data)
	xw.Close()
	for name, in := range map[string][]byte{"plain": data, "gzip": gz.Bytes(), "zstd": zs.Bytes(), "xz": xzb.Bytes()} {
		r, err := Decompress(bytes.NewReader(in))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		got, err := io.ReadAll(r)
		r.Close()
		if err != nil || !bytes.Equal(got, data) {
			t.Errorf("%s: got %q, %v", name, got, err)
		}
	}
}

// Entries that replace a directory or a symlink change where later
// entries of the same layer go: nothing resolved before may be reused.
func TestExtractFollowsWhatTheLayerReplaced(t *testing.T) {
	root := t.TempDir()
	must(t, Extract(root, layer(t,
		ent{name: "d/", typ: tar.TypeDir, mode: 0o755},
		ent{name: "d/f", typ: tar.TypeReg, body: "f"},
		ent{name: "real/", typ: tar.TypeDir, mode: 0o755},
		ent{name: "x", typ: tar.TypeReg, body: "x"},
		ent{name: "s", typ: tar.TypeSymlink, link: "real"},
	), ExtractOptions{}))
	must(t, Extract(root, layer(t,
		ent{name: "d/g", typ: tar.TypeReg, body: "g"},
		ent{name: "d", typ: tar.TypeSymlink, link: "/real"},
		ent{name: "d/h", typ: tar.TypeReg, body: "h"},
		ent{name: "x/", typ: tar.TypeDir, mode: 0o750},
		ent{name: "x/y", typ: tar.TypeReg, body: "y"},
		ent{name: "s", typ: tar.TypeReg, body: "now a file"},
		ent{name: "s2", typ: tar.TypeSymlink, link: "/real"},
		ent{name: "s2/z", typ: tar.TypeReg, body: "z"},
		ent{name: "hl", typ: tar.TypeLink, link: "d/h"},
		ent{name: "real/h", typ: tar.TypeReg, body: "h2"},
	), ExtractOptions{}))
	read := func(p string) string {
		t.Helper()
		b, err := os.ReadFile(filepath.Join(root, p))
		if err != nil {
			t.Fatalf("reading %s: %v", p, err)
		}
		return string(b)
	}
	if l, err := os.Readlink(filepath.Join(root, "d")); err != nil || l != "/real" {
		t.Errorf("d = %q, %v; want a symlink to /real", l, err)
	}
	if got := read("real/z"); got != "z" {
		t.Errorf("s2/z did not go through the symlink s2 to real/z: %q", got)
	}
	if got := read("real/h"); got != "h2" {
		t.Errorf("real/h = %q, want the layer's last write h2", got)
	}
	if got := read("hl"); got != "h" {
		t.Errorf("hl = %q, want the content real/h had when it was linked (h)", got)
	}
	fi, err := os.Lstat(filepath.Join(root, "x"))
	must(t, err)
	if !fi.IsDir() || fi.Mode().Perm() != 0o750 {
		t.Errorf("x = %v, want a 0750 directory", fi.Mode())
	}
	if got := read("x/y"); got != "y" {
		t.Errorf("x/y = %q", got)
	}
	fi, err = os.Lstat(filepath.Join(root, "s"))
	must(t, err)
	if !fi.Mode().IsRegular() || read("s") != "now a file" {
		t.Errorf("s = %v, want the regular file", fi.Mode())
	}
	if _, err := os.Stat(filepath.Join(root, "real")); err != nil {
		t.Errorf("replacing the symlink s removed its target: %v", err)
	}
}
