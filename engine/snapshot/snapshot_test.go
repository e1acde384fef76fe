package snapshot

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io"
	iofs "io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func write(t *testing.T, p, s string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

func entries(t *testing.T, root string, old, cur *State) map[string]byte {
	t.Helper()
	var buf bytes.Buffer
	if err := WriteTar(&buf, root, cur, Diff(old, cur), TarOptions{}); err != nil {
		t.Fatal(err)
	}
	out := map[string]byte{}
	tr := tar.NewReader(&buf)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out[h.Name] = h.Typeflag
	}
}

func scan(t *testing.T, root string) *State {
	t.Helper()
	st, err := Scan(root, nil)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func TestDiffFindsChangesFromMetadata(t *testing.T) {
	root := t.TempDir()
	write(t, filepath.Join(root, "keep/same"), "same")
	write(t, filepath.Join(root, "mod/file"), "before")
	write(t, filepath.Join(root, "del/file"), "x")
	write(t, filepath.Join(root, "gone/sub/file"), "x")
	write(t, filepath.Join(root, "redo/old"), "x")
	write(t, filepath.Join(root, "todir"), "file becomes dir")
	os.MkdirAll(filepath.Join(root, "tolink/child"), 0o755)
	write(t, filepath.Join(root, "perm"), "p")
	old := scan(t, root)

	write(t, filepath.Join(root, "mod/file"), "after!")
	os.Remove(filepath.Join(root, "del/file"))
	os.RemoveAll(filepath.Join(root, "gone"))
	// Held open, the removed directory keeps its inode number, which the
	// new one would otherwise be free to reuse (then the layer whites
	// out redo/old alone, as valid but not what this test looks for).
	held, err := os.Open(filepath.Join(root, "redo"))
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	os.RemoveAll(filepath.Join(root, "redo"))
	write(t, filepath.Join(root, "redo/new"), "n")
	os.Remove(filepath.Join(root, "todir"))
	write(t, filepath.Join(root, "todir/inside"), "i")
	os.RemoveAll(filepath.Join(root, "tolink"))
	os.Symlink("/keep", filepath.Join(root, "tolink"))
	os.Chmod(filepath.Join(root, "perm"), 0o600)
	got := entries(t, root, old, scan(t, root))

	want := map[string]byte{
		"mod/":              tar.TypeDir,
		"mod/file":          tar.TypeReg,
		"del/":              tar.TypeDir,
		"del/.wh.file":      tar.TypeReg,
		".wh.gone":          tar.TypeReg,
		"redo/":             tar.TypeDir,
		"redo/.wh..wh..opq": tar.TypeReg,
		"redo/new":          tar.TypeReg,
		"todir/":            tar.TypeDir,
		"todir/inside":      tar.TypeReg,
		"tolink":            tar.TypeSymlink,
		"perm":              tar.TypeReg,
	}
	for name, typ := range want {
		if got[name] != typ {
			t.Errorf("layer entry %s: type %q, want %q", name, got[name], typ)
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			t.Errorf("unexpected layer entry %s", name)
		}
	}
}

func TestWriteTarIsDeterministic(t *testing.T) {
	root := t.TempDir()
	old := scan(t, root)
	for _, n := range []string{"b", "a", "c/d", "c/a"} {
		write(t, filepath.Join(root, n), n)
	}
	os.Link(filepath.Join(root, "a"), filepath.Join(root, "hard"))
	cur := scan(t, root)
	var x, y bytes.Buffer
	if err := WriteTar(&x, root, cur, Diff(old, cur), TarOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := WriteTar(&y, root, cur, Diff(old, cur), TarOptions{}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(x.Bytes(), y.Bytes()) {
		t.Fatal("two tars of the same changes differ")
	}
	got := entries(t, root, old, cur)
	if got["hard"] != tar.TypeLink && got["a"] != tar.TypeLink {
		t.Errorf("hard link not kept: a=%q hard=%q", got["a"], got["hard"])
	}
}

// A hard link to a symlink of an earlier layer (GNU ln does not follow
// symlinks) brings the symlink into the layer, and one is a link to the
// other, as docker writes it.
func TestHardLinkedSymlink(t *testing.T) {
	root := t.TempDir()
	write(t, filepath.Join(root, "usr/lib/os-release"), "ID=x")
	if err := os.Symlink("../usr/lib/os-release", filepath.Join(root, "os-release")); err != nil {
		t.Fatal(err)
	}
	old := scan(t, root)
	if err := os.Link(filepath.Join(root, "os-release"), filepath.Join(root, "hl")); err != nil {
		t.Fatal(err)
	}
	got := entries(t, root, old, scan(t, root))
	if got["hl"] != tar.TypeSymlink || got["os-release"] != tar.TypeLink {
		t.Errorf("hl=%q os-release=%q, want a symlink and a hard link to it", got["hl"], got["os-release"])
	}
}

// Scan's concurrent walk records what a plain serial walk does: every
// path but the skipped ones (a skipped directory not entered), with the
// same metadata and link targets (a long one included).
func TestScanMatchesASerialWalk(t *testing.T) {
	root := t.TempDir()
	long := strings.Repeat("t", 300)
	for i := 0; i < 40; i++ {
		write(t, filepath.Join(root, fmt.Sprintf("d%d/sub%d/f", i%7, i)), "x")
	}
	write(t, filepath.Join(root, "skipped/inside"), "x")
	write(t, filepath.Join(root, "top"), "x")
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.Symlink(long, filepath.Join(root, "d1/long-link")))
	must(os.Symlink("../top", filepath.Join(root, "d2/rel-link")))
	must(unix.Mkfifo(filepath.Join(root, "d3/fifo"), 0o600))
	must(os.Link(filepath.Join(root, "top"), filepath.Join(root, "d4/hard")))
	skip := func(p string) bool { return p == "/skipped" || p == "/d5/sub5" }

	want := map[string]Entry{}
	err := filepath.WalkDir(root, func(host string, d iofs.DirEntry, err error) error {
		if err != nil || host == root {
			return err
		}
		p := filepath.ToSlash(host[len(root):])
		if skip(p) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		var s unix.Stat_t
		if err := unix.Lstat(host, &s); err != nil {
			return err
		}
		e := Entry{Mode: s.Mode, UID: s.Uid, GID: s.Gid, Size: s.Size, Mtime: s.Mtim.Nano(), Ctime: s.Ctim.Nano(),
			Ino: s.Ino, Dev: uint64(s.Dev), Nlink: uint64(s.Nlink)}
		if d.Type()&iofs.ModeSymlink != 0 {
			if e.Link, err = os.Readlink(host); err != nil {
				return err
			}
		}
		if d.IsDir() {
			e.Size = 0
		}
		want[p] = e
		return nil
	})
	must(err)
	st, err := Scan(root, skip)
	must(err)
	got := metas(st)
	for p, e := range want {
		m := summarize(e)
		if g, ok := got[p]; !ok || g.sum != m.sum || g.ctime != m.ctime || g.id != m.id || g.mode != m.mode {
			t.Errorf("%s: got %+v, want %+v (%+v)", p, g, m, e)
		}
	}
	for p := range got {
		if _, ok := want[p]; !ok {
			t.Errorf("%s: scanned, but a walk does not find it", p)
		}
	}
	if st.Len() != len(want) {
		t.Errorf("Len %d, want %d", st.Len(), len(want))
	}
	if _, err := Scan(filepath.Join(root, "missing"), nil); err == nil {
		t.Error("scanning a missing root: no error")
	}
}

// metas lists the paths of st and what it holds of each, in tree order.
func metas(st *State) map[string]meta {
	out := map[string]meta{}
	Diff(nil, st).walk(visitFunc(func(p []byte, _ Kind, m meta, _ bool) error {
		out[string(p)] = m
		return nil
	}))
	return out
}

// A directory whose ctime alone changed is no change once told so;
// Below finds changes under a directory and Update records a new entry.
func TestIgnoreCtimeBelowAndUpdate(t *testing.T) {
	root := t.TempDir()
	write(t, filepath.Join(root, "quiet/keep"), "k")
	write(t, filepath.Join(root, "busy/keep"), "k")
	old := scan(t, root)
	for _, d := range []string{"quiet", "busy"} {
		// A mount point made and removed: the times put back, a new ctime.
		fi, err := os.Stat(filepath.Join(root, d))
		if err != nil {
			t.Fatal(err)
		}
		os.Mkdir(filepath.Join(root, d, "mnt"), 0o755)
		os.Remove(filepath.Join(root, d, "mnt"))
		os.Chtimes(filepath.Join(root, d), fi.ModTime(), fi.ModTime())
	}
	write(t, filepath.Join(root, "busy/new"), "n")
	cur := scan(t, root)
	ch := Diff(old, cur)
	if got := ch.Below([]string{"/quiet", "/busy", "/bus"}); !reflect.DeepEqual(got, []bool{false, true, false}) {
		t.Errorf("Below: %v", got)
	}
	if n := ch.Len(); n != 3 {
		t.Errorf("%d changes before /quiet's ctime is ignored, want 3: %v", n, ch.List())
	}
	ch.IgnoreCtime("/quiet")
	want := []Change{{"/busy", Modified}, {"/busy/new", Added}}
	if got := ch.List(); !reflect.DeepEqual(got, want) {
		t.Errorf("changes %v, want %v", got, want)
	}
	if err := cur.Update("/busy/new", Entry{Mode: unix.S_IFREG | 0o644}); err != nil {
		t.Fatal(err)
	}
	if err := cur.Update("/busy", Entry{Mode: unix.S_IFREG}); err == nil {
		t.Error("updating a directory as a file: no error")
	}
	if err := cur.Update("/missing", Entry{}); err == nil {
		t.Error("updating a missing path: no error")
	}
	if !cur.has("/busy/keep") || cur.has("/busy/kee") || cur.has("/busy/keep/x") {
		t.Error("Has")
	}
}

// Entries come in tree order: a directory, then what is in it, siblings
// by name, so "a/b" comes before "a.txt".
func TestWriteTarTreeOrder(t *testing.T) {
	root := t.TempDir()
	old := scan(t, root)
	for _, n := range []string{"a.txt", "a/b", "a/c/d", "a-b"} {
		write(t, filepath.Join(root, n), n)
	}
	cur := scan(t, root)
	var buf bytes.Buffer
	if err := WriteTar(&buf, root, cur, Diff(old, cur), TarOptions{}); err != nil {
		t.Fatal(err)
	}
	var got []string
	tr := tar.NewReader(&buf)
	for {
		h, err := tr.Next()
		if err != nil {
			break
		}
		got = append(got, h.Name)
	}
	want := []string{"a/", "a/b", "a/c/", "a/c/d", "a-b", "a.txt"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("order %q, want %q", got, want)
	}
}
