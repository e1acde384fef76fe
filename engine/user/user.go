// Package user resolves USER and --chown specs against an image's
// /etc/passwd and /etc/group.
package user

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/kaniko-build/kaniko-build/engine/filetree"
)

// Identity is a resolved user.
type Identity struct {
	UID, GID uint32
	Groups   []uint32 // supplementary groups
	Home     string
}

type passwdEntry struct {
	name     string
	uid, gid uint32
	home     string
}

type groupEntry struct {
	name    string
	gid     uint32
	members []string
}

// Resolve turns "user", "uid", "user:group" or "uid:gid" into ids, looking
// names up in root's /etc/passwd and /etc/group. An empty spec is root.
// Supplementary groups are the primary group, then (for a user named
// without a group) the groups that list the user as a member.
func Resolve(root, spec string) (Identity, error) {
	if spec == "" {
		spec = "0"
	}
	u, g, hasGroup := strings.Cut(spec, ":")
	users, err := readPasswd(root)
	if err != nil {
		return Identity{}, err
	}
	var id Identity
	var name string
	if n, err := strconv.ParseUint(u, 10, 32); err == nil {
		id.UID = uint32(n)
		id.Home = "/"
		if n == 0 {
			id.Home = "/root"
		}
		for _, e := range users {
			if e.uid == id.UID {
				id.GID, id.Home, name = e.gid, e.home, e.name
				break
			}
		}
	} else {
		found := false
		for _, e := range users {
			if e.name == u {
				id.UID, id.GID, id.Home, name = e.uid, e.gid, e.home, e.name
				found = true
				break
			}
		}
		if !found {
			return Identity{}, fmt.Errorf("unable to find user %s: no matching entries in passwd file", u)
		}
	}
	groups, err := readGroup(root)
	if err != nil {
		return Identity{}, err
	}
	if hasGroup {
		gid, err := resolveGroup(g, groups)
		if err != nil {
			return Identity{}, err
		}
		id.GID = gid
	}
	// As docker (since 20.10.18) and BuildKit: the primary group is a
	// supplementary group too; a user named without a group also gets
	// the groups that list it as a member.
	id.Groups = []uint32{id.GID}
	if name != "" && !hasGroup {
		for _, e := range groups {
			for _, m := range e.members {
				if m == name && e.gid != id.GID {
					id.Groups = append(id.Groups, e.gid)
				}
			}
		}
	}
	return id, nil
}

// ResolveChown resolves a --chown spec. A user alone takes the group of
// the same name... as Docker does: the user's primary group when the user
// is a name found in passwd, else the uid itself as gid.
func ResolveChown(root, spec string) (uid, gid uint32, err error) {
	u, g, hasGroup := strings.Cut(spec, ":")
	// As BuildKit: "1000:" is "1000", ":99" is "0:99".
	hasGroup = hasGroup && g != ""
	if u == "" {
		u = "0"
	}
	if n, err := strconv.ParseUint(u, 10, 32); err == nil && !hasGroup {
		return uint32(n), uint32(n), nil
	}
	if n, err := strconv.ParseUint(u, 10, 32); err == nil {
		uid = uint32(n)
	} else {
		id, err := Resolve(root, u)
		if err != nil {
			return 0, 0, err
		}
		uid, gid = id.UID, id.GID
	}
	if !hasGroup {
		return uid, gid, nil
	}
	groups, err := readGroup(root)
	if err != nil {
		return 0, 0, err
	}
	gid, err = resolveGroup(g, groups)
	return uid, gid, err
}

func resolveGroup(g string, groups []groupEntry) (uint32, error) {
	if n, err := strconv.ParseUint(g, 10, 32); err == nil {
		return uint32(n), nil
	}
	for _, e := range groups {
		if e.name == g {
			return e.gid, nil
		}
	}
	return 0, fmt.Errorf("unable to find group %s: no matching entries in group file", g)
}

func readPasswd(root string) ([]passwdEntry, error) {
	var out []passwdEntry
	err := readColon(root, "/etc/passwd", func(f []string) {
		if len(f) < 6 {
			return
		}
		uid, err1 := strconv.ParseUint(f[2], 10, 32)
		gid, err2 := strconv.ParseUint(f[3], 10, 32)
		if err1 != nil || err2 != nil {
			return
		}
		out = append(out, passwdEntry{f[0], uint32(uid), uint32(gid), f[5]})
	})
	return out, err
}

func readGroup(root string) ([]groupEntry, error) {
	var out []groupEntry
	err := readColon(root, "/etc/group", func(f []string) {
		if len(f) < 3 {
			return
		}
		gid, err := strconv.ParseUint(f[2], 10, 32)
		if err != nil {
			return
		}
		var members []string
		if len(f) > 3 && f[3] != "" {
			members = strings.Split(f[3], ",")
		}
		out = append(out, groupEntry{f[0], uint32(gid), members})
	})
	return out, err
}

func readColon(root, p string, fn func([]string)) error {
	host, err := filetree.Resolve(root, p, true)
	if err != nil {
		return err
	}
	f, err := os.Open(host)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading %s: %w", p, err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fn(strings.Split(line, ":"))
	}
	return sc.Err()
}
