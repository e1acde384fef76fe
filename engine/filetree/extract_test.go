package filetree

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// randomLayer makes a layer of entries over a small set of names, so that
// entries replace each other, go below symlinks, link to each other and
// white each other out, in every order.
func randomLayer(rng *rand.Rand) []byte {
	// Regular files only at leaves, where nothing goes below them: an
	// entry below a file fails, serial or not, and ends the case.
	dirs := []string{"a", "b", "c", "a/b"}
	leaves := []string{"a/c", "b/a", "a/b/c", "c/a", "a/b/a"}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	last := ""
	for range 5 + rng.IntN(40) {
		p := leaves[rng.IntN(len(leaves))]
		if rng.IntN(2) == 0 {
			p = dirs[rng.IntN(len(dirs))]
		}
		h := &tar.Header{Name: p, Mode: 0o644, ModTime: time.Unix(int64(rng.IntN(1000)), 0), Uid: rng.IntN(3), Gid: rng.IntN(3)}
		var body []byte
		switch k := rng.IntN(10); {
		case k < 2:
			h.Typeflag, h.Mode = tar.TypeDir, 0o755
		case k < 5:
			h.Name = leaves[rng.IntN(len(leaves))]
			h.Typeflag = tar.TypeReg
			size := rng.IntN(300)
			if rng.IntN(8) == 0 {
				size = smallFile + rng.IntN(2000)
			}
			body = bytes.Repeat([]byte{byte('a' + rng.IntN(26))}, size)
			h.Size = int64(size)
		case k < 7:
			h.Typeflag = tar.TypeSymlink
			h.Linkname = []string{"a", "b", "../c", "/a/b", "/", "missing", "."}[rng.IntN(7)]
		case k < 8 && last != "":
			// To the file just written, so that it is there.
			h.Name = leaves[rng.IntN(len(leaves))]
			h.Typeflag, h.Linkname = tar.TypeLink, last
		case k < 9:
			h.Typeflag, h.Name = tar.TypeReg, path.Join(path.Dir(p), WhiteoutPrefix+path.Base(p))
		default:
			h.Typeflag, h.Name = tar.TypeReg, path.Join(dirs[rng.IntN(len(dirs))], OpaqueWhiteout)
		}
		last = ""
		if h.Typeflag == tar.TypeReg && !strings.Contains(h.Name, WhiteoutPrefix) {
			last = h.Name
		}
		if err := tw.WriteHeader(h); err != nil {
			panic(err)
		}
		tw.Write(body)
	}
	tw.Close()
	return buf.Bytes()
}

// describe lists every path under root with what Extract sets, hard
// links as the first path of their inode. Directory times are left out:
// a directory no entry names gets the time its children were made.
func describe(t *testing.T, root string) string {
	t.Helper()
	var b strings.Builder
	inodes := map[uint64]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		st := fi.Sys().(*syscall.Stat_t)
		fmt.Fprintf(&b, "%s %v %d:%d", rel, fi.Mode(), st.Uid, st.Gid)
		switch {
		case fi.Mode()&os.ModeSymlink != 0:
			l, _ := os.Readlink(p)
			fmt.Fprintf(&b, " -> %s %d", l, fi.ModTime().Unix())
		case fi.Mode().IsRegular():
			c, _ := os.ReadFile(p)
			fmt.Fprintf(&b, " %d %q %d", fi.Size(), c[:min(len(c), 8)], fi.ModTime().Unix())
			if first, ok := inodes[st.Ino]; ok {
				fmt.Fprintf(&b, " = %s", first)
			} else {
				inodes[st.Ino] = rel
			}
		}
		b.WriteByte('\n')
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// The workers change how fast a layer lands, never what lands.
func TestExtractWithWorkersAsSerial(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	okCases := 0
	for i := range 300 {
		var layers [][]byte
		for range 1 + rng.IntN(3) {
			layers = append(layers, randomLayer(rng))
		}
		var got [2]string
		var errs [2]error
		for j, serial := range []bool{true, false} {
			root := t.TempDir()
			for _, l := range layers {
				if errs[j] = Extract(root, bytes.NewReader(l), ExtractOptions{serial: serial}); errs[j] != nil {
					break
				}
			}
			got[j] = describe(t, root)
		}
		if (errs[0] == nil) != (errs[1] == nil) {
			t.Fatalf("case %d: serial err %v, with workers %v", i, errs[0], errs[1])
		}
		if errs[0] != nil {
			continue // what is left after an error depends on timing
		}
		okCases++
		if got[0] != got[1] {
			t.Fatalf("case %d: with workers\n%s\nserial\n%s", i, got[1], got[0])
		}
	}
	// Enough cases must get through for the comparison to mean much.
	if okCases < 50 {
		t.Fatalf("only %d of 300 cases extracted without error", okCases)
	}
}
