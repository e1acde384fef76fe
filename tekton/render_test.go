package tekton

import (
	"slices"
	"strings"
	"testing"

	"github.com/tektoncd/pipeline/pkg/container"
)

// TestRenderedExecutorArguments substitutes the step the way Tekton's
// reconciler does (container.ApplyStepReplacements, with the values it
// computes for params, an unbound optional workspace and result paths)
// and checks the command line the executor receives.
func TestRenderedExecutorArguments(t *testing.T) {
	step := Task().Spec.Steps[buildStep]
	strs := map[string]string{
		"params.IMAGE":                 "registry.example.com/team/app:1",
		"params.DOCKERFILE":            "./app/Dockerfile",
		"params.CONTEXT":               "app",
		"params.BUILDER_IMAGE":         "ghcr.io/kaniko-build/executor:v0.1.0",
		"params.TARGET":                "",
		"params.CACHE":                 "false",
		"params.CACHE_REPO":            "",
		"params.SKIP_PUSH":             "false",
		"params.INSECURE_REGISTRY":     "",
		"params.PLATFORM":              "",
		"params.PUSH_BY_DIGEST":        "false",
		"workspaces.source.path":       "/workspace/source",
		"workspaces.cache.path":        "", // optional and unbound
		"results.IMAGE_DIGEST.path":    "/tekton/results/IMAGE_DIGEST",
		"results.IMAGE_URL.path":       "/tekton/results/IMAGE_URL",
		"results.IMAGES.path":          "/tekton/results/IMAGES",
		"workspaces.dockerconfig.path": "",
	}
	arrays := map[string][]string{
		"params.EXTRA_ARGS": {"--label=team=a", "--reproducible"},
		"params.BUILD_ARGS": {"BASE=registry.example.com/team/base:1@sha256:" + strings.Repeat("b", 64), "VERSION=1.2"},
	}
	container.ApplyStepReplacements(&step, strs, arrays)

	want := []string{
		"--consume-credentials",
		"--dockerfile=./app/Dockerfile",
		"--context=/workspace/source/app",
		"--destination=registry.example.com/team/app:1",
		"--digest-file=/tekton/results/IMAGE_DIGEST",
		"--image-url-file=/tekton/results/IMAGE_URL",
		"--images-file=/tekton/results/IMAGES",
		"--target=",
		"--cache=false",
		"--cache-repo=",
		"--cache-dir=",
		"--no-push=false",
		"--insecure-registry=",
		"--custom-platform=",
		"--push-by-digest=false",
		"--label=team=a",
		"--reproducible",
		"--",
		"BASE=registry.example.com/team/base:1@sha256:" + strings.Repeat("b", 64),
		"VERSION=1.2",
	}
	if !slices.Equal(step.Args, want) {
		t.Errorf("executor arguments:\n  %s\nwant:\n  %s", strings.Join(step.Args, "\n  "), strings.Join(want, "\n  "))
	}
	if step.WorkingDir != "/workspace/source" || step.Image != "ghcr.io/kaniko-build/executor:v0.1.0" {
		t.Errorf("workingDir %q, image %q", step.WorkingDir, step.Image)
	}

	// With no build arguments the command line ends in a bare "--".
	step = Task().Spec.Steps[buildStep]
	container.ApplyStepReplacements(&step, strs, map[string][]string{"params.EXTRA_ARGS": {}, "params.BUILD_ARGS": {}})
	if step.Args[len(step.Args)-1] != "--" {
		t.Errorf("with empty arrays the arguments end in %q, want --", step.Args[len(step.Args)-1])
	}
}
