package tekton

import (
	"testing"

	"github.com/kaniko-build/kaniko-build/catalog"

	corev1 "k8s.io/api/core/v1"
)

// TestStepRunsUnderBaseline puts the Tasks' and the StepActions' steps
// into a pod, with the workspaces bound to the kinds of volume the README
// suggests, and evaluates it with the Pod Security admission library.
func TestStepRunsUnderBaseline(t *testing.T) {
	step := Task().Spec.Steps[buildStep]
	sa := StepAction().Spec
	index := IndexTask().Spec.Steps[indexStep]
	indexSA := IndexStepAction().Spec
	pod := corev1.PodSpec{
		Containers: []corev1.Container{{
			Name: step.Name, Image: catalog.BuilderImage(), Command: step.Command, Args: step.Args,
			Env: step.Env, SecurityContext: step.SecurityContext,
		}, {
			Name: "stepaction", Image: catalog.BuilderImage(), Command: sa.Command, Args: sa.Args,
			Env: sa.Env, SecurityContext: sa.SecurityContext,
		}, {
			Name: index.Name, Image: catalog.BuilderImage(), Command: index.Command, Args: index.Args,
			Env: index.Env, SecurityContext: index.SecurityContext,
		}, {
			Name: "index-stepaction", Image: catalog.BuilderImage(), Command: indexSA.Command, Args: indexSA.Args,
			Env: indexSA.Env, SecurityContext: indexSA.SecurityContext,
		}},
		Volumes: []corev1.Volume{
			{Name: "source", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "source"}}},
			{Name: "dockerconfig", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: sampleDockerSecret}}},
			{Name: "cache", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
		},
	}
	forbidden, err := catalog.PodSecurity("baseline", pod)
	if err != nil {
		t.Fatal(err)
	}
	if forbidden != "" {
		t.Errorf("the step is not admitted under PodSecurity baseline: %s", forbidden)
	}
	privileged := *pod.DeepCopy()
	yes := true
	privileged.Containers[0].SecurityContext.Privileged = &yes
	if forbidden, err := catalog.PodSecurity("baseline", privileged); err != nil || forbidden == "" {
		t.Errorf("baseline admitted a privileged copy of the step (err %v)", err)
	}
	// The README says it is not admitted under restricted (it runs as
	// root); keep that true.
	if forbidden, err := catalog.PodSecurity("restricted", pod); err != nil || forbidden == "" {
		t.Errorf("restricted admitted the step (err %v); update the README's Security section", err)
	}
}
