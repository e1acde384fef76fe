package rootfs

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestMoveAsideAndBackIn sets a stage's files aside the way in-container
// mode does between stages: everything moves but the ignored paths, which
// stay, and a directory holding an ignored path is remade with its
// metadata. MoveIn brings them back.
func TestMoveAsideAndBackIn(t *testing.T) {
	root, dst := t.TempDir(), filepath.Join(t.TempDir(), "stage-0")
	write := func(p, data string, mode os.FileMode) {
		t.Helper()
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(data), mode); err != nil {
			t.Fatal(err)
		}
	}
	write("usr/bin/tool", "tool", 0o755)
	write("etc/passwd", "root:x:0:0::/root:/bin/sh\n", 0o644)
	write("etc/hosts", "mounted", 0o644)        // ignored (a mount)
	write("kaniko/tmp/keep", "executor", 0o600) // ignored (the executor's)
	if err := os.Symlink("usr/bin", filepath.Join(root, "bin")); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(filepath.Join(root, "usr/bin/tool"), filepath.Join(root, "etc/tool-link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(root, "etc"), 0o750|os.ModeSetgid); err != nil {
		t.Fatal(err)
	}
	if err := os.Lchown(filepath.Join(root, "etc"), 12, 34); err != nil {
		t.Fatal(err)
	}
	mtime := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	if err := os.Chtimes(filepath.Join(root, "etc"), mtime, mtime); err != nil {
		t.Fatal(err)
	}
	ignored := IgnoreList{"/etc/hosts", "/kaniko"}
	if err := MoveAside(root, dst, ignored, ignored.Covers); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"usr/bin/tool", "etc/passwd", "etc/tool-link", "bin"} {
		if _, err := os.Lstat(filepath.Join(dst, p)); err != nil {
			t.Errorf("%s was not moved: %v", p, err)
		}
		if _, err := os.Lstat(filepath.Join(root, p)); err == nil {
			t.Errorf("%s is still in the root", p)
		}
	}
	for _, p := range []string{"etc/hosts", "kaniko/tmp/keep"} {
		if _, err := os.Lstat(filepath.Join(root, p)); err != nil {
			t.Errorf("ignored %s left the root: %v", p, err)
		}
		if _, err := os.Lstat(filepath.Join(dst, p)); err == nil {
			t.Errorf("ignored %s was set aside", p)
		}
	}
	fi, err := os.Lstat(filepath.Join(dst, "etc"))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode() != os.ModeDir|os.ModeSetgid|0o750 || !fi.ModTime().Equal(mtime) {
		t.Errorf("etc is %v %v, want %v %v", fi.Mode(), fi.ModTime(), os.ModeDir|os.ModeSetgid|0o750, mtime)
	}
	if st := fi.Sys().(*syscall.Stat_t); st.Uid != 12 || st.Gid != 34 {
		t.Errorf("etc is owned by %d:%d, want 12:34", st.Uid, st.Gid)
	}
	a, _ := os.Stat(filepath.Join(dst, "usr/bin/tool"))
	b, _ := os.Stat(filepath.Join(dst, "etc/tool-link"))
	if !os.SameFile(a, b) {
		t.Error("the hard link was broken")
	}

	// And back in, as a base extracted beside the root is: into a root
	// whose etc is the container's own.
	if err := os.Chmod(filepath.Join(root, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := MoveIn(dst, root, ignored); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"usr/bin/tool", "etc/passwd", "etc/tool-link", "bin", "etc/hosts", "kaniko/tmp/keep"} {
		if _, err := os.Lstat(filepath.Join(root, p)); err != nil {
			t.Errorf("%s is not in the root: %v", p, err)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(root, "etc/hosts")); string(b) != "mounted" {
		t.Errorf("etc/hosts = %q, want the container's", b)
	}
	fi, err = os.Lstat(filepath.Join(root, "etc"))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode() != os.ModeDir|os.ModeSetgid|0o750 || !fi.ModTime().Equal(mtime) {
		t.Errorf("etc moved in is %v %v, want %v %v", fi.Mode(), fi.ModTime(), os.ModeDir|os.ModeSetgid|0o750, mtime)
	}
	a, _ = os.Stat(filepath.Join(root, "usr/bin/tool"))
	b, _ = os.Stat(filepath.Join(root, "etc/tool-link"))
	if !os.SameFile(a, b) {
		t.Error("the hard link was broken moving in")
	}
}

// TestDiscard leaves a finished build's scratch as trash for the next
// build, having deleted its layers and large files now; what links lead
// out of it is untouched.
func TestDiscard(t *testing.T) {
	parent, outside := t.TempDir(), t.TempDir()
	dir := filepath.Join(parent, ScratchPrefix+"1")
	write := func(p string, size int) string {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, make([]byte, size), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	write(filepath.Join(dir, "layer.tar.gz"), 10)
	write(filepath.Join(dir, "stage-0", "out", "big.bin"), largeFile)
	write(filepath.Join(dir, "stage-0", "out", "small.txt"), largeFile-1)
	target := write(filepath.Join(outside, "user.bin"), largeFile)
	if err := os.Symlink(target, filepath.Join(dir, "stage-0", "link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(target, filepath.Join(dir, "stage-0", "hardlink")); err != nil {
		t.Fatal(err)
	}

	Discard(dir)

	trash := filepath.Join(parent, trashPrefix+ScratchPrefix+"1")
	for p, want := range map[string]bool{
		dir:                                  false,
		filepath.Join(trash, "layer.tar.gz"): false,
		filepath.Join(trash, "stage-0/out/big.bin"):   false,
		filepath.Join(trash, "stage-0/out/small.txt"): true,
		filepath.Join(trash, "stage-0/link"):          true,
		filepath.Join(trash, "stage-0/hardlink"):      false,
		target:                                        true,
	} {
		_, err := os.Lstat(p)
		if got := err == nil; got != want {
			t.Errorf("%s exists: %v, want %v (%v)", p, got, want, err)
		}
	}
	if b, err := os.ReadFile(target); err != nil || len(b) != largeFile {
		t.Errorf("the file a link led to: %d bytes, %v", len(b), err)
	}
}
