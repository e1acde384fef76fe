package filetree

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Chmod maps a file's mode to the one COPY --chmod gives it.
type Chmod func(mode os.FileMode, isDir bool) os.FileMode

// ParseChmod parses an octal mode ("0755") or, as BuildKit, a symbolic
// one ("u=rwx,g=rx,o=", "a+X", "go-w").
func ParseChmod(s string) (Chmod, error) {
	if n, err := strconv.ParseUint(s, 8, 32); err == nil {
		if n > 0o7777 {
			return nil, fmt.Errorf("mode %s is out of range", s)
		}
		m := TarMode(int64(n))
		return func(os.FileMode, bool) os.FileMode { return m }, nil
	}
	var clauses []chmodClause
	for _, c := range strings.Split(s, ",") {
		cl, ok := parseChmodClause(c)
		if !ok {
			return nil, fmt.Errorf("invalid mode %q", s)
		}
		clauses = append(clauses, cl)
	}
	return func(mode os.FileMode, isDir bool) os.FileMode {
		for _, c := range clauses {
			mode = c.apply(mode, isDir)
		}
		return mode
	}, nil
}

// chmodClause is one clause of a symbolic mode ("g+rx").
type chmodClause struct {
	who   os.FileMode // mask of the rwx bits it touches
	op    byte
	perms string
}

// parseChmodClause parses one clause of a symbolic mode; ok is false
// when it is not one.
func parseChmodClause(c string) (_ chmodClause, ok bool) {
	i := strings.IndexAny(c, "+-=")
	if i < 0 {
		return chmodClause{}, false
	}
	var who os.FileMode
	for _, w := range c[:i] {
		switch w {
		case 'u':
			who |= 0o700
		case 'g':
			who |= 0o070
		case 'o':
			who |= 0o007
		case 'a':
			who |= 0o777
		default:
			return chmodClause{}, false
		}
	}
	if who == 0 {
		who = 0o777
	}
	perms := c[i+1:]
	if strings.Trim(perms, "rwxXst") != "" {
		return chmodClause{}, false
	}
	return chmodClause{who, c[i], perms}, true
}

// apply returns mode changed by the clause.
func (c chmodClause) apply(mode os.FileMode, isDir bool) os.FileMode {
	bits, special := c.bits(mode, isDir)
	switch c.op {
	case '+':
		mode |= bits | special
	case '-':
		mode &^= bits | special
	case '=':
		mode = mode&^c.who | bits
		if c.who&0o700 != 0 {
			mode &^= os.ModeSetuid
		}
		if c.who&0o070 != 0 {
			mode &^= os.ModeSetgid
		}
		mode |= special
	}
	return mode
}

// bits are the permission bits and the setuid, setgid and sticky bits
// the clause names for a file of the given mode.
func (c chmodClause) bits(mode os.FileMode, isDir bool) (bits, special os.FileMode) {
	for _, p := range c.perms {
		switch p {
		case 'r':
			bits |= 0o444
		case 'w':
			bits |= 0o222
		case 'x':
			bits |= 0o111
		case 'X':
			if isDir || mode&0o111 != 0 {
				bits |= 0o111
			}
		case 's':
			if c.who&0o700 != 0 {
				special |= os.ModeSetuid
			}
			if c.who&0o070 != 0 {
				special |= os.ModeSetgid
			}
		case 't':
			special |= os.ModeSticky
		}
	}
	return bits & c.who, special
}
