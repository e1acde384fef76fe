package tekton

import (
	"fmt"
	"strings"
	"testing"

	"github.com/kaniko-build/kaniko-build/catalog"

	corev1 "k8s.io/api/core/v1"
)

// checkNonRoot fails unless every step of pod runs as catalog.NonRootUID
// (the build step reads and deletes what the copy step wrote, 0600) and
// step build has a TMPDIR on an emptyDir of the pod: the executor image
// has no /tmp, and without root the executor cannot make one.
func checkNonRoot(t *testing.T, pod *corev1.Pod, build string) error {
	t.Helper()
	for _, c := range pod.Spec.Containers {
		if !strings.HasPrefix(c.Name, "step-") {
			continue
		}
		if sc := c.SecurityContext; sc == nil || sc.RunAsUser == nil || *sc.RunAsUser != catalog.NonRootUID {
			return fmt.Errorf("container %s does not run as user %d", c.Name, catalog.NonRootUID)
		}
	}
	c := stepContainer(t, pod, build)
	tmp := ""
	for _, e := range c.Env {
		if e.Name == "TMPDIR" {
			tmp = e.Value
		}
	}
	if tmp == "" {
		return fmt.Errorf("container %s sets no TMPDIR", c.Name)
	}
	for _, m := range c.VolumeMounts {
		if m.MountPath != tmp {
			continue
		}
		for _, v := range pod.Spec.Volumes {
			if v.Name == m.Name && v.EmptyDir != nil && !m.ReadOnly {
				return nil
			}
		}
		return fmt.Errorf("container %s mounts %s at TMPDIR %s, which is no writable emptyDir of the pod", c.Name, m.Name, tmp)
	}
	return fmt.Errorf("container %s mounts nothing at TMPDIR %s", c.Name, tmp)
}

// TestNonRootStepsShareAUserAndHaveAScratchDir checks the pods Tekton's
// pod builder makes of the non-root Task and of a Task using the non-root
// StepAction, and that the check catches a copy step of another user and
// a Task that lacks the StepAction's scratch volume.
func TestNonRootStepsShareAUserAndHaveAScratchDir(t *testing.T) {
	if err := checkNonRoot(t, taskRunPod(t, nil, NonRootTask(), SampleNonRootTaskRun()), stepName); err != nil {
		t.Errorf("%s: %v", NonRootName, err)
	}
	sa := taskRunPod(t, nil, SampleNonRootStepActionTask(), SampleNonRootStepActionTaskRun(), NonRootStepAction())
	if err := checkNonRoot(t, sa, "build"); err != nil {
		t.Errorf("%s StepAction: %v", NonRootName, err)
	}

	rootCopy := NonRootTask()
	rootCopy.Spec.Steps[0].SecurityContext = catalog.Root.SecurityContext()
	noVolume := SampleNonRootStepActionTask()
	noVolume.Spec.Volumes = nil
	for _, c := range []struct {
		name, step string
		pod        *corev1.Pod
	}{
		{"copy step as root", stepName, taskRunPod(t, nil, rootCopy, SampleNonRootTaskRun())},
		{"Task without the TMP_VOLUME", "build", taskRunPod(t, nil, noVolume, SampleNonRootStepActionTaskRun(), NonRootStepAction())},
		{"the root Task", stepName, taskRunPod(t, nil, Task(), SampleTaskRun())},
	} {
		if err := checkNonRoot(t, c.pod, c.step); err == nil {
			t.Errorf("%s: passed the check", c.name)
		} else {
			t.Logf("%s: caught: %v", c.name, err)
		}
	}
}
