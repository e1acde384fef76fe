//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/validate"

	"github.com/kaniko-build/kaniko-build/e2e/baseimage"
	"github.com/kaniko-build/kaniko-build/e2e/imagecmp"
)

// platformBases pushes the bases of the multi-platform tests: multiarch,
// the busybox base for linux/amd64 and linux/arm64 as one manifest list,
// and go, a Go toolchain for linux/amd64 made from this machine's.
func (h *harness) platformBases(ctx context.Context) error {
	idx, err := baseimage.MultiBusybox(baseimage.BusyboxArm64())
	if err != nil {
		return fmt.Errorf("making the multiarch base: %w", err)
	}
	ref := h.reg.Host + "/base/multiarch:latest"
	r, err := name.ParseReference(ref)
	if err != nil {
		return err
	}
	if err := remote.WriteIndex(r, idx, remote.WithContext(ctx)); err != nil {
		return fmt.Errorf("pushing %s: %w", ref, err)
	}
	h.bases["multiarch"] = ref

	goroot, err := exec.CommandContext(ctx, "go", "env", "GOROOT").Output()
	if err != nil {
		return fmt.Errorf("finding GOROOT: %w", err)
	}
	img, err := baseimage.Go(strings.TrimSpace(string(goroot)), "fmt", "runtime")
	if err != nil {
		return fmt.Errorf("making the go base: %w", err)
	}
	ref = h.reg.Host + "/base/go:latest"
	if err := baseimage.Push(ctx, img, ref); err != nil {
		return err
	}
	h.bases["go"] = ref
	return nil
}

// forPlatform is r built for platform, with its own name (the
// reference's key) and logs.
func forPlatform(t *testing.T, r *caseRun, platform string) *caseRun {
	t.Helper()
	c := *r.c
	c.Platform = platform
	arch := path.Base(platform)
	p := &caseRun{name: r.name + "-" + arch, src: r.src, ctx: r.ctx, logs: filepath.Join(r.logs, arch), c: &c}
	if err := os.MkdirAll(p.logs, 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestMultiPlatformBuild builds a Dockerfile for linux/amd64 and
// linux/arm64 with the executor image, each pushed by digest alone, and
// joins them with `executor index`. Its first stage cross-compiles a Go
// program on the build platform; its last runs it, and uname, on the
// target, arm64 through QEMU (e2e/qemu-binfmt.sh). The index must hold
// both, each config and RUN must name its platform, and each image must
// equal BuildKit's build for the platform.
func TestMultiPlatformBuild(t *testing.T) {
	h := suite
	needImage(t)
	ctx := context.Background()
	r := h.prepare(t, "platforms", "cross-go")
	repo := h.reg.Host + "/platforms/cross-go"
	machine := map[string]string{"amd64": "x86_64", "arm64": "aarch64"}
	digests := map[string]string{}
	for _, p := range []string{"linux/amd64", "linux/arm64"} {
		rp := forPlatform(t, r, p)
		c := &container{volumes: []string{rp.ctx + ":/workspace", rp.logs + ":/kaniko/out"}}
		c.args = append(rp.executorArgs("/workspace", path.Join, nil, repo), "--push-by-digest", "--digest-file", "/kaniko/out/digest")
		out, err := h.runContainer(ctx, c)
		os.WriteFile(filepath.Join(rp.logs, "executor.log"), []byte(out), 0o644)
		if err != nil {
			t.Fatalf("building %s: %v\n%s", p, err, tail(out, 4000))
		}
		d, err := os.ReadFile(filepath.Join(rp.logs, "digest"))
		if err != nil {
			t.Fatal(err)
		}
		ref := repo + "@" + string(d)
		digests[path.Base(p)] = string(d)
		our, err := load(ctx, ref)
		if err != nil {
			t.Fatal(err)
		}
		arch := path.Base(p)
		want := map[string]string{"/uname": machine[arch] + "\n", "/hello": p + "\n", "/platforms": "linux/amd64 " + p + "\n", "/count": "1\n"}
		for f, w := range want {
			if got := our.fs[f]; got == nil || string(got.Content) != w {
				t.Errorf("%s: %s is %s, want %q", p, f, imagecmp.Describe(got), w)
			}
		}
		if cfg := our.cmp.Config; cfg.Architecture != arch || cfg.OS != "linux" {
			t.Errorf("%s: the config says %s/%s", p, cfg.OS, cfg.Architecture)
		}
		if !h.docker {
			h.count("")
			continue
		}
		bk, err := h.referenceBuilt(ctx, rp, refBuildKit)
		if err != nil {
			t.Fatal(err)
		}
		diffs, err := imagecmp.Compare(refBuildKit, bk.cmp, "ours", our.cmp, imagecmp.Options{
			Times: imagecmp.Times{IsBuildTime: h.isBuildTime},
		})
		if err != nil {
			t.Fatal(err)
		}
		report(t, p+": our image differs from BuildKit's", diffs)
		h.count(refBuildKit)
	}

	args := []string{"index", "--destination", repo + ":multi", "--digest-file", "/kaniko/out/index-digest"}
	for _, arch := range []string{"amd64", "arm64"} {
		args = append(args, "--image", repo+"@"+digests[arch])
	}
	out, err := h.runContainer(ctx, &container{args: args, volumes: []string{r.logs + ":/kaniko/out"}})
	if err != nil {
		t.Fatalf("executor index: %v\n%s", err, tail(out, 3000))
	}
	ir, err := name.ParseReference(repo + ":multi")
	if err != nil {
		t.Fatal(err)
	}
	idx, err := remote.Index(ir)
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Index(idx); err != nil {
		t.Fatal(err)
	}
	if d, err := os.ReadFile(filepath.Join(r.logs, "index-digest")); err != nil {
		t.Fatal(err)
	} else if got, _ := idx.Digest(); got.String() != string(d) {
		t.Errorf("the tag holds %s, the digest file says %s", got, d)
	}
	m, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, desc := range m.Manifests {
		if desc.Platform != nil {
			got[desc.Platform.OS+"/"+desc.Platform.Architecture] = desc.Digest.String()
		}
	}
	want := map[string]string{"linux/amd64": digests["amd64"], "linux/arm64": digests["arm64"]}
	if len(m.Manifests) != 2 || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("the index holds %v (%d manifests), want %v", got, len(m.Manifests), want)
	}
	// What a runtime on an arm64 node pulls.
	img, err := remote.Image(ir, remote.WithPlatform(v1.Platform{OS: "linux", Architecture: "arm64"}))
	if err != nil {
		t.Fatal(err)
	}
	if d, _ := img.Digest(); d.String() != digests["arm64"] {
		t.Errorf("an arm64 pull of the index gets %s, want %s", d, digests["arm64"])
	}
}
