package user

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// rootWith is a root directory whose /etc holds passwd and group.
func rootWith(t *testing.T, passwd, group string) string {
	t.Helper()
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "etc/passwd"), []byte(passwd), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "etc/group"), []byte(group), 0o644); err != nil {
		t.Fatal(err)
	}
	return root
}

func TestResolveGroups(t *testing.T) {
	root := rootWith(t, "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n",
		"root:x:0:\nstaff:x:50:app\napp:x:1000:\nwheel:x:10:root,app\n")
	for _, tc := range []struct {
		spec     string
		uid, gid uint32
		groups   []uint32
	}{
		// The primary group always, as docker and BuildKit; a user
		// named alone also gets the groups listing it.
		{"app", 1000, 1000, []uint32{1000, 50, 10}},
		{"1000", 1000, 1000, []uint32{1000, 50, 10}},
		{"app:staff", 1000, 50, []uint32{50}},
		{"1000:50", 1000, 50, []uint32{50}},
		{"4242", 4242, 0, []uint32{0}},
		{"", 0, 0, []uint32{0, 10}},
	} {
		id, err := Resolve(root, tc.spec)
		if err != nil {
			t.Fatalf("%q: %v", tc.spec, err)
		}
		if id.UID != tc.uid || id.GID != tc.gid || !reflect.DeepEqual(id.Groups, tc.groups) {
			t.Errorf("%q: uid %d gid %d groups %v, want %d %d %v", tc.spec, id.UID, id.GID, id.Groups, tc.uid, tc.gid, tc.groups)
		}
	}
}

// COPY --chown forms, as BuildKit v0.34 resolves them.
func TestResolveChown(t *testing.T) {
	root := rootWith(t, "root:x:0:0:root:/root:/bin/sh\nsvc:x:4242:4343::/home/svc:/bin/sh\n",
		"root:x:0:\nsvcgrp:x:4343:\nother:x:5555:\n")
	for _, tc := range []struct {
		spec     string
		uid, gid uint32
	}{
		{"1234", 1234, 1234},
		{"1234:", 1234, 1234},
		{":99", 0, 99},
		{"root", 0, 0},
		{"svc", 4242, 4343},
		{"svc:", 4242, 4343},
		{"svc:other", 4242, 5555},
		{"4242:other", 4242, 5555},
	} {
		uid, gid, err := ResolveChown(root, tc.spec)
		if err != nil {
			t.Errorf("%q: %v", tc.spec, err)
			continue
		}
		if uid != tc.uid || gid != tc.gid {
			t.Errorf("%q: %d:%d, want %d:%d", tc.spec, uid, gid, tc.uid, tc.gid)
		}
	}
	for _, bad := range []string{"nosuch", "svc:nosuch", "1:nosuch"} {
		if _, _, err := ResolveChown(root, bad); err == nil {
			t.Errorf("%q resolved, want an error", bad)
		}
	}
}
