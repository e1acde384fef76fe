package tekton

import (
	"strings"
	"testing"
)

// TestCatalogIsUpToDate regenerates the catalog in memory and compares it
// with the files in the repository.
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
		t.Errorf("the generated Tekton catalog is out of date; run `make catalog` and commit the result:\n  %s",
			strings.Join(stale, "\n  "))
	}
}
