package cache

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"
)

// FileStat is what identifies a file's content without reading it: a
// write changes the size or the change time (ctime), which no user can
// set, and a replaced file has another inode.
type FileStat struct {
	Dev, Ino, Size uint64
	Mtime, Ctime   int64 // nanoseconds since the epoch
}

// Sums remembers the content keys of files by their FileStat, from one
// build to the next, as git's index and BuildKit's context cache do, so
// that an unchanged context is keyed without reading it again. A nil
// *Sums remembers nothing.
//
// A file changed within the file system's timestamp granularity after it
// was read could keep its ctime ("racy git"): Sums never keeps a file
// whose ctime or mtime is less than racyMargin older than the moment Sums
// was made, before any file was read.
type Sums struct {
	before int64 // files changed at or after this are not kept

	old map[string]*sumEntry // read-only after LoadSums: looked up without a lock

	mu  sync.Mutex
	rec map[string]*sumEntry // recorded by this build
}

type sumEntry struct {
	st  FileStat
	key Key
	// plain: the file had no extended attributes (a change to them
	// changes the ctime), so a hit need not list them again.
	plain bool
	used  atomic.Bool // looked up by this build
}

// racyMargin is far above any file system's timestamp granularity.
const racyMargin = time.Second

var sumsMagic = []byte("kaniko-build sums 2\n")

// LoadSums reads the sums file at path; a missing, unreadable or damaged
// file gives empty Sums (keys are then computed from contents). now is
// the time before any file is read.
func LoadSums(path string, now time.Time) *Sums {
	s := &Sums{before: now.Add(-racyMargin).UnixNano(), old: map[string]*sumEntry{}, rec: map[string]*sumEntry{}}
	dt, err := os.ReadFile(path)
	if err != nil || len(dt) < len(sumsMagic)+sha256.Size || !bytes.HasPrefix(dt, sumsMagic) {
		return s
	}
	body, sum := dt[:len(dt)-sha256.Size], dt[len(dt)-sha256.Size:]
	if h := sha256.Sum256(body); !bytes.Equal(h[:], sum) {
		return s
	}
	old, err := decodeSums(body[len(sumsMagic):])
	if err == nil {
		s.old = old
	}
	return s
}

func decodeSums(b []byte) (map[string]*sumEntry, error) {
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b)) {
		return nil, errors.New("bad count")
	}
	b = b[k:]
	m := make(map[string]*sumEntry, n)
	entries := make([]sumEntry, n)
	for i := range n {
		l, k := binary.Uvarint(b)
		if k <= 0 || uint64(len(b)-k) < l+5*8+sha256.Size+1 {
			return nil, errors.New("truncated entry")
		}
		name := string(b[k : k+int(l)])
		b = b[k+int(l):]
		e := &entries[i]
		e.st.Dev = binary.LittleEndian.Uint64(b)
		e.st.Ino = binary.LittleEndian.Uint64(b[8:])
		e.st.Size = binary.LittleEndian.Uint64(b[16:])
		e.st.Mtime = int64(binary.LittleEndian.Uint64(b[24:]))
		e.st.Ctime = int64(binary.LittleEndian.Uint64(b[32:]))
		copy(e.key[:], b[40:])
		e.plain = b[40+sha256.Size] == 1
		b = b[40+sha256.Size+1:]
		m[name] = e
	}
	return m, nil
}

// Lookup gives the content key of the file name if its stat is the one
// remembered, and whether the file had no extended attributes then.
func (s *Sums) Lookup(name string, st FileStat) (k Key, plain, ok bool) {
	if s == nil || st == (FileStat{}) {
		return Key{}, false, false
	}
	e, ok := s.old[name]
	if !ok || e.st != st {
		return Key{}, false, false
	}
	e.used.Store(true)
	return e.key, e.plain, true
}

// Record remembers the content key of the file name, read after st was
// taken, and whether it has no extended attributes, unless the file
// changed too recently to be sure of it.
func (s *Sums) Record(name string, st FileStat, k Key, plain bool) {
	if s == nil || st == (FileStat{}) || st.Ctime >= s.before || st.Mtime >= s.before {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rec[name] = &sumEntry{st: st, key: k, plain: plain}
}

// Save writes the sums of the files looked up or recorded since LoadSums
// to path (replacing it whole), when they differ from what was loaded.
func (s *Sums) Save(path string) error {
	if s == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	keep := make(map[string]*sumEntry, len(s.old)+len(s.rec))
	for name, e := range s.old {
		if e.used.Load() {
			keep[name] = e
		}
	}
	if len(s.rec) == 0 && len(keep) == len(s.old) {
		return nil // as loaded
	}
	for name, e := range s.rec {
		keep[name] = e
	}
	b := append([]byte(nil), sumsMagic...)
	b = binary.AppendUvarint(b, uint64(len(keep)))
	for name, e := range keep {
		b = binary.AppendUvarint(b, uint64(len(name)))
		b = append(b, name...)
		for _, v := range []uint64{e.st.Dev, e.st.Ino, e.st.Size, uint64(e.st.Mtime), uint64(e.st.Ctime)} {
			b = binary.LittleEndian.AppendUint64(b, v)
		}
		b = append(b, e.key[:]...)
		if e.plain {
			b = append(b, 1)
		} else {
			b = append(b, 0)
		}
	}
	h := sha256.Sum256(b)
	b = append(b, h[:]...)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("saving file sums: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".sums-*")
	if err != nil {
		return fmt.Errorf("saving file sums: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return fmt.Errorf("saving file sums: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("saving file sums: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("saving file sums: %w", err)
	}
	return nil
}
