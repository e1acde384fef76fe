package argo

import (
	"bytes"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/kaniko-build/kaniko-build/catalog"

	wfv1 "github.com/argoproj/argo-workflows/v3/pkg/apis/workflow/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	"sigs.k8s.io/yaml"
)

// templatePod is the pod of a container template as far as the template
// says: its init containers and main container, in the builder image, and
// its volumes, with build-from-volume's workspace as a claim. Argo adds
// its own init and wait containers, whose securityContext is the
// controller's (executor.securityContext in its ConfigMap).
func templatePod(tmpl wfv1.Template) corev1.PodSpec {
	var pod corev1.PodSpec
	for _, c := range tmpl.InitContainers {
		c := c.Container
		c.Image = catalog.BuilderImage()
		pod.InitContainers = append(pod.InitContainers, c)
	}
	c := *tmpl.Container
	c.Name, c.Image = "main", catalog.BuilderImage()
	pod.Containers = []corev1.Container{c}
	pod.Volumes = append(pod.Volumes, tmpl.Volumes...)
	if tmpl.Name == TemplateBuildFromVolume {
		pod.Volumes = append(pod.Volumes, corev1.Volume{Name: VolumeWorkspace, VolumeSource: corev1.VolumeSource{
			PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "workspace"},
		}})
	}
	return pod
}

// TestTemplatesUnderPodSecurity evaluates each template's pod with the Pod
// Security admission library: baseline admits every one, restricted only
// build-nonroot and index.
func TestTemplatesUnderPodSecurity(t *testing.T) {
	for _, tmpl := range WorkflowTemplate().Spec.Templates {
		pod := templatePod(tmpl)
		forbidden, err := catalog.PodSecurity("baseline", pod)
		if err != nil {
			t.Fatal(err)
		}
		if forbidden != "" {
			t.Errorf("template %s is not admitted under PodSecurity baseline: %s", tmpl.Name, forbidden)
		}
		forbidden, err = catalog.PodSecurity("restricted", pod)
		if err != nil {
			t.Fatal(err)
		}
		nonRoot := tmpl.Name == TemplateBuildNonRoot || tmpl.Name == TemplateIndex
		switch {
		case nonRoot && forbidden != "":
			t.Errorf("template %s is not admitted under PodSecurity restricted: %s", tmpl.Name, forbidden)
		case !nonRoot && forbidden == "":
			t.Errorf("restricted admitted template %s; update the README's Security section", tmpl.Name)
		}
	}
}

// checkNonRoot fails unless every container of pod runs as
// catalog.NonRootUID (the init container writes the credentials' copy
// 0600 for the main container) and the main container has a TMPDIR on an
// emptyDir (the image has no /tmp, and without root the executor cannot
// make one).
func checkNonRoot(pod corev1.PodSpec) error {
	for _, c := range append(pod.InitContainers, pod.Containers...) {
		if sc := c.SecurityContext; sc == nil || sc.RunAsUser == nil || *sc.RunAsUser != catalog.NonRootUID {
			return fmt.Errorf("container %s does not run as user %d", c.Name, catalog.NonRootUID)
		}
	}
	main := pod.Containers[0]
	tmp := ""
	for _, e := range main.Env {
		if e.Name == "TMPDIR" {
			tmp = e.Value
		}
	}
	for _, m := range main.VolumeMounts {
		for _, v := range pod.Volumes {
			if tmp != "" && m.MountPath == tmp && v.Name == m.Name && v.EmptyDir != nil && !m.ReadOnly {
				return nil
			}
		}
	}
	return fmt.Errorf("the main container has no TMPDIR (%q) on an emptyDir of the pod", tmp)
}

func TestNonRootTemplateSharesAUserAndHasAScratchDir(t *testing.T) {
	if err := checkNonRoot(templatePod(*WorkflowTemplate().GetTemplateByName(TemplateBuildNonRoot))); err != nil {
		t.Errorf("template %s: %v", TemplateBuildNonRoot, err)
	}
	rootInit := WorkflowTemplate().GetTemplateByName(TemplateBuildNonRoot)
	rootInit.InitContainers[0].SecurityContext = catalog.Root.SecurityContext()
	noVolume := WorkflowTemplate().GetTemplateByName(TemplateBuildNonRoot)
	noVolume.Volumes = noVolume.Volumes[:len(noVolume.Volumes)-1]
	for name, tmpl := range map[string]*wfv1.Template{
		"init container as root":             rootInit,
		"no volume for TMPDIR":               noVolume,
		"the root template " + TemplateBuild: WorkflowTemplate().GetTemplateByName(TemplateBuild),
	} {
		if err := checkNonRoot(templatePod(*tmpl)); err == nil {
			t.Errorf("%s: passed the check", name)
		} else {
			t.Logf("%s: caught: %v", name, err)
		}
	}
	// Argo would only fail the pod: the mount check catches it.
	if err := checkMounts(*noVolume, nil); err == nil {
		t.Error("build-nonroot without its TMPDIR volume passed the mount check")
	}
}

// applyPodSpecPatch does to a pod spec what Argo's controller does with a
// podSpecPatch (workflow/util.ApplyPodSpecPatch: YAML to JSON, then a
// strategic merge patch), but decodes the patch strictly: Argo's own
// check drops an unknown field, a misspelt hostUsers say, without a word.
func applyPodSpecPatch(spec corev1.PodSpec, patch string) (corev1.PodSpec, error) {
	patchJSON, err := yaml.YAMLToJSON([]byte(patch))
	if err != nil {
		return spec, err
	}
	dec := json.NewDecoder(bytes.NewReader(patchJSON))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&corev1.PodSpec{}); err != nil {
		return spec, err
	}
	specJSON, err := json.Marshal(spec)
	if err != nil {
		return spec, err
	}
	merged, err := strategicpatch.StrategicMergePatch(specJSON, patchJSON, corev1.PodSpec{})
	if err != nil {
		return spec, err
	}
	var out corev1.PodSpec
	return out, json.Unmarshal(merged, &out)
}

// TestHostUsersExamplePatchesThePod applies host-users.yaml's podSpecPatch
// to the pod of the build template it runs: hostUsers is false, baseline
// admits the pod and restricted still refuses it (the container keeps
// its capabilities), as the README says. A misspelt or mistyped patch is
// caught.
func TestHostUsersExamplePatchesThePod(t *testing.T) {
	p := parseGenerated(t)
	wf := p.workflows[examplesDir+"/host-users.yaml"]
	if wf == nil || wf.Spec.PodSpecPatch == "" {
		t.Fatalf("host-users.yaml has no podSpecPatch: %+v", wf)
	}
	var builds int
	for _, tmpl := range wf.Spec.Templates {
		for _, ref := range templateRefs(tmpl) {
			used, err := resolve(p, ref)
			if err != nil {
				t.Fatal(err)
			}
			builds++
			pod, err := applyPodSpecPatch(templatePod(used), wf.Spec.PodSpecPatch)
			if err != nil {
				t.Fatalf("applying %s: %v", wf.Spec.PodSpecPatch, err)
			}
			if pod.HostUsers == nil || *pod.HostUsers {
				t.Errorf("template %s patched: hostUsers %v, want false", used.Name, pod.HostUsers)
			}
			if forbidden, err := catalog.PodSecurity("baseline", pod); err != nil || forbidden != "" {
				t.Errorf("template %s with hostUsers: false is not admitted under baseline: %s %v", used.Name, forbidden, err)
			}
			if forbidden, err := catalog.PodSecurity("restricted", pod); err != nil || forbidden == "" {
				t.Errorf("restricted admitted template %s with hostUsers: false (err %v); update the README", used.Name, err)
			}
		}
	}
	if builds != 1 {
		t.Errorf("host-users.yaml runs %d catalog templates, want the build", builds)
	}
	for _, bad := range []string{`{"hostUser": false}`, `{"hostUsers": "false"}`, `hostUsers: [false]`} {
		if _, err := applyPodSpecPatch(corev1.PodSpec{}, bad); err == nil {
			t.Errorf("podSpecPatch %s applied", bad)
		}
	}
}
