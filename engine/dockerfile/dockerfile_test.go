package dockerfile

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Each testdata/errors/NAME.Dockerfile must fail to parse with an error
// that contains the first line of NAME.err (file name and line included).
func TestParseErrorsNameFileAndLine(t *testing.T) {
	files, err := filepath.Glob("testdata/errors/*.Dockerfile")
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden files: %v", err)
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".Dockerfile")
		t.Run(name, func(t *testing.T) {
			src, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			want, err := os.ReadFile(strings.TrimSuffix(f, ".Dockerfile") + ".err")
			if err != nil {
				t.Fatal(err)
			}
			_, perr := Parse("Dockerfile", src)
			if perr == nil {
				t.Fatal("parsed without error")
			}
			if w := strings.TrimSpace(string(want)); !strings.Contains(perr.Error(), w) {
				t.Errorf("error %q does not contain %q", perr, w)
			}
		})
	}
}

func TestNeededStages(t *testing.T) {
	f, err := Parse("Dockerfile", []byte(`FROM busybox AS a
FROM busybox AS unused
RUN false
FROM busybox AS c
FROM a AS b
RUN --mount=type=bind,from=c,target=/x true
FROM busybox
COPY --from=b /x /y
`))
	if err != nil {
		t.Fatal(err)
	}
	bases := []string{"busybox", "busybox", "busybox", "a", "busybox"}
	got := f.Needed(4, bases)
	want := []int{0, 2, 3, 4}
	if len(got) != len(want) {
		t.Fatalf("needed %v, want %v", got, want)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("needed %v, want %v", got, want)
		}
	}
}
