package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/validate"
)

// TestDemo runs what `make demo` runs, from a fresh executor and hello
// binary, twice: the build works from this directory, whatever Dockerfile
// the working directory has, and --reproducible gives the same digest.
func TestDemo(t *testing.T) {
	bin := t.TempDir()
	executor := filepath.Join(bin, "executor")
	ctxDir := filepath.Join(t.TempDir(), "hello")
	if err := os.CopyFS(ctxDir, os.DirFS("../hello")); err != nil {
		t.Fatal(err)
	}
	for _, b := range [][]string{
		{"build", "-o", executor, "../../cmd/executor"},
		{"build", "-o", filepath.Join(ctxDir, "hello"), "../hello"},
	} {
		cmd := exec.Command("go", b...)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go %v: %v\n%s", b, err, out)
		}
	}
	// A decoy, as in the repository root: a relative default Dockerfile
	// is looked up in the working directory first.
	wd := t.TempDir()
	if err := os.WriteFile(filepath.Join(wd, "Dockerfile"), []byte("FROM example.invalid/nothing\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Chdir(wd)
	var digests []string
	for i := range 2 {
		lay := filepath.Join(t.TempDir(), "oci")
		_, d, err := run(executor, ctxDir, lay)
		if err != nil {
			t.Fatalf("run %d: %v", i, err)
		}
		p, err := layout.FromPath(lay)
		if err != nil {
			t.Fatal(err)
		}
		idx, err := p.ImageIndex()
		if err != nil {
			t.Fatal(err)
		}
		if err := validate.Index(idx); err != nil {
			t.Errorf("OCI layout: %v", err)
		}
		digests = append(digests, d)
	}
	if digests[0] != digests[1] {
		t.Errorf("--reproducible builds differ: %s and %s", digests[0], digests[1])
	}
}
