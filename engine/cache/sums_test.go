package cache

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestSumsRoundTrip(t *testing.T) {
	file := filepath.Join(t.TempDir(), "sub", "sums")
	later := time.Now().Add(time.Hour)
	st := FileStat{Dev: 1, Ino: 2, Size: 3, Mtime: 4, Ctime: 5}
	s := LoadSums(file, later)
	s.Record("/ctx/a", st, Of("a"), true)
	s.Record("/ctx/b", FileStat{Dev: 1, Ino: 3, Size: 3, Mtime: 4, Ctime: 5}, Of("b"), true)
	if err := s.Save(file); err != nil {
		t.Fatal(err)
	}
	s = LoadSums(file, later)
	if k, _, ok := s.Lookup("/ctx/a", st); !ok || k != Of("a") {
		t.Fatalf("Lookup = %s, %v", k, ok)
	}
	for _, other := range []FileStat{
		{Dev: 1, Ino: 2, Size: 4, Mtime: 4, Ctime: 5},
		{Dev: 1, Ino: 2, Size: 3, Mtime: 4, Ctime: 6},
		{Dev: 1, Ino: 2, Size: 3, Mtime: 5, Ctime: 5},
		{Dev: 1, Ino: 9, Size: 3, Mtime: 4, Ctime: 5},
		{Dev: 2, Ino: 2, Size: 3, Mtime: 4, Ctime: 5},
	} {
		if _, _, ok := s.Lookup("/ctx/a", other); ok {
			t.Errorf("Lookup with stat %+v hit", other)
		}
	}
	// Only what this build used is kept: /ctx/b goes.
	if err := s.Save(file); err != nil {
		t.Fatal(err)
	}
	s = LoadSums(file, later)
	if _, _, ok := s.Lookup("/ctx/b", FileStat{Dev: 1, Ino: 3, Size: 3, Mtime: 4, Ctime: 5}); ok {
		t.Error("an entry not used by the last build was kept")
	}
	if _, _, ok := s.Lookup("/ctx/a", st); !ok {
		t.Error("the entry used by the last build was lost")
	}
}

func TestSumsDamagedFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "sums")
	st := FileStat{Dev: 1, Ino: 2, Size: 3, Mtime: 4, Ctime: 5}
	s := LoadSums(file, time.Now())
	s.Record("/ctx/a", st, Of("a"), true)
	if err := s.Save(file); err != nil {
		t.Fatal(err)
	}
	dt, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	for name, bad := range map[string][]byte{
		"truncated": dt[:len(dt)-7],
		"flipped":   append(append([]byte(nil), dt[:30]...), append([]byte{dt[30] ^ 1}, dt[31:]...)...),
		"empty":     nil,
	} {
		if err := os.WriteFile(file, bad, 0o644); err != nil {
			t.Fatal(err)
		}
		if _, _, ok := LoadSums(file, time.Now()).Lookup("/ctx/a", st); ok {
			t.Errorf("%s file: Lookup hit", name)
		}
	}
}

func TestSumsZeroStatNeverKept(t *testing.T) {
	file := filepath.Join(t.TempDir(), "sums")
	s := LoadSums(file, time.Now().Add(time.Hour))
	s.Record("/ctx/a", FileStat{}, Of("a"), true)
	s.Record("/ctx/b", FileStat{Ino: 1}, Of("b"), true)
	if err := s.Save(file); err != nil {
		t.Fatal(err)
	}
	s = LoadSums(file, time.Now())
	if _, _, ok := s.Lookup("/ctx/b", FileStat{Ino: 1}); !ok {
		t.Fatal("the entry with a stat was not kept")
	}
	if _, _, ok := s.Lookup("/ctx/a", FileStat{}); ok {
		t.Fatal("a file without stat was kept")
	}
}
