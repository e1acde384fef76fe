package tekton

import (
	"strings"
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

// setSecurityContext is the feature flag that gives Tekton's own
// containers a securityContext "restricted" admits.
var setSecurityContext = map[string]string{"set-security-context": "true"}

// TestTaskRunPodsUnderPodSecurity builds the pod of each kind of run with
// Tekton's pod builder and evaluates it with the Pod Security admission
// library: the non-root Task and StepAction and the index's are admitted
// under "restricted" once Tekton's own containers are (set-security-context),
// the root Task, with or without hostUsers: false, only under "baseline".
func TestTaskRunPodsUnderPodSecurity(t *testing.T) {
	for _, c := range []struct {
		name       string
		pod        *corev1.Pod
		restricted bool
		// refusedFor is a container restricted must name when it refuses.
		refusedFor string
	}{
		{"kaniko-build", taskRunPod(t, setSecurityContext, Task(), SampleTaskRun()), false, "step-" + stepName},
		{"kaniko-build with hostUsers: false", taskRunPod(t, setSecurityContext, Task(), SampleHostUsersTaskRun()), false, "step-" + stepName},
		{"kaniko-build StepAction", taskRunPod(t, setSecurityContext, SampleStepActionTask(), SampleStepActionTaskRun(), StepAction()), false, "step-build"},
		{"kaniko-build-nonroot", taskRunPod(t, setSecurityContext, NonRootTask(), SampleNonRootTaskRun()), true, ""},
		{"kaniko-build-nonroot StepAction", taskRunPod(t, setSecurityContext, SampleNonRootStepActionTask(), SampleNonRootStepActionTaskRun(), NonRootStepAction()), true, ""},
		{"kaniko-build-index", taskRunPod(t, setSecurityContext, IndexTask(), SampleIndexTaskRun()), true, ""},
		{"kaniko-build-index StepAction", taskRunPod(t, setSecurityContext, SampleIndexStepActionTask(), SampleIndexStepActionTaskRun(), IndexStepAction()), true, ""},
		// What the README asks set-security-context for.
		{"kaniko-build-nonroot without set-security-context", taskRunPod(t, nil, NonRootTask(), SampleNonRootTaskRun()), false, "prepare"},
	} {
		forbidden, err := catalog.PodSecurity("baseline", c.pod.Spec)
		if err != nil {
			t.Fatal(err)
		}
		if forbidden != "" {
			t.Errorf("%s: baseline refuses the pod: %s", c.name, forbidden)
		}
		forbidden, err = catalog.PodSecurity("restricted", c.pod.Spec)
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case c.restricted && forbidden != "":
			t.Errorf("%s: restricted refuses the pod: %s", c.name, forbidden)
		case !c.restricted && forbidden == "":
			t.Errorf("%s: restricted admits the pod; update the READMEs", c.name)
		case !c.restricted && !strings.Contains(forbidden, `"`+c.refusedFor+`"`):
			t.Errorf("%s: restricted refuses the pod, but not for container %s: %s", c.name, c.refusedFor, forbidden)
		}
	}
	pod := taskRunPod(t, nil, Task(), SampleHostUsersTaskRun())
	if pod.Spec.HostUsers == nil || *pod.Spec.HostUsers {
		t.Errorf("the pod of %s has hostUsers %v, want false", SampleHostUsersTaskRun().GenerateName, pod.Spec.HostUsers)
	}
	if pod := taskRunPod(t, nil, Task(), SampleTaskRun()); pod.Spec.HostUsers != nil {
		t.Errorf("the pod of %s sets hostUsers %v", SampleTaskRun().GenerateName, *pod.Spec.HostUsers)
	}
}
