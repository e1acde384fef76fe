package buildctx

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/kaniko-build/kaniko-build/engine/cache"
)

func treeKey(t *testing.T, dir string) cache.Key {
	t.Helper()
	h := cache.NewHasher(cache.Key{})
	if err := HashTree(h, dir, "src", func(string) bool { return false }, false, nil); err != nil {
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
	if err := HashTree(h, filepath.Join(dir, "missing"), "src", func(string) bool { return false }, false, nil); err == nil {
		t.Error("hashing a missing tree succeeded")
	}
	if err := HashTree(h, dir, "src", func(string) bool { return false }, false, nil); err != nil {
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
			if err := HashTree(h, dir, "files", func(string) bool { return false }, false, nil); err != nil {
				b.Fatal(err)
			}
		}
	})
	// With the sums --cache-dir keeps: a rebuild of an unchanged context.
	file := filepath.Join(b.TempDir(), "sums")
	sums := cache.LoadSums(file, time.Now().Add(2*time.Second))
	if err := HashTree(cache.NewHasher(cache.Key{}), dir, "files", func(string) bool { return false }, false, sums); err != nil {
		b.Fatal(err)
	}
	if err := sums.Save(file); err != nil {
		b.Fatal(err)
	}
	b.Run("kept-sums", func(b *testing.B) {
		for b.Loop() {
			sums := cache.LoadSums(file, time.Now())
			h := cache.NewHasher(cache.Key{})
			if err := HashTree(h, dir, "files", func(string) bool { return false }, false, sums); err != nil {
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
	if err := HashTree(h, dir, "src", func(string) bool { return false }, false, sums); err != nil {
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
	if err := HashTree(h, dir, "src", func(string) bool { return false }, false, s); err != nil {
		t.Fatal(err)
	}
	if err := s.Save(file); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(file); !os.IsNotExist(err) {
		t.Fatalf("sums saved for a file changed just now (err %v)", err)
	}
}

// The concurrent walk keys a tree the same way every time, whatever order
// its workers finish in; TestHashTreeSeesEveryInput checks what it keys.
func TestHashTreeIsDeterministic(t *testing.T) {
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
	none := func(string) bool { return false }
	keys := map[cache.Key]string{}
	for _, c := range []struct {
		host, rel  string
		excluded   func(string) bool
		exceptions bool
	}{
		{dir, "src", none, false},
		{dir, "", none, false},
		{dir, "src", skip, false},
		{dir, "src", skip, true},
		{filepath.Join(dir, "d3/f010"), "d3/f010", none, false},
		{filepath.Join(dir, "link"), "link", none, false},
	} {
		name := fmt.Sprintf("%s as %q (exceptions %v)", c.host, c.rel, c.exceptions)
		var first cache.Key
		for i := 0; i < 20; i++ {
			h := cache.NewHasher(cache.Key{})
			if err := HashTree(h, c.host, c.rel, c.excluded, c.exceptions, nil); err != nil {
				t.Fatal(err)
			}
			if i == 0 {
				first = h.Sum()
			} else if h.Sum() != first {
				t.Fatalf("%s: walk %d keyed %s, the first %s", name, i, h.Sum(), first)
			}
		}
		if other, ok := keys[first]; ok {
			t.Errorf("%s keyed as %s", name, other)
		}
		keys[first] = name
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
