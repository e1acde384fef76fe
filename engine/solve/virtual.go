package solve

import (
	"path"
	"sort"
	"strings"

	"github.com/kaniko-build/kaniko-build/engine/snapshot"
)

// virtualSet holds the paths that layer-only COPYs made but did not
// write, compactly (a COPY may make a million): each COPY's paths back
// to back in tree order, and the entries of the directories among them.
type virtualSet struct {
	runs []virtualRun
	dirs map[string]snapshot.Entry
}

// virtualRun is the paths of one COPY, in tree order.
type virtualRun struct {
	names []byte
	ends  []uint32
	isDir []bool
}

func (r *virtualRun) len() int { return len(r.ends) }

func (r *virtualRun) at(i int) string {
	start := uint32(0)
	if i > 0 {
		start = r.ends[i-1]
	}
	return string(r.names[start:r.ends[i]])
}

func (r *virtualRun) add(p string, e snapshot.Entry) {
	r.names = append(r.names, p...)
	r.ends = append(r.ends, uint32(len(r.names)))
	r.isDir = append(r.isDir, e.IsDir())
}

// search is the first index whose path is at or after p in tree order.
func (r *virtualRun) search(p string) int {
	return sort.Search(r.len(), func(i int) bool { return treeCompare(r.at(i), p) >= 0 })
}

// treeCompare orders paths as a tree walk does: by component, that is
// bytewise with '/' before every other byte.
func treeCompare(a, b string) int {
	for i := 0; i < len(a) && i < len(b); i++ {
		x, y := a[i], b[i]
		if x == y {
			continue
		}
		if x == '/' {
			return -1
		}
		if y == '/' {
			return 1
		}
		if x < y {
			return -1
		}
		return 1
	}
	return len(a) - len(b)
}

// commit adds a COPY's paths and the entries of its directories.
func (v *virtualSet) commit(r virtualRun, dirs map[string]snapshot.Entry) {
	v.runs = append(v.runs, r)
	if v.dirs == nil {
		v.dirs = map[string]snapshot.Entry{}
	}
	for p, e := range dirs {
		v.dirs[p] = e
	}
}

func (v *virtualSet) empty() bool { return v == nil || len(v.runs) == 0 }

// lookup reports whether p is in the set and whether it is a directory.
func (v *virtualSet) lookup(p string) (found, isDir bool) {
	if v == nil {
		return false, false
	}
	// A later COPY's path replaces an earlier one's.
	for i := len(v.runs) - 1; i >= 0; i-- {
		r := &v.runs[i]
		if j := r.search(p); j < r.len() && r.at(j) == p {
			return true, r.isDir[j]
		}
	}
	return false, false
}

// dir is the entry of a directory in the set.
func (v *virtualSet) dir(p string) (snapshot.Entry, bool) {
	if v == nil {
		return snapshot.Entry{}, false
	}
	e, ok := v.dirs[p]
	return e, ok
}

// under reports whether the set holds dir or a path below it.
func (v *virtualSet) under(dir string) bool {
	if v == nil {
		return false
	}
	if dir == "/" {
		return !v.empty()
	}
	for i := range v.runs {
		r := &v.runs[i]
		if j := r.search(dir); j < r.len() {
			if p := r.at(j); p == dir || strings.HasPrefix(p, dir+"/") {
				return true
			}
		}
	}
	return false
}

// belowFile reports whether p lies below a path of the set that is no
// directory.
func (v *virtualSet) belowFile(p string) bool {
	for d := path.Dir(p); d != "/"; d = path.Dir(d) {
		if found, isDir := v.lookup(d); found && !isDir {
			return true
		}
	}
	return false
}
