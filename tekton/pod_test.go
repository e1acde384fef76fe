package tekton

import (
	"testing"

	"github.com/tektoncd/pipeline/pkg/apis/pipeline"
	v1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	"github.com/tektoncd/pipeline/pkg/apis/pipeline/v1beta1"
	"github.com/tektoncd/pipeline/pkg/client/clientset/versioned/fake"
	podconvert "github.com/tektoncd/pipeline/pkg/pod"
	trresources "github.com/tektoncd/pipeline/pkg/reconciler/taskrun/resources"
	"github.com/tektoncd/pipeline/pkg/workspace"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// tektonImages stand for the images of Tekton's own containers; the pod
// builder only names them.
var tektonImages = pipeline.Images{
	EntrypointImage:        "ghcr.io/tektoncd/pipeline/entrypoint:v1.12.0",
	SidecarLogResultsImage: "ghcr.io/tektoncd/pipeline/sidecarlogresults:v1.12.0",
	NopImage:               "ghcr.io/tektoncd/pipeline/nop:v1.12.0",
	ShellImage:             "cgr.dev/chainguard/busybox",
	WorkingDirInitImage:    "ghcr.io/tektoncd/pipeline/workingdirinit:v1.12.0",
}

// taskRunPod is the pod Tekton's controller creates for tr running task
// with these feature flags, built as its TaskRun reconciler builds it: the
// step refs resolved against stepActions, then params, contexts, results
// and workspaces applied (applyParamsContextsResultsAndWorkspaces), then
// the workspaces mounted and the pod built (createPod), less the
// transformers that only set resources and affinity. The flags always
// disable creds-init, which would look the service account up through a
// Kubernetes client and only adds emptyDir and Secret volumes.
func taskRunPod(t *testing.T, flags map[string]string, task *v1.Task, tr *v1.TaskRun, stepActions ...*v1beta1.StepAction) *corev1.Pod {
	t.Helper()
	withFlags := map[string]string{"disable-creds-init": "true"}
	for k, v := range flags {
		withFlags[k] = v
	}
	ctx := webhookContextWith(t, withFlags)
	tr = tr.DeepCopy()
	tr.Name, tr.Namespace = "run", "ci"
	task = task.DeepCopy()
	task.SetDefaults(ctx)
	var objs []runtime.Object
	for _, sa := range stepActions {
		sa = sa.DeepCopy()
		sa.Namespace = tr.Namespace
		objs = append(objs, sa)
	}
	spec := task.Spec
	steps, err := trresources.GetStepActionsData(ctx, spec, tr, fake.NewSimpleClientset(objs...), nil, nil)
	if err != nil {
		t.Fatalf("resolving the step refs of %s: %v", task.Name, err)
	}
	spec.Steps = steps
	trresources.ApplyParametersToWorkspaceBindings(&spec, tr)
	vols := workspace.CreateVolumes(tr.Spec.Workspaces)
	ts := trresources.ApplyParameters(&spec, tr, spec.Params...)
	ts = trresources.ApplyContexts(ts, task.Name, tr)
	ts = trresources.ApplyResults(ts)
	ts = trresources.ApplyArtifacts(ts)
	ts = trresources.ApplyStepExitCodePath(ts)
	ts = trresources.ApplyWorkspaces(ctx, ts, ts.Workspaces, tr.Spec.Workspaces, vols)
	ts, err = workspace.Apply(ctx, *ts, tr.Spec.Workspaces, vols)
	if err != nil {
		t.Fatalf("mounting the workspaces of %s: %v", task.Name, err)
	}
	ts = trresources.ApplyCredentialsPath(ts, pipeline.CredsDir)
	b := podconvert.Builder{Images: tektonImages}
	pod, err := b.Build(ctx, tr, *ts)
	if err != nil {
		t.Fatalf("building the pod of %s: %v", task.Name, err)
	}
	return pod
}

// stepContainer is the container of the step named name.
func stepContainer(t *testing.T, pod *corev1.Pod, name string) corev1.Container {
	t.Helper()
	for _, c := range pod.Spec.Containers {
		if c.Name == "step-"+name {
			return c
		}
	}
	t.Fatalf("the pod has no step %s", name)
	return corev1.Container{}
}
