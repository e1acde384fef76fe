package solve

import (
	"sort"
	"testing"

	"github.com/kaniko-build/kaniko-build/engine/snapshot"
)

func TestVirtualSetQueries(t *testing.T) {
	paths := []string{"/app", "/app/a", "/app/a/f", "/app/a.txt", "/app/b"}
	if !sort.SliceIsSorted(paths, func(i, j int) bool { return treeCompare(paths[i], paths[j]) < 0 }) {
		t.Fatalf("%q is not in tree order", paths)
	}
	var r virtualRun
	for _, p := range paths {
		mode := uint32(0o100644)
		if p == "/app" || p == "/app/a" {
			mode = 0o40755
		}
		r.add(p, snapshot.Entry{Mode: mode})
	}
	var v virtualSet
	v.commit(r, nil)
	for p, want := range map[string][2]bool{
		"/app/a": {true, true}, "/app/a.txt": {true, false}, "/app/a/g": {false, false}, "/ap": {false, false},
	} {
		if found, isDir := v.lookup(p); found != want[0] || isDir != want[1] {
			t.Errorf("lookup %s: %v %v, want %v", p, found, isDir, want)
		}
	}
	for p, want := range map[string]bool{"/": true, "/app": true, "/app/a": true, "/ap": false, "/app/a/f/x": false, "/b": false} {
		if got := v.under(p); got != want {
			t.Errorf("under %s: %v", p, got)
		}
	}
	for p, want := range map[string]bool{"/app/a.txt/x": true, "/app/a/x": false, "/other/x": false} {
		if got := v.belowFile(p); got != want {
			t.Errorf("belowFile %s: %v", p, got)
		}
	}
	var empty *virtualSet
	if empty.under("/") || empty.belowFile("/a/b") {
		t.Error("an empty set holds something")
	}
}
