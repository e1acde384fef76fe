package run

import (
	"os"
	"path/filepath"
	"testing"
)

// A user's subordinate range is found by number or by name; a user
// without one, or a malformed line, gives none.
func TestSubordinate(t *testing.T) {
	f := filepath.Join(t.TempDir(), "subuid")
	if err := os.WriteFile(f, []byte("alice:100000:65536\n1234:200000:1000\nbad line\nroot:x:5\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got, err := subordinate(f, 1234); err != nil || got != [2]int{200000, 1000} {
		t.Errorf("by number: %v, %v", got, err)
	}
	if got, err := subordinate(f, 0); err == nil {
		t.Errorf("root's malformed line gave %v", got)
	}
	if _, err := subordinate(f, 4321); err == nil {
		t.Error("a user with no range got one")
	}
}
