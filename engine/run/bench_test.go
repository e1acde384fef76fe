package run

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// TestMain lets the Chroot benchmark re-execute the test binary as the
// sandbox's init.
func TestMain(m *testing.M) {
	Init()
	os.Exit(m.Run())
}

// BenchmarkDirectStart is what a RUN costs in in-container mode beyond its
// command: start, output, wait and the sweep of what it left running.
func BenchmarkDirectStart(b *testing.B) {
	s := Spec{Args: []string{"true"}, Env: []string{"PATH=/usr/bin:/bin"}, Dir: "/", Stdout: io.Discard, Stderr: io.Discard}
	d := Direct{TempDir: b.TempDir()}
	for b.Loop() {
		if err := d.Run(context.Background(), s); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkChrootStart is the same in a fresh root of a stage: the
// re-executed init, its namespaces, /proc, /dev, /sys and the /etc files
// mounted, the mount points made and removed again.
func BenchmarkChrootStart(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("needs root")
	}
	const busybox = "/bin/busybox" // static: runs alone in the root
	dt, err := os.ReadFile(busybox)
	if err != nil {
		b.Skipf("needs a static busybox: %v", err)
	}
	root := b.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "bin"), 0o755); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "bin", "busybox"), dt, 0o755); err != nil {
		b.Fatal(err)
	}
	s := Spec{Root: root, Args: []string{"/bin/busybox", "true"}, Stdout: io.Discard, Stderr: io.Discard}
	c := Chroot{TempDir: b.TempDir()}
	for b.Loop() {
		if err := c.Run(context.Background(), s); err != nil {
			b.Fatal(err)
		}
	}
}
