package engine

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/kaniko-build/kaniko-build/engine/cache"
	"github.com/kaniko-build/kaniko-build/engine/fs"
)

func treeKey(t *testing.T, dir string) cache.Key {
	t.Helper()
	h := cache.NewHasher(cache.Key{})
	if err := hashTree(h, dir, "src", func(string) bool { return false }, false, nil); err != nil {
		t.Fatal(err)
	}
	return h.Sum()
}

// makeTree writes enough files that the hashing workers interleave.
func makeTree(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for i := range 300 {
		p := filepath.Join(dir, fmt.Sprintf("d%d", i%7), fmt.Sprintf("f%03d", i))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(fmt.Sprintf("file %d %s", i, make([]byte, i*50))), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("d0/f000", filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestHashTreeSeesEveryInput(t *testing.T) {
	base := treeKey(t, makeTree(t))
	if again := treeKey(t, makeTree(t)); again != base {
		t.Fatal("the same tree, written twice, hashes differently")
	}
	for name, change := range map[string]func(dir string) error{
		"content": func(d string) error { return os.WriteFile(filepath.Join(d, "d3/f003"), []byte("other"), 0o644) },
		"name":    func(d string) error { return os.Rename(filepath.Join(d, "d3/f003"), filepath.Join(d, "d3/g003")) },
		"mode":    func(d string) error { return os.Chmod(filepath.Join(d, "d3/f003"), 0o600) },
		"owner":   func(d string) error { return os.Lchown(filepath.Join(d, "d3/f003"), 1000, 1000) },
		"symlink": func(d string) error {
			os.Remove(filepath.Join(d, "link"))
			return os.Symlink("d0/f007", filepath.Join(d, "link"))
		},
		"deletion": func(d string) error { return os.Remove(filepath.Join(d, "d3/f003")) },
		"hardlink": func(d string) error {
			os.Remove(filepath.Join(d, "d3/f003"))
			return os.Link(filepath.Join(d, "d3/f010"), filepath.Join(d, "d3/f003"))
		},
		"xattr": func(d string) error {
			return unix.Lsetxattr(filepath.Join(d, "d3/f003"), "user.k", []byte("v"), 0)
		},
	} {
		t.Run(name, func(t *testing.T) {
			dir := makeTree(t)
			if err := change(dir); err != nil {
				cannotHere(t, "cannot make the change here: %v", err)
			}
			if treeKey(t, dir) == base {
				t.Errorf("changing the %s left the key as it was", name)
			}
		})
	}
}

func TestHashTreeReportsUnreadableFiles(t *testing.T) {
	dir := makeTree(t)
	// A FIFO is not regular: it is keyed by its metadata, never opened
	// (which would block). A missing tree is an error.
	if err := unix.Mkfifo(filepath.Join(dir, "fifo"), 0o644); err != nil {
		cannotHere(t, "making a FIFO: %v", err)
	}
	h := cache.NewHasher(cache.Key{})
	if err := hashTree(h, filepath.Join(dir, "missing"), "src", func(string) bool { return false }, false, nil); err == nil {
		t.Error("hashing a missing tree succeeded")
	}
	if err := hashTree(h, dir, "src", func(string) bool { return false }, false, nil); err != nil {
		t.Errorf("a FIFO in the tree: %v", err)
	}
}

// BenchmarkHashTree20k keys a COPY of 20,000 files of 0-20 KiB (about
// 200 MB, the bench's manyfiles context): what a fully cached rebuild
// still reads.
func BenchmarkHashTree20k(b *testing.B) {
	dir := b.TempDir()
	buf := make([]byte, 20<<10)
	for i := range buf {
		buf[i] = "abcdefghij klmnop\n"[i%18]
	}
	for i := range 20000 {
		p := filepath.Join(dir, fmt.Sprintf("d%03d", i%200), fmt.Sprintf("f%05d.txt", i))
		if i < 200 {
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				b.Fatal(err)
			}
		}
		if err := os.WriteFile(p, buf[:(i*7919)%len(buf)], 0o644); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(20000 * 10 << 10)
	b.Run("read", func(b *testing.B) {
		for b.Loop() {
			h := cache.NewHasher(cache.Key{})
			if err := hashTree(h, dir, "files", func(string) bool { return false }, false, nil); err != nil {
				b.Fatal(err)
			}
		}
	})
	// With the sums --cache-dir keeps: a rebuild of an unchanged context.
	file := filepath.Join(b.TempDir(), "sums")
	sums := cache.LoadSums(file, time.Now().Add(2*time.Second))
	if err := hashTree(cache.NewHasher(cache.Key{}), dir, "files", func(string) bool { return false }, false, sums); err != nil {
		b.Fatal(err)
	}
	if err := sums.Save(file); err != nil {
		b.Fatal(err)
	}
	b.Run("kept-sums", func(b *testing.B) {
		for b.Loop() {
			sums := cache.LoadSums(file, time.Now())
			h := cache.NewHasher(cache.Key{})
			if err := hashTree(h, dir, "files", func(string) bool { return false }, false, sums); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// sumsKey hashes dir with sums loaded from file and saves them back. now
// is what LoadSums takes for the present: a second ahead makes the fresh
// test files old enough to keep.
func sumsKey(t *testing.T, dir, file string) cache.Key {
	t.Helper()
	sums := cache.LoadSums(file, time.Now().Add(2*time.Second))
	h := cache.NewHasher(cache.Key{})
	if err := hashTree(h, dir, "src", func(string) bool { return false }, false, sums); err != nil {
		t.Fatal(err)
	}
	if err := sums.Save(file); err != nil {
		t.Fatal(err)
	}
	return h.Sum()
}

func TestHashTreeSumsSeeEveryChange(t *testing.T) {
	dir := makeTree(t)
	file := filepath.Join(t.TempDir(), "sums")
	want := treeKey(t, dir)
	if got := sumsKey(t, dir, file); got != want {
		t.Fatalf("first keying with sums: %s, without: %s", got, want)
	}
	if got := sumsKey(t, dir, file); got != want {
		t.Fatalf("keying from kept sums: %s, from contents: %s", got, want)
	}
	// The kept sums are used: an entry made wrong on purpose shows up.
	poisoned := filepath.Join(t.TempDir(), "poisoned")
	p := filepath.Join(dir, "d1", "f001")
	fi, err := os.Lstat(p)
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	s := cache.LoadSums(poisoned, time.Now().Add(2*time.Second))
	s.Record(p, cache.FileStat{Dev: st.Dev, Ino: st.Ino, Size: uint64(st.Size), Mtime: st.Mtim.Nano(), Ctime: st.Ctim.Nano()}, cache.Of("wrong"), true)
	if err := s.Save(poisoned); err != nil {
		t.Fatal(err)
	}
	if got := sumsKey(t, dir, poisoned); got == want {
		t.Fatal("a kept sum was not used")
	}

	// Same size, mtime put back: only the ctime tells.
	orig, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	changed := append([]byte(nil), orig...)
	changed[0] ^= 1
	if err := os.WriteFile(p, changed, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(p, fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
	want2 := treeKey(t, dir)
	if want2 == want {
		t.Fatal("the content change did not change the key")
	}
	if got := sumsKey(t, dir, file); got != want2 {
		t.Fatalf("after a same-size write: %s, from contents: %s", got, want2)
	}
	// A file replaced by another with the same content: same key.
	q := filepath.Join(dir, "d2", "f002")
	dt, err := os.ReadFile(q)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(q+".new", dt, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(q+".new", q); err != nil {
		t.Fatal(err)
	}
	if got := sumsKey(t, dir, file); got != want2 {
		t.Fatalf("after replacing a file by its copy: %s, want %s", got, want2)
	}
}

func TestSumsKeepNoRecentFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "sums")
	// now as it is: the file was written less than a second ago.
	s := cache.LoadSums(file, time.Now())
	h := cache.NewHasher(cache.Key{})
	if err := hashTree(h, dir, "src", func(string) bool { return false }, false, s); err != nil {
		t.Fatal(err)
	}
	if err := s.Save(file); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(file); !os.IsNotExist(err) {
		t.Fatalf("sums saved for a file changed just now (err %v)", err)
	}
}

// hashTreeSerial is the walk hashTree replaced, kept as its reference: it adds every file under host: name, type, mode, owner, size and
// content (link target for symlinks). With exceptions ("!" lines in the
// ignore file) it enters excluded directories, as COPY does, since a file
// below one may be brought back. The walk is in order; file contents are
// hashed by several workers, and added in walk order; sums, when not nil,
// spares reading the files it knows unchanged.
func hashTreeSerial(h *cache.Hasher, host, rel string, excluded func(string) bool, exceptions bool) error {
	type item struct {
		parts []string // added before the content
		file  string   // a regular file whose content follows, or ""
		st    cache.FileStat
		key   cache.Key
	}
	var items []*item
	// Workers hash contents while the walk goes on.
	work := make(chan *item, 256)
	errs := make(chan error, hashWorkers)
	var wg sync.WaitGroup
	for range hashWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var first error
			buf := make([]byte, 128<<10)
			for it := range work {
				if first != nil {
					continue
				}
				if it.key, first = hashFile(it.file, buf); first == nil {

				}
			}
			errs <- first
		}()
	}
	links := map[[2]uint64]string{} // hard links: which earlier file each shares
	err := filepath.Walk(host, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		r := filepath.ToSlash(filepath.Join(rel, strings.TrimPrefix(p, host)))
		if p != host && excluded(r) {
			if fi.IsDir() && !exceptions {
				return filepath.SkipDir
			}
			return nil
		}
		uid, gid := uint32(0), uint32(0)
		var fst cache.FileStat
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			uid, gid = st.Uid, st.Gid
			fst = cache.FileStat{Dev: st.Dev, Ino: st.Ino, Size: uint64(st.Size),
				Mtime: st.Mtim.Nano(), Ctime: st.Ctim.Nano()}
			if st.Nlink > 1 && fi.Mode().IsRegular() {
				key := [2]uint64{st.Dev, st.Ino}
				if first, ok := links[key]; ok {
					items = append(items, &item{parts: []string{r, "hardlink", first}})
					return nil
				}
				links[key] = r
			}
		}
		it := &item{parts: append([]string{r, fmt.Sprintf("%o %d:%d %d", fi.Mode(), uid, gid, fi.Size())}, fs.Xattrs(p)...)}
		switch {
		case fi.Mode()&os.ModeSymlink != 0:
			t, err := os.Readlink(p)
			if err != nil {
				return err
			}
			it.parts = append(it.parts, t)
		case fi.Mode().IsRegular():
			it.file, it.st = p, fst
			work <- it
		}
		items = append(items, it)
		return nil
	})
	close(work)
	wg.Wait()
	close(errs)
	if err != nil {
		return err
	}
	for err := range errs {
		if err != nil {
			return err
		}
	}
	for _, it := range items {
		// Each part on its own, as the hasher length-prefixes them.
		for _, part := range it.parts {
			h.Add(part)
		}
		if it.file != "" {
			h.AddKey(it.key)
		}
	}
	return nil
}

// The concurrent walk keys every tree as the serial one did.
func TestHashTreeMatchesSerialWalk(t *testing.T) {
	dir := makeTree(t)
	if err := os.Link(filepath.Join(dir, "d3/f010"), filepath.Join(dir, "d4/hard")); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "skip/keep"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"skip/a", "skip/keep/b"} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte(f), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	skip := func(r string) bool { return strings.Contains(r, "skip/") && !strings.HasSuffix(r, "keep/b") }
	for _, c := range []struct {
		host, rel  string
		excluded   func(string) bool
		exceptions bool
	}{
		{dir, "src", func(string) bool { return false }, false},
		{dir, "", func(string) bool { return false }, false},
		{dir, "src", skip, false},
		{dir, "src", skip, true},
		{filepath.Join(dir, "d3/f010"), "d3/f010", func(string) bool { return false }, false},
		{filepath.Join(dir, "link"), "link", func(string) bool { return false }, false},
	} {
		want, got := cache.NewHasher(cache.Key{}), cache.NewHasher(cache.Key{})
		if err := hashTreeSerial(want, c.host, c.rel, c.excluded, c.exceptions); err != nil {
			t.Fatal(err)
		}
		if err := hashTree(got, c.host, c.rel, c.excluded, c.exceptions, nil); err != nil {
			t.Fatal(err)
		}
		if got.Sum() != want.Sum() {
			t.Errorf("%s as %q (exceptions %v): concurrent walk %s, serial %s", c.host, c.rel, c.exceptions, got.Sum(), want.Sum())
		}
	}
}

// cannotHere skips a test whose set-up this filesystem does not allow
// (xattrs, FIFOs), but fails it in CI, whose machine allows it.
func cannotHere(t *testing.T, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf(format, args...)
	}
	t.Skipf(format, args...)
}
