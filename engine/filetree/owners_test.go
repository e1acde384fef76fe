package filetree

import (
	"archive/tar"
	"bytes"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/kaniko-build/kaniko-build/engine/owners"
)

// Without root (a table squashing this process's IDs), a layer's owners
// and modes go to the table, the disk keeps what the builder needs to go
// on, and a whiteout or a replaced path forgets what the table had.
func TestExtractAndCopyWithoutRoot(t *testing.T) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, h := range []*tar.Header{
		{Name: "ro/", Typeflag: tar.TypeDir, Mode: 0o555, Uid: 0, Gid: 0},
		{Name: "ro/secret", Typeflag: tar.TypeReg, Mode: 0o400, Uid: 1000, Gid: 50, Size: 2},
		{Name: "ro/suid", Typeflag: tar.TypeReg, Mode: 0o4755, Size: 2},
		{Name: "ro/link", Typeflag: tar.TypeLink, Linkname: "ro/secret"},
		{Name: "gone/", Typeflag: tar.TypeDir, Mode: 0o700, Uid: 7, Gid: 7},
		{Name: "gone/x", Typeflag: tar.TypeReg, Mode: 0o644, Uid: 7, Gid: 7, Size: 2},
		{Name: ".wh.gone", Typeflag: tar.TypeReg},
	} {
		h.ModTime = time.Unix(1, 0)
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Size > 0 {
			tw.Write([]byte("x\n"))
		}
	}
	tw.Close()
	root := t.TempDir()
	tb := owners.NoRoot(os.Geteuid(), os.Getegid())
	if err := Extract(root, &buf, ExtractOptions{Owners: tb, serial: true}); err != nil {
		t.Fatal(err)
	}
	want := map[string][3]uint32{
		"/ro":        {0, 0, syscall.S_IFDIR | 0o555},
		"/ro/secret": {1000, 50, syscall.S_IFREG | 0o400},
		"/ro/suid":   {0, 0, syscall.S_IFREG | syscall.S_ISUID | 0o755},
		"/ro/link":   {1000, 50, syscall.S_IFREG | 0o400},
	}
	check := func(root string, tb *owners.Table, want map[string][3]uint32) {
		t.Helper()
		for p, w := range want {
			var st syscall.Stat_t
			if err := syscall.Lstat(filepath.Join(root, p), &st); err != nil {
				t.Fatal(err)
			}
			if u, g, m := tb.Apply(p, st.Uid, st.Gid, st.Mode, st.Ino); [3]uint32{u, g, m} != w {
				t.Errorf("%s reads %d:%d %o, want %d:%d %o", p, u, g, m, w[0], w[1], w[2])
			}
			if need := uint32(0o600); st.Mode&syscall.S_IFMT == syscall.S_IFDIR && st.Mode&0o700 != 0o700 || st.Mode&need != need {
				t.Errorf("%s is %o on disk: the builder cannot go on", p, st.Mode)
			}
		}
	}
	check(root, tb, want)
	if tb.Len() != 3 {
		t.Errorf("the table keeps %d paths, want /ro, /ro/secret and /ro/link (/gone was whited out)", tb.Len())
	}

	// A copy to another root takes the owners and modes through both
	// tables; --chown's owner goes to the destination's.
	dst := t.TempDir()
	dt := owners.NoRoot(os.Geteuid(), os.Getegid())
	if err := Copy(filepath.Join(root, "ro"), "", dst, "/copy", CopyOptions{Owners: dt, SrcOwners: tb, SrcRoot: root}); err != nil {
		t.Fatal(err)
	}
	check(dst, dt, map[string][3]uint32{
		"/copy/secret": want["/ro/secret"], "/copy/suid": want["/ro/suid"], "/copy": {0, 0, syscall.S_IFDIR | 0o755},
	})
	if err := Copy(filepath.Join(root, "ro", "suid"), "", dst, "/copy/secret", CopyOptions{Owners: dt, SrcOwners: tb, SrcRoot: root,
		Owner: &Owner{UID: 3, GID: 4}}); err != nil {
		t.Fatal(err)
	}
	check(dst, dt, map[string][3]uint32{"/copy/secret": {3, 4, syscall.S_IFREG | syscall.S_ISUID | 0o755}})
}
