package snapshot

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// Benchmarks of the metadata walk and diff that follow every RUN and COPY
// (a regression guard; `make bench` times whole builds):
//
//	go test -run '^$' -bench . -benchtime 5x ./engine/snapshot

const (
	benchFiles = 100_000
	benchDirs  = 1_000
)

// benchTree writes n one-byte files spread over benchDirs directories.
func benchTree(b *testing.B, n int) string {
	b.Helper()
	root := b.TempDir()
	for i := 0; i < n; i++ {
		dir := filepath.Join(root, fmt.Sprintf("d%04d", i%benchDirs))
		if i < benchDirs {
			if err := os.Mkdir(dir, 0o755); err != nil {
				b.Fatal(err)
			}
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%06d", i)), []byte("x"), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	return root
}

func perFile(b *testing.B) {
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/benchFiles, "ns/file")
}

// BenchmarkScan100k walks 100,000 files and 1,000 directories.
func BenchmarkScan100k(b *testing.B) {
	root := benchTree(b, benchFiles)
	for b.Loop() {
		st, err := Scan(root, nil)
		if err != nil {
			b.Fatal(err)
		}
		if st.Len() != benchFiles+benchDirs {
			b.Fatalf("scanned %d paths", st.Len())
		}
	}
	perFile(b)
}

// mutate adds, modifies and deletes 1% of the files each.
func mutate(b *testing.B, root string) {
	b.Helper()
	file := func(name string, i int) string {
		return filepath.Join(root, fmt.Sprintf("d%04d", i%benchDirs), fmt.Sprintf("%s%06d", name, i))
	}
	for i := 0; i < benchFiles; i += 100 {
		if err := os.WriteFile(file("f", i), []byte("changed"), 0o644); err != nil {
			b.Fatal(err)
		}
		if err := os.Remove(file("f", i+1)); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(file("new", i), []byte("new"), 0o644); err != nil {
			b.Fatal(err)
		}
	}
}

// changed is what mutate changes: 3% of the files and the 20 directories
// whose entries it added or removed.
const changed = 3*benchFiles/100 + 20

// BenchmarkDiff100k compares two states of 100,000 files, 3% changed.
func BenchmarkDiff100k(b *testing.B) {
	root := benchTree(b, benchFiles)
	old, err := Scan(root, nil)
	if err != nil {
		b.Fatal(err)
	}
	mutate(b, root)
	cur, err := Scan(root, nil)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if n := Diff(old, cur).Len(); n != changed {
			b.Fatalf("%d changes", n)
		}
	}
	perFile(b)
}

// BenchmarkScanDiff100k is what a step does after its command: walk the
// root again and diff against the state before.
func BenchmarkScanDiff100k(b *testing.B) {
	root := benchTree(b, benchFiles)
	old, err := Scan(root, nil)
	if err != nil {
		b.Fatal(err)
	}
	mutate(b, root)
	for b.Loop() {
		cur, err := Scan(root, nil)
		if err != nil {
			b.Fatal(err)
		}
		if n := Diff(old, cur).Len(); n != changed {
			b.Fatalf("%d changes", n)
		}
	}
	perFile(b)
}
