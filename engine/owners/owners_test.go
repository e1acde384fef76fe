package owners

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// Without root, the builder's files read as root's, an owner or bits the
// disk cannot take are kept, and forgetting a directory forgets below it.
func TestSquashingTable(t *testing.T) {
	tb := &Table{m: map[string]Meta{}, squash: true, uid: 1234, gid: 99}
	dir := t.TempDir()
	f := filepath.Join(dir, "f")
	if err := os.WriteFile(f, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	reg := uint32(syscall.S_IFREG)
	if u, g, m := tb.Apply("/f", 1234, 99, reg|0o644, 0); u != 0 || g != 0 || m != reg|0o644 {
		t.Errorf("the builder's file reads %d:%d %o, want 0:0 100644", u, g, m)
	}
	if err := tb.Chown(f, "/f", 1000, 50); err != nil {
		t.Fatal(err)
	}
	if err := tb.Chmod(f, "/f", os.ModeSetuid|0o400, false); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(f)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm()&0o600 != 0o600 {
		t.Errorf("the disk has %v: the builder cannot read or replace it", fi.Mode())
	}
	if u, g, m := tb.Apply("/f", 1234, 99, reg|0o644, 0); u != 1000 || g != 50 || m != reg|syscall.S_ISUID|0o400 {
		t.Errorf("/f reads %d:%d %o, want 1000:50 104400", u, g, m)
	}
	// Back to root and to bits the disk holds: nothing is kept.
	if err := tb.Chown(f, "/f", 0, 0); err != nil {
		t.Fatal(err)
	}
	if err := tb.Chmod(f, "/f", 0o755, false); err != nil {
		t.Fatal(err)
	}
	if tb.Len() != 0 {
		t.Errorf("%d entries kept for a file the disk describes", tb.Len())
	}
	tb.setOwner("/d/x", 5, 5, false, 0)
	tb.setOwner("/dx", 6, 6, false, 0)
	tb.Forget("/d")
	if _, _, _ = tb.Apply("/d/x", 0, 0, 0, 0); tb.Len() != 1 {
		t.Errorf("Forget(/d) left %d entries, want /dx alone", tb.Len())
	}
	c := tb.Clone()
	c.Forget("/dx")
	if tb.Len() != 1 {
		t.Error("a clone shares its entries")
	}
}

// A nil table is the disk.
func TestNilTable(t *testing.T) {
	var tb *Table
	if u, g, m := tb.Apply("/x", 5, 6, 7, 0); u != 5 || g != 6 || m != 7 {
		t.Errorf("nil table changed the disk's values: %d %d %o", u, g, m)
	}
	if tb.Squashing() || tb.Len() != 0 || tb.Clone() != nil {
		t.Error("nil table keeps something")
	}
}

// As root in a user namespace, an owner kept for one inode does not
// follow the path to another: a RUN that remade it made it as the disk
// says.
func TestKeptForItsInode(t *testing.T) {
	tb := &Table{m: map[string]Meta{}}
	tb.setOwner("/opt", 1000, 50, false, 42)
	dir := uint32(syscall.S_IFDIR | 0o755)
	if u, g, _ := tb.Apply("/opt", 0, 0, dir, 42); u != 1000 || g != 50 {
		t.Errorf("the same inode reads %d:%d, want 1000:50", u, g)
	}
	if u, g, _ := tb.Apply("/opt", 0, 0, dir, 43); u != 0 || g != 0 {
		t.Errorf("another inode reads %d:%d, want the disk's 0:0", u, g)
	}
}
