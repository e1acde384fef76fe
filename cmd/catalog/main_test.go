package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kaniko-build/kaniko-build/catalog"
	"github.com/kaniko-build/kaniko-build/tekton"

	v1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	"sigs.k8s.io/yaml"
)

// TestTreeIsUpToDate: the committed catalog, examples and README block are
// what `make catalog` writes.
func TestTreeIsUpToDate(t *testing.T) {
	if err := run("../..", "", true); err != nil {
		t.Fatal(err)
	}
}

// TestRenderReleaseElsewhere renders a release into a copy of the tree, as
// `make release RELEASE_OUT=dir` does, and checks what a user applies.
func TestRenderReleaseElsewhere(t *testing.T) {
	committed := catalog.Current()
	t.Cleanup(func() { catalog.Use(committed) })
	root := t.TempDir()
	copyInto(t, root, "README.md", "catalog", "examples")
	d := "@sha256:" + strings.Repeat("c", 64)
	r := catalog.Release{Version: "v9.9.9", Executor: "reg.example:5000/team/executor:v9.9.9" + d,
		Debug: "reg.example:5000/team/executor:v9.9.9-debug" + d, Warmer: "reg.example:5000/team/warmer:v9.9.9" + d}
	release := filepath.Join(root, "catalog/release.json")
	if err := os.WriteFile(release, r.JSON(), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := run(root, release, false); err != nil {
		t.Fatal(err)
	}
	if err := run(root, release, true); err != nil {
		t.Errorf("a second run finds stale files: %v", err)
	}
	var task v1.Task
	if err := yaml.UnmarshalStrict(read(t, root, "catalog/task/kaniko-build/0.1/kaniko-build.yaml"), &task); err != nil {
		t.Fatal(err)
	}
	for _, p := range task.Spec.Params {
		if p.Name == tekton.ParamBuilderImage && (p.Default == nil || p.Default.StringVal != r.Executor) {
			t.Errorf("BUILDER_IMAGE defaults to %v, want %s", p.Default, r.Executor)
		}
	}
	for p, want := range map[string]string{
		"catalog/argo/kaniko-build/0.1.0/manifests.yaml": r.Executor,
		"catalog/task/kaniko-build/0.1/README.md":        "defaults to the released executor pinned by its index digest:\n`" + r.Executor,
		"examples/kubernetes/job.yaml":                   "image: " + r.Executor + "\n",
		"examples/jenkins/Jenkinsfile":                   "image: " + r.Debug + "\n",
		"README.md":                                      "| warmer | `" + r.Warmer + "` |",
	} {
		if !strings.Contains(string(read(t, root, p)), want) {
			t.Errorf("%s does not contain %q", p, want)
		}
	}
}

func read(t *testing.T, root, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, p))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// copyInto copies the repository's files and directories named into root.
func copyInto(t *testing.T, root string, names ...string) {
	t.Helper()
	for _, n := range names {
		src := filepath.Join("../..", n)
		err := filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel("../..", p)
			dst := filepath.Join(root, rel)
			if d.IsDir() {
				return os.MkdirAll(dst, 0o755)
			}
			if !d.Type().IsRegular() {
				return nil
			}
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			return os.WriteFile(dst, b, 0o644)
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}
