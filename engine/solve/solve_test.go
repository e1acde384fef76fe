package solve

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/kaniko-build/kaniko-build/engine/buildctx"
	"github.com/kaniko-build/kaniko-build/engine/plan"
	"github.com/kaniko-build/kaniko-build/engine/remote"
	"github.com/kaniko-build/kaniko-build/engine/run"
)

// testRegistry pulls with remote's options, one retry.
type testRegistry struct{ remote.Options }

func (r testRegistry) Pull(ctx context.Context, ref string, p v1.Platform) (v1.Image, error) {
	o := r.Options
	o.Platform = p
	return o.Pull(ctx, ref)
}

// testConfig plans dir's Dockerfile for this machine's platform, with no
// cache and nothing to upload.
func testConfig(t *testing.T, dir string) Config {
	t.Helper()
	df := filepath.Join(dir, "Dockerfile")
	text, err := os.ReadFile(df)
	if err != nil {
		t.Fatal(err)
	}
	f, err := plan.Parse("Dockerfile", text)
	if err != nil {
		t.Fatal(err)
	}
	here := v1.Platform{OS: runtime.GOOS, Architecture: runtime.GOARCH}
	p, err := plan.New(f, plan.Options{Platform: here, BuildPlatform: here})
	if err != nil {
		t.Fatal(err)
	}
	bc, err := buildctx.Open(dir, df)
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	return Config{
		Plan: p, Context: bc, Runner: run.Chroot{TempDir: tmp},
		Registry: testRegistry{remote.Options{Retries: 1}}, TempDir: tmp,
	}
}

// solve solves cfg and waits for what it left running.
func solve(t *testing.T, cfg Config) (v1.Image, error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := New(cfg)
	defer func() {
		cancel()
		s.Close()
	}()
	return s.Solve(ctx, cancel)
}
