package buildctx

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// writeFiles makes the files (path: content) under dir; a path ending in
// "/" is a directory.
func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for p, content := range files {
		host := filepath.Join(dir, filepath.FromSlash(p))
		if strings.HasSuffix(p, "/") {
			if err := os.MkdirAll(host, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(host), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(host, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestOpen(t *testing.T) {
	for _, tc := range []struct {
		name  string
		files map[string]string
		// dockerfile is joined to the context directory unless empty.
		dockerfile string
		excluded   []string
		included   []string
		exceptions bool
	}{{
		name:     "no ignore file",
		files:    map[string]string{"Dockerfile": "FROM scratch", "a.log": "", "build/out": ""},
		included: []string{"Dockerfile", "a.log", "build", "build/out", ".dockerignore"},
	}, {
		name:  "patterns, parents and comments",
		files: map[string]string{".dockerignore": "# a comment\n\n*.log\nbuild\n/abs\n./dot\n**/*.tmp\n"},
		excluded: []string{
			"a.log", "build", "build/out", "build/deep/er", "abs", "abs/x", "dot",
			"x.tmp", "a/b/c.tmp",
			// Leading slashes, dots and .. are cleaned as in-context paths.
			"/a.log", "./build/out", "a/../build", "../a.log",
		},
		included: []string{"Dockerfile", "sub/a.log", "builder", "sub/build", "sub/abs", "# a comment", "", ".", "/"},
	}, {
		name:       "exceptions",
		files:      map[string]string{".dockerignore": "*.md\n!README.md\nbuild\n!build/keep\n"},
		excluded:   []string{"CHANGES.md", "build", "build/drop", "build/keep/../drop"},
		included:   []string{"README.md", "build/keep", "src/x.md"},
		exceptions: true,
	}, {
		// As docker: the Dockerfile and .dockerignore are read by the
		// builder whatever the ignore file says, but COPY does not see
		// them when they are excluded. Open reads both regardless.
		name:     "Dockerfile and .dockerignore excluded",
		files:    map[string]string{".dockerignore": "Dockerfile\n.dockerignore\n", "Dockerfile": "FROM scratch"},
		excluded: []string{"Dockerfile", ".dockerignore"},
		included: []string{"Dockerfile.other"},
	}, {
		name: "<dockerfile>.dockerignore wins over .dockerignore",
		files: map[string]string{
			".dockerignore":                 "from-dockerignore\n",
			"app.Dockerfile":                "FROM scratch",
			"app.Dockerfile.dockerignore":   "from-specific\n",
			"other.Dockerfile.dockerignore": "from-other\n",
			"from-specific":                 "",
			"from-dockerignore":             "",
		},
		dockerfile: "app.Dockerfile",
		excluded:   []string{"from-specific"},
		included:   []string{"from-dockerignore", "from-other"},
	}, {
		name:       "no <dockerfile>.dockerignore: .dockerignore",
		files:      map[string]string{".dockerignore": "secret\n", "app.Dockerfile": "FROM scratch"},
		dockerfile: "app.Dockerfile",
		excluded:   []string{"secret", "secret/key"},
		included:   []string{"app.Dockerfile"},
	}, {
		name:     "empty ignore file",
		files:    map[string]string{".dockerignore": "\n# nothing\n"},
		included: []string{"a", "b/c"},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFiles(t, dir, tc.files)
			df := ""
			if tc.dockerfile != "" {
				df = filepath.Join(dir, tc.dockerfile)
			}
			c, err := Open(dir, df)
			if err != nil {
				t.Fatal(err)
			}
			if c.Dir != dir {
				t.Errorf("Dir = %s, want %s", c.Dir, dir)
			}
			for _, p := range tc.excluded {
				if !c.Excluded(p) {
					t.Errorf("Excluded(%q) = false, want true", p)
				}
			}
			for _, p := range tc.included {
				if c.Excluded(p) {
					t.Errorf("Excluded(%q) = true, want false", p)
				}
			}
			if got := c.HasExceptions(); got != tc.exceptions {
				t.Errorf("HasExceptions() = %v, want %v", got, tc.exceptions)
			}
		})
	}
}

func TestOpenForms(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{".dockerignore": "x\n", "sub/.dockerignore": "y\n"})
	t.Chdir(dir)
	for _, tc := range []struct{ src, want string }{
		{".", dir},
		{"dir://.", dir},
		{"dir://" + dir, dir},
		{"sub", filepath.Join(dir, "sub")},
		{"dir://sub/", filepath.Join(dir, "sub")},
	} {
		c, err := Open(tc.src, "")
		if err != nil {
			t.Errorf("Open(%q): %v", tc.src, err)
			continue
		}
		if c.Dir != tc.want {
			t.Errorf("Open(%q).Dir = %s, want %s (absolute)", tc.src, c.Dir, tc.want)
		}
	}
	// With no Dockerfile path, ".dockerignore" in the working directory is
	// not taken for the Dockerfile's own ignore file: sub's own applies.
	c, err := Open("sub", "")
	if err != nil {
		t.Fatal(err)
	}
	if c.Excluded("x") || !c.Excluded("y") {
		t.Errorf("Open(sub): Excluded(x) = %v, Excluded(y) = %v; want false, true (sub/.dockerignore only)", c.Excluded("x"), c.Excluded("y"))
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"file": "", "ignoredir/.dockerignore/": "", "bad/Dockerfile.dockerignore/": ""})
	for _, tc := range []struct {
		name, src, dockerfile, want string
	}{
		{"missing", filepath.Join(dir, "missing"), "", "no such file"},
		{"a file", filepath.Join(dir, "file"), "", "is not a directory"},
		{"unreadable .dockerignore", filepath.Join(dir, "ignoredir"), "", "reading " + filepath.Join(dir, "ignoredir", ".dockerignore")},
		{"unreadable <dockerfile>.dockerignore", dir, filepath.Join(dir, "bad", "Dockerfile"), "reading " + filepath.Join(dir, "bad", "Dockerfile.dockerignore")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Open(tc.src, tc.dockerfile)
			if err == nil {
				t.Fatalf("Open = %+v, want an error", c)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not say %q", err, tc.want)
			}
		})
	}
}

// Excluded is called from the copy walkers at once: the race detector
// checks the matcher's lazy compiling is serialised.
func TestExcludedConcurrent(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{".dockerignore": "**/*.o\n!keep.o\nvendor\n"})
	c, err := Open(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var wrong atomic.Int64
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 50 {
				if !c.Excluded("a/b.o") || c.Excluded("keep.o") || ((i+j)%2 == 0 && !c.Excluded("vendor/x")) {
					wrong.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if n := wrong.Load(); n > 0 {
		t.Errorf("%d concurrent rounds of Excluded gave a wrong answer", n)
	}
}
