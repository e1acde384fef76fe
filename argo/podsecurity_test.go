package argo

import (
	"testing"

	"github.com/kaniko-build/kaniko-build/catalog"

	corev1 "k8s.io/api/core/v1"
)

// TestTemplatesRunUnderBaseline evaluates each build template's container
// and volumes with the Pod Security admission library.
func TestTemplatesRunUnderBaseline(t *testing.T) {
	for _, tmpl := range WorkflowTemplate().Spec.Templates {
		c := *tmpl.Container
		c.Name, c.Image = "main", catalog.BuilderImage()
		pod := corev1.PodSpec{Containers: []corev1.Container{c}, Volumes: tmpl.Volumes}
		if tmpl.Name == TemplateBuildFromVolume {
			pod.Volumes = append(pod.Volumes, corev1.Volume{Name: VolumeWorkspace, VolumeSource: corev1.VolumeSource{
				PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "workspace"},
			}})
		}
		forbidden, err := catalog.PodSecurity("baseline", pod)
		if err != nil {
			t.Fatal(err)
		}
		if forbidden != "" {
			t.Errorf("template %s is not admitted under PodSecurity baseline: %s", tmpl.Name, forbidden)
		}
		if forbidden, err := catalog.PodSecurity("restricted", pod); err != nil || forbidden == "" {
			t.Errorf("restricted admitted template %s (err %v); update the README's Security section", tmpl.Name, err)
		}
	}
}
