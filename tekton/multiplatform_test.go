package tekton

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	v1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	prresources "github.com/tektoncd/pipeline/pkg/reconciler/pipelinerun/resources"
	trresources "github.com/tektoncd/pipeline/pkg/reconciler/taskrun/resources"
	"github.com/tektoncd/pipeline/pkg/workspace"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"knative.dev/pkg/apis"
)

// indexStep is the index Task's step that pushes the index, after the one
// that copies the credentials.
const indexStep = 1

// renderStep substitutes step i of task for a TaskRun with params and
// binds, as Tekton's TaskRun reconciler does (params with the Task's
// defaults, workspaces, result paths), and fails on anything left.
func renderStep(t *testing.T, task *v1.Task, params v1.Params, binds []v1.WorkspaceBinding, i int) v1.Step {
	t.Helper()
	tr := &v1.TaskRun{Spec: v1.TaskRunSpec{Params: params, Workspaces: binds}}
	spec := task.Spec.DeepCopy()
	spec = trresources.ApplyParameters(spec, tr, spec.Params...)
	spec = trresources.ApplyWorkspaces(context.Background(), spec, spec.Workspaces, binds, workspace.CreateVolumes(binds))
	spec = trresources.ApplyResults(spec)
	step := spec.Steps[i]
	for _, a := range append(slices.Clone(step.Args), step.Image, step.WorkingDir) {
		if strings.Contains(a, "$(") {
			t.Errorf("%s step %s: left unsubstituted: %q", task.Name, step.Name, a)
		}
	}
	return step
}

// succeeded is a finished TaskRun of a PipelineTask with these results.
func succeeded(name string, results map[string]string) *v1.TaskRun {
	tr := &v1.TaskRun{ObjectMeta: metav1.ObjectMeta{Name: name}}
	tr.Status.SetCondition(&apis.Condition{Type: apis.ConditionSucceeded, Status: corev1.ConditionTrue})
	for _, r := range taskResults() {
		tr.Status.Results = append(tr.Status.Results, v1.TaskRunResult{
			Name: r.Name, Type: v1.ResultsTypeString, Value: *v1.NewStructuredValues(results[r.Name]),
		})
	}
	return tr
}

// TestMultiPlatformPipelineWiresMatrixToIndex takes the sample Pipeline
// through Tekton's own reconciler code: the PipelineRun's params applied,
// the matrix fanned out into one build per platform, each build's results
// (what the executor writes with --push-by-digest) gathered into the
// index's IMAGES, then the index's results into the Pipeline's.
func TestMultiPlatformPipelineWiresMatrixToIndex(t *testing.T) {
	pr := SampleMultiPlatformPipelineRun()
	spec, err := prresources.ApplyParameters(&SampleMultiPlatformPipeline().Spec, pr)
	if err != nil {
		t.Fatal(err)
	}
	tasks := map[string]*v1.PipelineTask{}
	for i := range spec.Tasks {
		tasks[spec.Tasks[i].Name] = &spec.Tasks[i]
	}
	build, index := tasks["build"], tasks["index"]
	if build == nil || index == nil || build.TaskRef.Name != Name || index.TaskRef.Name != IndexName {
		t.Fatalf("want a build task running %s and an index task running %s: %+v", Name, IndexName, spec.Tasks)
	}
	repo := sampleRegistry + "/app"
	binds := []v1.WorkspaceBinding{
		{Name: WorkspaceSource, EmptyDir: &corev1.EmptyDirVolumeSource{}},
		dockerSecretBinding(WorkspaceDockerConfig),
	}

	// One build per platform, each pushing to the repository by digest
	// and to nothing else, so that its IMAGES is one line.
	combos := build.Matrix.FanOut()
	if len(combos) != len(samplePlatforms) {
		t.Fatalf("the matrix fans out into %d builds, want one per platform of %v", len(combos), samplePlatforms)
	}
	var runs []*v1.TaskRun
	for i, combo := range combos {
		platform := samplePlatforms[i]
		step := renderStep(t, Task(), append(slices.Clone(build.Params), combo...), binds, buildStep)
		for _, want := range []string{"--custom-platform=" + platform, "--push-by-digest=true", "--destination=" + repo} {
			if !slices.Contains(step.Args, want) {
				t.Errorf("build for %s: arguments lack %q:\n  %s", platform, want, strings.Join(step.Args, "\n  "))
			}
		}
		if n := len(slices.DeleteFunc(slices.Clone(step.Args), func(a string) bool { return !strings.HasPrefix(a, "--destination") })); n != 1 {
			t.Errorf("build for %s: %d destinations, want 1", platform, n)
		}
		digest := "sha256:" + strings.Repeat(fmt.Sprint(i+1), 64)
		runs = append(runs, succeeded(fmt.Sprintf("run-build-%d", i), map[string]string{
			ResultImageDigest: digest, ResultImageURL: repo, ResultImages: repo + "@" + digest,
		}))
	}

	// Tekton gathers the builds' IMAGES into an array for the index.
	state := prresources.PipelineRunState{{PipelineTask: build, TaskRuns: runs}, {PipelineTask: index}}
	refs, _, err := prresources.ResolveResultRefs(state, state[1:])
	if err != nil {
		t.Fatal(err)
	}
	prresources.ApplyTaskResults(state[1:], refs)
	params := state[1].PipelineTask.Params
	var images *v1.ParamValue
	for i := range params {
		if params[i].Name == ParamImages {
			images = &params[i].Value
		}
	}
	want := []string{repo + "@" + runs[0].Status.Results[0].Value.StringVal, repo + "@" + runs[1].Status.Results[0].Value.StringVal}
	if images == nil || images.Type != v1.ParamTypeArray || !slices.Equal(images.ArrayVal, want) {
		t.Fatalf("the index's IMAGES: %+v, want the array %q", images, want)
	}

	// The index joins them under image:tag.
	step := renderStep(t, IndexTask(), params, binds[1:], indexStep)
	wantArgs := []string{
		"index",
		"--destination=" + repo + ":1.0",
		"--digest-file=/tekton/results/IMAGE_DIGEST",
		"--image-url-file=/tekton/results/IMAGE_URL",
		"--images-file=/tekton/results/IMAGES",
		"--image-format=oci",
		"--insecure-registry=",
		"--",
		want[0],
		want[1],
	}
	if !slices.Equal(step.Args, wantArgs) {
		t.Errorf("index arguments:\n  %s\nwant:\n  %s", strings.Join(step.Args, "\n  "), strings.Join(wantArgs, "\n  "))
	}

	// The Pipeline's results are the index's.
	indexDigest := "sha256:" + strings.Repeat("f", 64)
	indexRun := succeeded("run-index", map[string]string{
		ResultImageDigest: indexDigest, ResultImageURL: repo + ":1.0", ResultImages: repo + ":1.0@" + indexDigest,
	})
	results, err := prresources.ApplyTaskResultsToPipelineResults(spec.Results,
		map[string][]v1.TaskRunResult{"build": runs[0].Status.Results, "index": indexRun.Status.Results}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, r := range results {
		got[r.Name] = r.Value.StringVal
	}
	if got[ResultImageDigest] != indexDigest || got[ResultImageURL] != repo+":1.0" || len(got) != 2 {
		t.Errorf("Pipeline results %v, want the index's digest %s and URL %s:1.0", got, indexDigest, repo)
	}
}
