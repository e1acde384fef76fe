package snapshot

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
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

func entries(t *testing.T, root string, old, cur State) map[string]byte {
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

func scan(t *testing.T, root string) State {
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
