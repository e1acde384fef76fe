package tekton

import (
	"github.com/kaniko-build/kaniko-build/catalog"

	v1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// SampleStepActionTask is a Task of the user's own that runs the StepAction
// as one of its steps and publishes its step results as Task results.
func SampleStepActionTask() *v1.Task { return sampleStepActionTask(catalog.Root) }

// SampleNonRootStepActionTask is SampleStepActionTask with the non-root
// StepAction, and the emptyDir volume it takes as its scratch directory.
func SampleNonRootStepActionTask() *v1.Task { return sampleStepActionTask(catalog.NonRoot) }

func sampleStepActionTask(u catalog.User) *v1.Task {
	const step = "build"
	var results []v1.TaskResult
	for _, r := range taskResults() {
		r.Value = v1.NewStructuredValues(ref("steps." + step + ".results." + r.Name))
		results = append(results, r)
	}
	var volumes []corev1.Volume
	if u == catalog.NonRoot {
		// The StepAction's TMP_VOLUME default.
		volumes = []corev1.Volume{{Name: volumeTemp, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
	}
	return &v1.Task{
		TypeMeta:   typeMeta("Task"),
		ObjectMeta: metav1.ObjectMeta{Name: sampleStepTaskName(u)},
		Spec: v1.TaskSpec{
			Description: "Runs the " + Name + u.Suffix() + " StepAction on the source workspace.",
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
				Ref:  &v1.Ref{Name: Name + u.Suffix()},
				Params: v1.Params{
					strParam(ParamImage, param(ParamImage)),
					strParam(ParamSourcePath, ref("workspaces."+WorkspaceSource+".path")),
				},
			}},
			Volumes: volumes,
		},
	}
}

// sampleStepTaskName names the sample Task that runs u's StepAction.
func sampleStepTaskName(u catalog.User) string {
	return Name + u.Suffix() + "-with-stepaction"
}

// SampleStepActionTaskRun runs SampleStepActionTask.
func SampleStepActionTaskRun() *v1.TaskRun { return sampleStepActionTaskRun(catalog.Root) }

// SampleNonRootStepActionTaskRun runs SampleNonRootStepActionTask.
func SampleNonRootStepActionTaskRun() *v1.TaskRun { return sampleStepActionTaskRun(catalog.NonRoot) }

func sampleStepActionTaskRun(u catalog.User) *v1.TaskRun {
	tr := SampleTaskRun()
	tr.GenerateName = sampleStepTaskName(u) + "-run-"
	tr.Spec.TaskRef = &v1.TaskRef{Name: sampleStepTaskName(u)}
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
