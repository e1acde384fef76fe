package argo

import (
	"strings"
	"testing"
)

// TestCatalogIsUpToDate regenerates the Argo package and examples in
// memory and compares them with the files in the repository.
func TestCatalogIsUpToDate(t *testing.T) {
	files, err := Files()
	if err != nil {
		t.Fatal(err)
	}
	stale, err := files.Stale("..", OwnedDirs()...)
	if err != nil {
		t.Fatal(err)
	}
	if len(stale) > 0 {
		t.Errorf("the generated Argo catalog or examples are out of date; run `make catalog` and commit the result:\n  %s",
			strings.Join(stale, "\n  "))
	}
}
