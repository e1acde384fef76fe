package snapshot

import "bytes"

// Kind says how a path changed.
type Kind int

// The kinds of change.
const (
	Added Kind = iota
	Modified
	Deleted
	// Replaced is a directory that is gone and came back (or changed type):
	// lower content under it must be hidden.
	Replaced
	unchanged
)

// Change is one changed path.
type Change struct {
	Path string
	Kind Kind
}

// Changes are the differences from one State to the next. They are found
// by walking both in tree order each time they are asked for, never held
// as a list: a COPY of a million files changes a million paths.
// Deletions under a deleted or replaced directory are folded into it.
type Changes struct {
	old, cur *State
	quiet    map[string]bool
}

// Diff compares old with cur.
func Diff(old, cur *State) *Changes { return &Changes{old: old, cur: cur} }

// IgnoreCtime makes a new ctime alone no change at the path p.
func (c *Changes) IgnoreCtime(p string) {
	if c.quiet == nil {
		c.quiet = map[string]bool{}
	}
	c.quiet[p] = true
}

// Len is the number of changed paths.
func (c *Changes) Len() int {
	n := 0
	c.each(func(string, Kind) { n++ })
	return n
}

// List is every change, in tree order.
func (c *Changes) List() []Change {
	var out []Change
	c.each(func(p string, k Kind) { out = append(out, Change{p, k}) })
	return out
}

// Below reports, for each directory of dirs, whether anything below it
// changed.
func (c *Changes) Below(dirs []string) []bool {
	out := make([]bool, len(dirs))
	c.each(func(p string, _ Kind) {
		for i, d := range dirs {
			if len(p) > len(d)+1 && p[len(d)] == '/' && p[:len(d)] == d {
				out[i] = true
			}
		}
	})
	return out
}

func (c *Changes) each(fn func(p string, k Kind)) {
	_ = c.walk(visitFunc(func(p []byte, k Kind, _ meta, _ bool) error {
		if k != unchanged {
			fn(string(p), k)
		}
		return nil
	}))
}

// visitor sees what a walk of two States finds.
type visitor interface {
	// entry is a path of the new State, or a deleted one (kind Deleted,
	// m zero). replaced says it is below a replaced directory.
	entry(p []byte, k Kind, m meta, replaced bool) error
	// enter and leave bracket the entries of a directory of the new State.
	enter(p []byte)
	leave()
}

type visitFunc func(p []byte, k Kind, m meta, replaced bool) error

func (f visitFunc) entry(p []byte, k Kind, m meta, replaced bool) error { return f(p, k, m, replaced) }
func (visitFunc) enter([]byte)                                          {}
func (visitFunc) leave()                                                {}

// walk visits old and cur together in tree order: every path of cur, and
// the deletions not folded into a deleted or replaced directory.
func (c *Changes) walk(v visitor) error {
	w := &merge{c: c, v: v, buf: make([]byte, 0, 256)}
	var o, n *node
	if c.old != nil && len(c.old.nodes) > 0 {
		o = &c.old.nodes[0]
	}
	if c.cur != nil && len(c.cur.nodes) > 0 {
		n = &c.cur.nodes[0]
	}
	return w.dir(o, n, false)
}

type merge struct {
	c   *Changes
	v   visitor
	buf []byte // the path being visited
}

// dir merges the entries of a directory in old (o, nil for none) and cur
// (n); replaced says it is below a replaced directory.
func (w *merge) dir(o, n *node, replaced bool) error {
	i, j := 0, 0
	olen, nlen := 0, 0
	if o != nil {
		olen = o.len()
	}
	if n != nil {
		nlen = n.len()
	}
	for i < olen || j < nlen {
		cmp := 0
		switch {
		case i >= olen:
			cmp = 1
		case j >= nlen:
			cmp = -1
		default:
			cmp = bytes.Compare(o.name(i), n.name(j))
		}
		if cmp < 0 {
			// Below a replaced directory, the old entries are all hidden.
			if !replaced {
				at := w.push(o.name(i))
				err := w.v.entry(w.buf, Deleted, meta{}, false)
				w.buf = w.buf[:at]
				if err != nil {
					return err
				}
			}
			i++
			continue
		}
		var om *meta
		if cmp == 0 {
			om = &o.metas[i]
			i++
		}
		err := w.one(om, n.name(j), n.metas[j], replaced)
		j++
		if err != nil {
			return err
		}
	}
	return nil
}

// one visits the entry name, m in cur (om in old, nil for none) and what
// is below it.
func (w *merge) one(om *meta, name []byte, m meta, replaced bool) error {
	at := w.push(name)
	defer func() { w.buf = w.buf[:at] }()
	k, below := Added, replaced
	var osub *node
	if om != nil {
		switch {
		case om.isDir() && (!m.isDir() || om.id != m.id):
			k, below = Replaced, true
		case om.sum != m.sum || om.ctime != m.ctime && !w.quiet():
			k = Modified
		default:
			k = unchanged
		}
		if om.isDir() && om.sub >= 0 {
			osub = &w.c.old.nodes[om.sub]
		}
	}
	if err := w.v.entry(w.buf, k, m, replaced); err != nil {
		return err
	}
	if !m.isDir() || m.sub < 0 {
		return nil
	}
	w.v.enter(w.buf)
	defer w.v.leave()
	return w.dir(osub, &w.c.cur.nodes[m.sub], below)
}

// quiet reports whether a new ctime alone is no change at this path.
func (w *merge) quiet() bool { return len(w.c.quiet) > 0 && w.c.quiet[string(w.buf)] }

func (w *merge) push(name []byte) int {
	at := len(w.buf)
	w.buf = append(append(w.buf, '/'), name...)
	return at
}
