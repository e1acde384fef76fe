//go:build e2e

package main

import (
	"archive/tar"
	"bytes"
	"debug/elf"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/google/go-containerregistry/pkg/v1/validate"
	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	"sigs.k8s.io/yaml"

	"github.com/kaniko-build/kaniko-build/catalog"
)

const version = "v0.0.0-e2e"

// TestMakeRelease runs `make release` as a user does, into a registry on
// 127.0.0.1 and with RELEASE_OUT, and checks what it pushed and rendered.
// It cross-compiles for two platforms and downloads Debian's arm64
// busybox once: hence the e2e tag (make e2e runs it).
func TestMakeRelease(t *testing.T) {
	if os.Getuid() != 0 {
		t.Fatal("make release needs root (apt-get for the arm64 busybox, the executor): run make e2e as root")
	}
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	reg := strings.TrimPrefix(srv.URL, "http://") + "/kb"
	out := t.TempDir()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	// Files that only the release writes: the tree must keep them as they are.
	untouched := []string{"catalog/release.json", "catalog/task/kaniko-build/0.1/kaniko-build.yaml", "examples/kubernetes/job.yaml"}
	before := readAll(t, root, untouched)

	t0 := time.Now()
	cmd := exec.Command("make", "release", "REGISTRY="+reg, "VERSION="+version, "RELEASE_OUT="+out)
	cmd.Dir = root
	logs, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("make release: %v\n%s", err, logs)
	}
	t.Logf("make release took %.1fs", time.Since(t0).Seconds())
	if after := readAll(t, root, untouched); !slices.Equal(before, after) {
		t.Errorf("make release with RELEASE_OUT changed the tree's %v", untouched)
	}

	b, err := os.ReadFile(filepath.Join(out, "catalog/release.json"))
	if err != nil {
		t.Fatal(err)
	}
	rel, err := catalog.ParseRelease(b)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []struct {
		tag, got string
		files    []string // executables in the image, for its platform
	}{
		{reg + "/executor:" + version, rel.Executor, []string{"kaniko/executor"}},
		{reg + "/executor:" + version + "-debug", rel.Debug, []string{"kaniko/executor", "kaniko/warmer", "busybox/busybox"}},
		{reg + "/warmer:" + version, rel.Warmer, []string{"kaniko/warmer"}},
	} {
		digest := checkIndex(t, want.tag, want.files)
		if want.got != want.tag+"@"+digest {
			t.Errorf("release.json names %s, the registry has %s@%s", want.got, want.tag, digest)
		}
	}

	// What a user applies: the rendered Task defaults to the pushed index.
	executor := reg + "/executor:" + version + "@" + headDigest(t, reg+"/executor:"+version)
	var task pipelinev1.Task
	if err := yaml.UnmarshalStrict(readFile(t, out, "catalog/task/kaniko-build/0.1/kaniko-build.yaml"), &task); err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(task.Spec.Params, func(p pipelinev1.ParamSpec) bool { return p.Name == "BUILDER_IMAGE" })
	if i < 0 || task.Spec.Params[i].Default == nil || task.Spec.Params[i].Default.StringVal != executor {
		t.Errorf("the rendered Task's BUILDER_IMAGE param is %+v, want the default %s", task.Spec.Params[i], executor)
	}
	for p, want := range map[string]string{
		"catalog/argo/kaniko-build/0.1.0/manifests.yaml": "value: " + executor + "\n",
		"examples/kubernetes/job.yaml":                   "image: " + executor + "\n",
		"examples/jenkins/Jenkinsfile":                   "image: " + rel.Debug + "\n",
		"README.md":                                      "`" + executor + "`",
	} {
		if !strings.Contains(string(readFile(t, out, p)), want) {
			t.Errorf("the rendered %s does not contain %q", p, want)
		}
	}
}

// checkIndex checks that tag is a valid OCI index of a linux/amd64 and a
// linux/arm64 image whose files are executables for that platform, and
// returns its digest.
func checkIndex(t *testing.T, tag string, files []string) string {
	t.Helper()
	ref, err := name.NewTag(tag)
	if err != nil {
		t.Fatal(err)
	}
	idx, err := remote.Index(ref)
	if err != nil {
		t.Fatalf("pulling %s: %v", tag, err)
	}
	if err := validate.Index(idx); err != nil {
		t.Errorf("%s: validate.Index: %v", tag, err)
	}
	m, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if m.MediaType != types.OCIImageIndex {
		t.Errorf("%s: media type %s, want %s", tag, m.MediaType, types.OCIImageIndex)
	}
	var platforms []string
	for _, desc := range m.Manifests {
		if desc.Platform == nil {
			t.Fatalf("%s: manifest %s has no platform", tag, desc.Digest)
		}
		platforms = append(platforms, desc.Platform.String())
		img, err := idx.Image(desc.Digest)
		if err != nil {
			t.Fatal(err)
		}
		cf, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		if cf.Platform().String() != desc.Platform.String() {
			t.Errorf("%s: the %s manifest's config is for %s", tag, desc.Platform, cf.Platform())
		}
		machine := map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}[desc.Platform.Architecture]
		for f, content := range extract(t, img, files) {
			e, err := elf.NewFile(bytes.NewReader(content))
			if err != nil {
				t.Errorf("%s %s: /%s is not an ELF file: %v", tag, desc.Platform, f, err)
				continue
			}
			if e.Machine != machine {
				t.Errorf("%s %s: /%s is for %s, want %s", tag, desc.Platform, f, e.Machine, machine)
			}
			if f == "kaniko/executor" && !bytes.Contains(content, []byte(version)) {
				t.Errorf("%s %s: /%s is not stamped with its version %s", tag, desc.Platform, f, version)
			}
		}
	}
	slices.Sort(platforms)
	if want := []string{"linux/amd64", "linux/arm64"}; !slices.Equal(platforms, want) {
		t.Errorf("%s: platforms %v, want %v", tag, platforms, want)
	}
	d, err := idx.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d.String()
}

// extract returns the contents of the named files of the flattened image;
// a missing one fails the test.
func extract(t *testing.T, img v1.Image, files []string) map[string][]byte {
	t.Helper()
	rc := mutate.Extract(img)
	defer rc.Close()
	found := map[string][]byte{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		p := strings.TrimPrefix(strings.TrimPrefix(h.Name, "./"), "/")
		if slices.Contains(files, p) && h.Typeflag == tar.TypeReg {
			if found[p], err = io.ReadAll(tr); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, f := range files {
		if _, ok := found[f]; !ok {
			t.Errorf("the image has no file /%s", f)
		}
	}
	return found
}

func headDigest(t *testing.T, tag string) string {
	t.Helper()
	ref, err := name.NewTag(tag)
	if err != nil {
		t.Fatal(err)
	}
	d, err := remote.Head(ref)
	if err != nil {
		t.Fatalf("HEAD %s: %v", tag, err)
	}
	return d.Digest.String()
}

func readFile(t *testing.T, root, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, p))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func readAll(t *testing.T, root string, paths []string) []string {
	t.Helper()
	var out []string
	for _, p := range paths {
		out = append(out, string(readFile(t, root, p)))
	}
	return out
}
