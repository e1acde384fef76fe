package tekton

import (
	"github.com/kaniko-build/kaniko-build/catalog"

	v1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// SampleStepActionTask is a Task of the user's own that runs the StepAction
// as one of its steps and publishes its step results as Task results.
func SampleStepActionTask() *v1.Task {
	const step = "build"
	var results []v1.TaskResult
	for _, r := range taskResults() {
		r.Value = v1.NewStructuredValues(ref("steps." + step + ".results." + r.Name))
		results = append(results, r)
	}
	return &v1.Task{
		TypeMeta:   typeMeta("Task"),
		ObjectMeta: metav1.ObjectMeta{Name: sampleStepTask},
		Spec: v1.TaskSpec{
			Description: "Runs the kaniko-build StepAction on the source workspace.",
			Params:      v1.ParamSpecs{str(ParamImage, "Where to push the image.", nil)},
			Workspaces: []v1.WorkspaceDeclaration{
				{Name: WorkspaceSource},
				// Mounted where the executor looks by default, so the
				// StepAction's DOCKER_CONFIG default fits bound or not.
				{Name: WorkspaceDockerConfig, MountPath: catalog.DockerConfigDir, ReadOnly: true, Optional: true},
			},
			Results: results,
			Steps: []v1.Step{{
				Name: step,
				Ref:  &v1.Ref{Name: Name},
				Params: v1.Params{
					strParam(ParamImage, param(ParamImage)),
					strParam(ParamSourcePath, ref("workspaces."+WorkspaceSource+".path")),
				},
			}},
		},
	}
}

// SampleStepActionTaskRun runs SampleStepActionTask.
func SampleStepActionTaskRun() *v1.TaskRun {
	tr := SampleTaskRun()
	tr.GenerateName = sampleStepTask + "-run-"
	tr.Spec.TaskRef = &v1.TaskRef{Name: sampleStepTask}
	tr.Spec.Params = v1.Params{strParam(ParamImage, sampleRegistry+"/app:latest")}
	return tr
}

// SampleIndexStepActionTask is a Task of the user's own that runs the
// index StepAction and publishes its step results as Task results.
func SampleIndexStepActionTask() *v1.Task {
	const step = "index"
	var results []v1.TaskResult
	for _, r := range indexResults() {
		r.Value = v1.NewStructuredValues(ref("steps." + step + ".results." + r.Name))
		results = append(results, r)
	}
	return &v1.Task{
		TypeMeta:   typeMeta("Task"),
		ObjectMeta: metav1.ObjectMeta{Name: sampleIndexStepTask},
		Spec: v1.TaskSpec{
			Description: "Runs the kaniko-build-index StepAction.",
			Params: v1.ParamSpecs{
				str(ParamImage, "Where to push the image index.", nil),
				arrRequired(ParamImages, "The images to join, each REF@DIGEST."),
			},
			Workspaces: []v1.WorkspaceDeclaration{
				{Name: WorkspaceDockerConfig, MountPath: catalog.DockerConfigDir, ReadOnly: true, Optional: true},
			},
			Results: results,
			Steps: []v1.Step{{
				Name: step,
				Ref:  &v1.Ref{Name: IndexName},
				Params: v1.Params{
					strParam(ParamImage, param(ParamImage)),
					strParam(ParamImages, arrayParam(ParamImages)),
				},
			}},
		},
	}
}

// SampleIndexStepActionTaskRun runs SampleIndexStepActionTask.
func SampleIndexStepActionTaskRun() *v1.TaskRun {
	tr := SampleIndexTaskRun()
	tr.GenerateName = sampleIndexStepTask + "-run-"
	tr.Spec.TaskRef = &v1.TaskRef{Name: sampleIndexStepTask}
	return tr
}
