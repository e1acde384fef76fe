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
	ctx := context.Background()
	ts := Task().Spec
	binds := []v1.WorkspaceBinding{
		{Name: WorkspaceSource, EmptyDir: &corev1.EmptyDirVolumeSource{}},
		{Name: WorkspaceDockerConfig, Secret: &corev1.SecretVolumeSource{SecretName: "registry-credentials"}},
	}
	vols := workspace.CreateVolumes(binds)
	applied, err := workspace.Apply(ctx, ts, binds, vols)
	if err != nil {
		t.Fatal(err)
	}
	steps, err := v1.MergeStepsWithStepTemplate(applied.StepTemplate, applied.Steps)
	if err != nil {
		t.Fatal(err)
	}
	secretVol := vols[WorkspaceDockerConfig].Name
	mounts := func(s v1.Step) map[string]string {
		m := map[string]string{}
		for _, vm := range s.VolumeMounts {
			m[vm.Name] = vm.MountPath
		}
		return m
	}
	copyStep, build := mounts(steps[0]), mounts(steps[buildStep])
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
