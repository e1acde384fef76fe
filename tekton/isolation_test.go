package tekton

import (
	"context"
	"testing"

	v1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	"github.com/tektoncd/pipeline/pkg/workspace"
	corev1 "k8s.io/api/core/v1"

	"github.com/kaniko-build/kaniko-build/catalog"
)

// With the credentials workspace bound to a Secret, as Tekton mounts it:
// only the copy step has it; the build step has the copy, and an empty
// directory where the service account token would be.
func TestBuildStepNeverMountsTheCredentials(t *testing.T) {
	binds := []v1.WorkspaceBinding{
		{Name: WorkspaceSource, EmptyDir: &corev1.EmptyDirVolumeSource{}},
		{Name: WorkspaceDockerConfig, Secret: &corev1.SecretVolumeSource{SecretName: "registry-credentials"}},
	}
	steps, vols := mountsAsBound(t, Task(), binds)
	secretVol := vols[WorkspaceDockerConfig].Name
	copyStep, build := steps[0], steps[buildStep]
	if _, ok := copyStep[secretVol]; !ok {
		t.Errorf("the copy step lacks the credentials workspace: %v", copyStep)
	}
	if p, ok := build[secretVol]; ok {
		t.Errorf("the build step mounts the credentials workspace at %s", p)
	}
	if build[volumeCredentials] != copyStep[volumeCredentials] || build[volumeCredentials] == "" {
		t.Errorf("the build step does not read the copy: build %v, copy %v", build, copyStep)
	}
	if build[volumeNoToken] != catalog.ServiceAccountDir {
		t.Errorf("the service account token is not covered in the build step: %v", build)
	}
	if build[vols[WorkspaceSource].Name] == "" {
		t.Errorf("the build step lacks the source: %v", build)
	}
}

// The index Task keeps the same contract: the Secret in the copy step
// alone, the push step reading the copy.
func TestIndexStepNeverMountsTheCredentials(t *testing.T) {
	binds := []v1.WorkspaceBinding{
		{Name: WorkspaceDockerConfig, Secret: &corev1.SecretVolumeSource{SecretName: "registry-credentials"}},
	}
	steps, vols := mountsAsBound(t, IndexTask(), binds)
	secretVol := vols[WorkspaceDockerConfig].Name
	copyStep, push := steps[0], steps[indexStep]
	if _, ok := copyStep[secretVol]; !ok {
		t.Errorf("the copy step lacks the credentials workspace: %v", copyStep)
	}
	if p, ok := push[secretVol]; ok {
		t.Errorf("the push step mounts the credentials workspace at %s", p)
	}
	if push[volumeCredentials] != copyStep[volumeCredentials] || push[volumeCredentials] != catalog.DockerConfigDir {
		t.Errorf("the push step does not read the copy: push %v, copy %v", push, copyStep)
	}
}

// mountsAsBound applies binds to task's steps as Tekton mounts them and
// returns each step's mounts, volume name to path, and the volumes.
func mountsAsBound(t *testing.T, task *v1.Task, binds []v1.WorkspaceBinding) ([]map[string]string, map[string]corev1.Volume) {
	t.Helper()
	vols := workspace.CreateVolumes(binds)
	applied, err := workspace.Apply(context.Background(), task.Spec, binds, vols)
	if err != nil {
		t.Fatal(err)
	}
	steps, err := v1.MergeStepsWithStepTemplate(applied.StepTemplate, applied.Steps)
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]string
	for _, s := range steps {
		m := map[string]string{}
		for _, vm := range s.VolumeMounts {
			m[vm.Name] = vm.MountPath
		}
		out = append(out, m)
	}
	return out, vols
}
